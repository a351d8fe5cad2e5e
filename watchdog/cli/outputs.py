"""Outputs a command writes (`--out`, standard output): checked early, failing in one line.

A report or a bundle can take minutes to compute; an output that cannot be written is
found before that work starts, and named with the reason the system gives.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from watchdog.domain.errors import WatchdogError

EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE (128 + 13)


def os_reason(exc: OSError) -> str:
    """`path: reason` for an OSError, without Python's `[Errno n]` noise."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def writable_dir(path: Path) -> Path:
    """Prove a file can be written in `path`, or in the folder that would hold it, leaving
    nothing behind: a command refused later (an empty period, say) creates no folder."""
    if path.exists() and not path.is_dir():
        raise WatchdogError(f"cannot write to {path}: not a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WatchdogError(f"cannot write to {path}: Not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise WatchdogError(f"cannot write to {path}: {exc.strerror or exc}") from exc
    return path


def writable_file(path: Path) -> Path:
    """Prove `path` can be created (its folder writable, not a directory itself)."""
    if path.is_dir():
        raise WatchdogError(f"cannot write {path}: it is a directory")
    writable_dir(path.parent if str(path.parent) else Path("."))
    return path


def stdout_closed() -> str:
    """After a BrokenPipeError on stdout: silence the flush at exit, return the line to print."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to silence
        pass
    return "standard output was closed before everything was written (broken pipe)"
