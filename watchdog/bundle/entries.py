"""Whether a bundle archive is safe to read, decided from its directory before any member is.

A bundle comes from someone else: it may be crafted. Python's zipfile trusts what it reads,
so these checks come first, from the end-of-central-directory record and the entries'
headers alone:

- the directory itself is bounded (MAX_DIRECTORY bytes, MAX_ENTRIES entries), since zipfile
  builds an object per entry;
- each entry is a plain relative file (no absolute path, `..`, backslash, drive, link,
  directory or duplicate: zip-slip and friends), not encrypted, stored or deflated (the only
  methods the exporter writes), with a stored entry's sizes equal;
- the content declared is bounded by the archive's size: members may not share compressed
  bytes (overlapping entries, the "better zip bomb"), and the whole may not inflate to more
  than MAX_RATIO times the archive (plus RATIO_SLACK). zipfile never inflates a member past its
  declared size, so the work of reading is bounded by what was checked here.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import PurePosixPath
from typing import BinaryIO

MAX_DIRECTORY = 64 << 20  # ~400,000 entries; the manifest listing them has the same cap
MAX_ENTRIES = 1_000_000
MAX_RATIO = 100  # the exporter's files inflate 1 (PNG) to ~15 (JSONL, HTML) times
RATIO_SLACK = 64 << 20  # a small bundle of very repetitive pages is not a bomb
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_EOCD_SIZE, _LOCATOR_SIZE, _ZIP64_EOCD_SIZE = 22, 20, 56
_MAX_COMMENT = 0xFFFF


def directory_problem(handle: BinaryIO) -> str | None:
    """Why the archive's central directory is too large to load (None when it is not)."""
    handle.seek(0, 2)
    size = handle.tell()
    span = min(size, _EOCD_SIZE + _MAX_COMMENT + _LOCATOR_SIZE)
    handle.seek(size - span)
    tail = handle.read(span)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return None  # not a zip: zipfile says so in its own words
    entries, directory = struct.unpack_from("<HI", tail, at + 10)
    if at >= _LOCATOR_SIZE and tail[at - _LOCATOR_SIZE : at - 16] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack_from("<Q", tail, at - _LOCATOR_SIZE + 8)
        handle.seek(min(offset, size))
        record = handle.read(_ZIP64_EOCD_SIZE)
        if len(record) == _ZIP64_EOCD_SIZE and record[:4] == _ZIP64_EOCD:
            entries, directory = struct.unpack_from("<QQ", record, 32)
    if directory > MAX_DIRECTORY or entries > MAX_ENTRIES:
        return (
            f"its directory declares {entries} entries in {directory} bytes, more than "
            f"{MAX_ENTRIES} entries or {MAX_DIRECTORY} bytes"
        )
    return None


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry must not be read (None when it is a plain relative file we can read)."""
    return _path_problem(info) or _type_problem(info) or _coding_problem(info)


def _path_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return "an absolute or non-portable path"
    if any(part in ("..", ".", "") for part in name.split("/")) or not PurePosixPath(name).parts:
        return "a path that leaves or escapes the bundle"
    return None


def _type_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if info.is_dir():
        return "a directory entry"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
    return None


def _coding_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "an encrypted entry"
    if info.compress_type not in METHODS:
        return f"compression method {info.compress_type}, not stored or deflated"
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        return (
            f"a stored entry of {info.compress_size} bytes declaring {info.file_size} bytes "
            "of content"
        )
    return None


def size_problem(infos: list[zipfile.ZipInfo], archive_size: int) -> str | None:
    """Why the declared content is implausible for an archive of `archive_size` bytes."""
    packed = sum(info.compress_size for info in infos)
    if packed > archive_size:
        return (
            f"its entries claim {packed} compressed bytes in a {archive_size}-byte file: "
            "they overlap (a zip bomb)"
        )
    declared = sum(info.file_size for info in infos)
    if declared <= MAX_RATIO * archive_size + RATIO_SLACK:
        return None
    worst = max(infos, key=lambda i: i.file_size / max(i.compress_size, 1))
    return (
        f"it declares {declared} bytes of content in {archive_size} bytes, more than "
        f"{MAX_RATIO} times its size (a zip bomb); {worst.filename!r} declares "
        f"{worst.file_size} bytes from {worst.compress_size}"
    )
