"""Visible text of an HTML document, computed the same way in probes and golden tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from watchdog.probe.markup import read

_INVISIBLE = frozenset({"script", "style", "template", "noscript", "head", "svg"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "main",
        "form",
        "fieldset",
        "legend",
        "label",
        "table",
        "ul",
        "ol",
        "button",
        "option",
        "center",
        "hr",
        "title",
    }
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u202f]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _INVISIBLE:
            self._hidden_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _INVISIBLE:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._hidden_depth == 0:
            self.parts.append(data)


def visible_lines(html: str) -> list[str]:
    """Non-empty lines of visible text, whitespace (including NBSP) collapsed."""
    parser = _TextExtractor()
    read(html, parser)
    text = "".join(parser.parts)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return [line for line in lines if line]


def page_title(html: str) -> str:
    parser = _TextExtractor()
    read(html, parser)
    return _SPACES.sub(" ", parser.title).strip()


def sentence_containing(lines: list[str], needle: str) -> str | None:
    """The visible line holding `needle` (case-insensitive): the exact message shown."""
    lowered = needle.lower()
    for line in lines:
        if lowered in line.lower():
            return line
    return None
