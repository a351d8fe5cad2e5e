"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from watchdog.domain.durations import format_duration
from watchdog.domain.target import Target


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def targets_table(targets: Sequence[Target]) -> str:
    rows = [
        (t.id, t.department, t.prefecture, t.procedure.value, t.platform,
         format_duration(t.interval), t.url)
        for t in targets
    ]  # fmt: skip
    headers = ("id", "dept", "prefecture", "procedure", "platform", "interval", "url")
    return table(headers, rows) if rows else "(no targets)"
