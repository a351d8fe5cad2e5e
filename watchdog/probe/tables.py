"""HTML tables as a person reads them: rows of cells with their visible text and classes.

Probes read calendars from the HTML the classifier gets (the same function runs on golden
files), so a table is parsed here rather than queried in the browser. Nested tables are kept
apart; rows remember whether they sit in `thead`, `tbody` or `tfoot`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from watchdog.probe.markup import read

_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_INVISIBLE = frozenset({"script", "style", "template", "noscript"})


@dataclass
class Cell:
    tag: str  # "td" or "th"
    classes: frozenset[str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return _SPACES.sub(" ", "".join(self.parts)).strip()


@dataclass
class Row:
    section: str  # "thead", "tbody", "tfoot" (rows outside any section count as "tbody")
    cells: list[Cell] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(cell.text for cell in self.cells if cell.text)


@dataclass
class Table:
    attrs: dict[str, str]
    rows: list[Row] = field(default_factory=list)

    @property
    def head(self) -> list[Row]:
        return [row for row in self.rows if row.section == "thead"] or self.rows[:1]

    @property
    def body(self) -> list[Row]:
        return [row for row in self.rows if row.section == "tbody" and row not in self.head]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self._open: list[tuple[Table, str]] = []  # (table, current section)
        self._cell: Cell | None = None
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden += 1
        elif tag == "table":
            table = Table({k: v or "" for k, v in attrs})
            self.tables.append(table)
            self._open.append((table, "tbody"))
            self._cell = None
        elif not self._open:
            return
        elif tag in ("thead", "tbody", "tfoot"):
            self._open[-1] = (self._open[-1][0], tag)
        elif tag == "tr":
            table, section = self._open[-1]
            table.rows.append(Row(section))
            self._cell = None
        elif tag in ("td", "th"):
            self._new_cell(tag, dict(attrs).get("class") or "")
        elif tag == "br" and self._cell is not None:
            self._cell.parts.append(" ")

    def _new_cell(self, tag: str, classes: str) -> None:
        table, section = self._open[-1]
        if not table.rows:
            table.rows.append(Row(section))
        self._cell = Cell(tag, frozenset(classes.split()))
        table.rows[-1].cells.append(self._cell)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "table" and self._open:
            self._open.pop()
            self._cell = None
        elif tag in ("td", "th"):
            self._cell = None
        elif tag in ("thead", "tfoot") and self._open:
            self._open[-1] = (self._open[-1][0], "tbody")

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._hidden == 0:
            self._cell.parts.append(data)


def tables(html: str) -> list[Table]:
    """Every table of `html`, outermost first, in document order."""
    parser = _Parser()
    read(html, parser)
    return parser.tables
