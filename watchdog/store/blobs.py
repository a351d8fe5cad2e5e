"""Content-addressed evidence blobs (docs/design.md §4 and §8: immutable, atomic writes).

A blob lives at `root/ab/cd/<sha256>` where `abcd` are the first hex digits of its SHA-256.
It is written to a temporary file in the same directory, fsynced, made read-only and renamed
into place, then the directory is fsynced: a crash leaves either no blob or a whole one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from watchdog.domain.errors import EvidenceMissing, StoreError
from watchdog.domain.models import EvidenceRefs
from watchdog.store.atomic import write_atomically
from watchdog.store.writes import WriteHealth, WriteKind

SHA256_RE = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"
READ_ONLY = 0o444
# `captcha`: a captcha image as the site served it, in an assisted session's record.
KINDS = frozenset(EvidenceRefs.model_fields) | {"captcha"}


class BlobStore:
    """SHA-256 addressed files under one root directory."""

    def __init__(self, root: Path, health: WriteHealth | None = None) -> None:
        self.root = root
        self.health = health or WriteHealth()  # failed writes count in the store's health

    def path(self, sha: str) -> Path:
        """Where the blob named `sha` lives (whether or not it exists)."""
        if not SHA256_RE.fullmatch(sha):
            raise ValueError(f"not a lowercase hex SHA-256: {sha!r}")
        return self.root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes, kind: str) -> str:
        """Store `data` once (an existing blob is never rewritten); return its SHA-256."""
        if kind not in KINDS:
            raise ValueError(f"unknown evidence kind {kind!r}; expected one of {sorted(KINDS)}")
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha)
        if final.exists():
            # Kept already: this evidence is not lost, so an earlier failure is over (with
            # de-duplicated pages, a new blob may not come for hours to say so).
            self.health.succeeded(WriteKind.EVIDENCE)
            _touch(final)
            return sha
        try:
            self._make_dirs(final.parent)
            self._write_atomically(final, data)
        except OSError as exc:
            error = f"cannot write {kind} evidence blob {sha} at {final}: {exc}"
            self.health.failed(WriteKind.EVIDENCE, error)
            raise StoreError(error) from exc
        self.health.succeeded(WriteKind.EVIDENCE)
        return sha

    def get(self, sha: str) -> bytes:
        """The blob's bytes; EvidenceMissing when absent."""
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError as exc:
            raise EvidenceMissing(f"evidence blob {sha} is missing from {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read evidence blob {sha}: {exc}") from exc

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def verify(self, sha: str) -> bool:
        """True when the blob exists and its content hashes to its name."""
        try:
            with self.path(sha).open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == sha
        except OSError:
            return False

    def __iter__(self) -> Iterator[str]:
        """Every blob name in the store, in sorted order (temporary files are skipped)."""
        if not self.root.is_dir():
            return
        for first in _sorted_dirs(self.root):
            for second in _sorted_dirs(first):
                for entry in sorted(second.iterdir()):
                    if (
                        SHA256_RE.fullmatch(entry.name)
                        and entry.name[:4] == first.name + second.name
                    ):
                        yield entry.name

    def temp_files(self) -> list[Path]:
        """Temporary files left behind by a crash in the middle of `put` (safe to delete)."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob(f"*/*/{TEMP_PREFIX}*"))

    def _make_dirs(self, directory: Path) -> None:
        """Create the fan-out directories, fsyncing each parent so the new entry persists."""
        missing = [d for d in (directory.parent, directory) if not d.is_dir()]
        self.root.mkdir(parents=True, exist_ok=True)
        for created in missing:
            created.mkdir(exist_ok=True)
            _fsync_dir(created.parent)

    def _write_atomically(self, final: Path, data: bytes) -> None:
        write_atomically(final, data, prefix=TEMP_PREFIX, mode=READ_ONLY)
        _fsync_dir(final.parent)


def _touch(path: Path) -> None:
    """Say that a blob is in use again: retention keeps a blob reused lately, which the
    observation about to be appended references (watchdog/store/retention.py). Only the
    access time is set (the status-change time follows); the modification time still says
    when the blob was written."""
    # Not ours to touch (another user's store): retention then keeps it by its reference.
    with contextlib.suppress(OSError):
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))


def _sorted_dirs(parent: Path) -> list[Path]:
    return sorted(
        p for p in parent.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{2}", p.name)
    )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
