"""Evidence blobs: content-addressed, atomic, de-duplicated, read-only."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from watchdog.domain.errors import EvidenceMissing, StoreError
from watchdog.store import BlobStore


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "evidence")


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_is_content_addressed_with_fan_out(blobs: BlobStore) -> None:
    data = b"<html>Aucun creneau</html>"
    sha = blobs.put(data, "html")
    assert sha == hashlib.sha256(data).hexdigest()
    assert blobs.path(sha) == blobs.root / sha[:2] / sha[2:4] / sha
    assert blobs.get(sha) == data
    assert blobs.verify(sha)
    assert stat.S_IMODE(blobs.path(sha).stat().st_mode) == 0o444


def test_put_leaves_no_temporary_file(blobs: BlobStore) -> None:
    for n in range(20):
        blobs.put(b"screenshot %d" % n, "screenshot")
    names = [p.name for p in _all_files(blobs.root)]
    assert len(names) == 20
    assert not [n for n in names if n.startswith(".tmp")]
    assert blobs.temp_files() == []


def test_same_content_is_stored_once_and_never_rewritten(blobs: BlobStore) -> None:
    sha = blobs.put(b"same", "screenshot")
    before = blobs.path(sha).stat()
    assert blobs.put(b"same", "framed") == sha
    after = blobs.path(sha).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list(blobs) == [sha]


def test_iteration_lists_every_blob_sorted(blobs: BlobStore) -> None:
    shas = {blobs.put(bytes([n]) * 100, "har") for n in range(10)}
    (blobs.root / "README").write_text("not a blob")
    assert list(blobs) == sorted(shas)
    assert list(BlobStore(blobs.root / "absent")) == []


def test_a_failed_write_leaves_neither_blob_nor_temporary_file(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StoreError, match="No space left"):
        blobs.put(b"full disk", "trace")
    assert _all_files(blobs.root) == []


def test_altered_or_missing_blobs_fail_verification(blobs: BlobStore) -> None:
    sha = blobs.put(b"original bytes", "screenshot")
    path = blobs.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"originaL bytes")
    assert not blobs.verify(sha)
    path.unlink()
    assert not blobs.verify(sha)
    with pytest.raises(EvidenceMissing, match=sha):
        blobs.get(sha)


@pytest.mark.parametrize("name", ["../../etc/passwd", "ABC", "a" * 63, "A" * 64])
def test_only_sha256_names_are_paths(blobs: BlobStore, name: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        blobs.path(name)


def test_unknown_kinds_are_refused(blobs: BlobStore) -> None:
    with pytest.raises(ValueError, match="kind"):
        blobs.put(b"x", "video")
