"""One tokenization per page, replayed to each reader: the readings are `feed`'s."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from watchdog.probe.markup import events, read

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "golden").rglob("*.html"))
# What html.parser treats apart: unclosed tags at the end, script text, comments, entities,
# declarations, processing instructions, self-closing tags, CDATA sections.
EDGES = [
    "",
    "<",
    "<a href='x",
    "text &amp; more &nbsp",
    "<script>if (a<b) x='</p>'</script><p>after</p>",
    "<style>p{background:url(a.png)}</style",
    "<!-- a comment",
    "<!DOCTYPE html><![CDATA[raw]]><?pi data?>",
    "<p>é&eacute;&#233;</p><br/><img src=a.png /><input name=x value='&lt;'>",
    "<table><tr><td class=free>Libre</table",
]


class Recorder(HTMLParser):
    """Every callback a reader may implement, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.calls: list[tuple[object, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.calls.append(("start", tag, list(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.calls.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.calls.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.calls.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.calls.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.calls.append(("pi", data))

    def unknown_decl(self, data: str) -> None:
        self.calls.append(("unknown", data))


def fed(html: str) -> list[tuple[object, ...]]:
    reader = Recorder()
    reader.feed(html)
    reader.close()
    return reader.calls


def replayed(html: str) -> list[tuple[object, ...]]:
    reader = Recorder()
    read(html, reader)
    return reader.calls


@pytest.mark.parametrize("html", EDGES + [p.read_text("utf-8", "replace") for p in FIXTURES])
def test_a_reader_gets_the_calls_feed_gives_it(html: str) -> None:
    assert replayed(html) == fed(html)


def test_golden_pages_are_many_and_read() -> None:
    assert len(FIXTURES) >= 30
    assert all(fed(p.read_text("utf-8", "replace")) for p in FIXTURES)


def test_a_page_is_tokenized_once_for_its_readers() -> None:
    page = "<form id=f><input name=a></form><p>once</p>"
    before = events.cache_info().misses
    replayed(page)
    replayed(page)
    assert events.cache_info().misses == before + 1
