"""Atomic file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(final: Path, data: bytes, *, prefix: str, mode: int | None = None) -> None:
    """Write `data` to a temp file beside `final`, fsync it, then rename it over `final`.

    The temp file name starts with `prefix` so leftovers of a crash can be recognised.
    `mode` (e.g. read-only) is applied before the rename.
    """
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=prefix)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
