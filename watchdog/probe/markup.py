"""One tokenization per page, replayed to each reader of it (issue 20, item 2).

A request probe reads each page several times: its forms to submit the next step, its
visible lines and title for the classifier, its tables for a calendar, its references for a
later rendering. Every reader is an `HTMLParser` subclass, and tokenizing with the standard
library's `html.parser` is most of what a read costs (≈ 80 % on a booking page). `read`
hands a reader the calls that `html.parser` makes for the page, recorded once and kept for
the few pages in use: the same parser, the same calls in the same order, so every reading
is `reader.feed(html); reader.close()`'s by construction.
"""

from __future__ import annotations

from functools import lru_cache
from html.parser import HTMLParser

Attrs = list[tuple[str, str | None]]
# (handler name, its arguments): `HTMLParser`'s callbacks as the standard parser made them.
Event = tuple[str, tuple[object, ...]]
# Probes in flight each read a page within a few event-loop turns of loading it.
PAGES_KEPT = 128


class _Recorder(HTMLParser):
    """Notes each callback; convert_charrefs as every reader sets it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[Event] = []

    def updatepos(self, i: int, j: int) -> int:
        # Line and column bookkeeping (`getpos`) serves error messages only, which no
        # reader asks for; it is ≈ 15 % of tokenizing. The events do not depend on it.
        return j

    def handle_starttag(self, tag: str, attrs: Attrs) -> None:
        self.events.append(("handle_starttag", (tag, attrs)))

    def handle_startendtag(self, tag: str, attrs: Attrs) -> None:
        self.events.append(("handle_startendtag", (tag, attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("handle_endtag", (tag,)))

    def handle_data(self, data: str) -> None:
        self.events.append(("handle_data", (data,)))

    def handle_comment(self, data: str) -> None:
        self.events.append(("handle_comment", (data,)))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("handle_decl", (decl,)))

    def handle_pi(self, data: str) -> None:
        self.events.append(("handle_pi", (data,)))

    def unknown_decl(self, data: str) -> None:
        self.events.append(("unknown_decl", (data,)))


@lru_cache(maxsize=PAGES_KEPT)
def events(html: str) -> tuple[Event, ...]:
    """The callbacks `html.parser` makes for `html`, in order (attribute lists shared: a
    reader must not change them)."""
    recorder = _Recorder()
    recorder.feed(html)
    recorder.close()
    return tuple(recorder.events)


def read(html: str, reader: HTMLParser) -> None:
    """Give `reader` the calls `reader.feed(html); reader.close()` would (see the module
    docstring); `reader` must be built with convert_charrefs=True, as the recorder is."""
    for name, args in events(html):
        getattr(reader, name)(*args)
