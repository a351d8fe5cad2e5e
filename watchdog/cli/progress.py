"""Progress of a long command on a terminal (rich), and nothing anywhere else.

A command that reads a million observations tells a person at a terminal how far it is; in
a pipe, a log or a test it writes no bar and no escape code. The bar goes to standard error,
so standard output stays the command's data; it disappears when the work is done, leaving
the one-line summary the command prints.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Advance(Protocol):
    """Told how many items are done so far, and the total when it becomes known (a bundle
    learns how many evidence files it copies only once its observations are read)."""

    def __call__(self, done: int, total: int | None = None, /) -> None: ...


@contextmanager
def progress(
    description: str, total: int | None, stream: TextIO | None = None
) -> Iterator[Advance]:
    """A function to report progress with: a bar when `stream` (stderr) is a terminal."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield _nothing
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(file=out, force_terminal=True)
    # No redirection: standard output is the command's data (a CSV piped to a file), never
    # the terminal's.
    with Progress(
        *columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, total: int | None = None, /) -> None:
            if total is None:
                bar.update(task, completed=done)
            else:
                bar.update(task, completed=done, total=total)

        yield advance


def _nothing(_done: int, _total: int | None = None, /) -> None:
    """Not a terminal: say nothing."""
