"""Progress of a document being written, told in steps to whoever shows it (the CLI's bar).

A report or a dossier reports its statistics, then each format it writes (a report's PDF is
printed twice: the second pass numbers the contents)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Steps = Callable[[int, int], None]  # (steps done, steps in all)


def count_steps(formats: Sequence[str], pdf_passes: int = 2) -> int:
    """How many steps a document reports: its statistics, then each format written (a PDF
    once per pass)."""
    return 1 + sum(pdf_passes if fmt == "pdf" else 1 for fmt in formats)


def ticker(
    formats: Sequence[str], advance: Steps | None, pdf_passes: int = 2
) -> Callable[[], None]:
    """A step counter feeding `advance` (nothing when there is none)."""
    total = count_steps(formats, pdf_passes)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if advance is not None:
            advance(min(done, total), total)

    return tick
