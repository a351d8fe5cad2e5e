"""`watchdog verify BUNDLE.zip`: check an evidence bundle offline, without extracting it.

Unsafe archives are refused before anything is read: absolute paths, `..`, backslashes,
links or any non-regular entry, duplicates (zip-slip and friends). Then every file is
hashed against manifest.json and SHA256SUMS (which must agree), every evidence file
against its own name, every observation line against the chain, and the CSV is re-derived
from the observations. The report names the first mismatch.
"""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import layout
from .chains import ChainWalk

CHUNK = 1 << 20
MAX_SMALL_FILE = 64 << 20  # manifest.json and SHA256SUMS are read whole


@dataclass
class BundleCheck:
    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: bool = False
    files: int = 0
    observations: int = 0
    fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"Bundle {self.path}"]
        if self.refused:
            lines.append("REFUSED: unsafe archive, nothing was read or extracted.")
        else:
            lines.append(f"Checked {self.files} file(s) and {self.observations} observation(s).")
            if self.fingerprint:
                lines.append(f"Bundle fingerprint (SHA-256 of manifest.json): {self.fingerprint}")
        if self.ok:
            lines.append("OK: every file matches its SHA-256 and every chain links up.")
        else:
            lines.append(f"FAILED: {self.problems[0]}")
            lines.extend(f"  - {p}" for p in self.problems[1:])
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry must not be trusted (None when it is a plain relative file)."""
    name = info.filename
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return "an absolute or non-portable path"
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".", "") for part in name.split("/")) or not parts:
        return "a path that leaves or escapes the bundle"
    mode = info.external_attr >> 16
    if info.is_dir():
        return "a directory entry"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return kind
    return None


def verify_bundle(path: Path) -> BundleCheck:
    check = BundleCheck(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.problems.append(f"{path.name}: not a readable zip archive ({exc})")
        return check
    with archive:
        if _refuse_unsafe(archive, check):
            return check
        listed = _listed(archive, check)
        if listed is None:
            return check
        manifest, expected = listed
        _hash_members(archive, expected, check)
        walk = ChainWalk(archive, manifest, check.problems)
        walk.run()
        check.observations = walk.count
    return check


def _refuse_unsafe(archive: zipfile.ZipFile, check: BundleCheck) -> bool:
    seen: set[str] = set()
    for info in archive.infolist():
        reason = unsafe_reason(info)
        if reason is None and info.filename in seen:
            reason = "a duplicate entry"
        seen.add(info.filename)
        if reason is not None:
            check.problems.append(f"entry {info.filename!r} refused: {reason}")
    check.refused = bool(check.problems)
    return check.refused


def _read_small(archive: zipfile.ZipFile, name: str, check: BundleCheck) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        check.problems.append(f"{name}: missing from the bundle")
        return None
    if info.file_size > MAX_SMALL_FILE:
        check.problems.append(f"{name}: implausibly large ({info.file_size} bytes)")
        return None
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError) as exc:
        check.problems.append(f"{name}: corrupted in the archive ({exc})")
        return None


Listed = tuple[dict[str, Any], dict[str, tuple[str, int]]]


def _listed(archive: zipfile.ZipFile, check: BundleCheck) -> Listed | None:
    """The manifest, and its files and hashes cross-checked with SHA256SUMS."""
    sums_raw = _read_small(archive, layout.SUMS, check)
    manifest_raw = _read_small(archive, layout.MANIFEST, check)
    if sums_raw is None or manifest_raw is None:
        return None
    sums = _parse_sums(sums_raw, check)
    check.fingerprint = hashlib.sha256(manifest_raw).hexdigest()
    if sums.get(layout.MANIFEST) != check.fingerprint:
        check.problems.append(
            f"{layout.MANIFEST}: its SHA-256 {check.fingerprint} differs from the one in "
            f"{layout.SUMS} ({sums.get(layout.MANIFEST)})"
        )
    manifest = _parse_manifest(manifest_raw, check)
    if manifest is None:
        return None
    listed = {f["path"]: (f["sha256"], f["size"]) for f in manifest.get("files", [])}
    others = {p: s for p, s in sums.items() if p != layout.MANIFEST}
    for name in sorted(set(listed) | set(others)):
        if others.get(name) != listed.get(name, (None,))[0]:
            check.problems.append(
                f"{layout.SUMS}: the line for {name} disagrees with {layout.MANIFEST}"
            )
    check.notes.extend(
        f"evidence {sha} was missing from the store at export"
        for sha in manifest.get("missing_evidence", [])
    )
    return manifest, listed


def _parse_sums(raw: bytes, check: BundleCheck) -> dict[str, str]:
    sums: dict[str, str] = {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        check.problems.append(f"{layout.SUMS}: not UTF-8 text")
        return sums
    for number, line in enumerate(text.splitlines(), start=1):
        match = layout.SUM_LINE.match(line)
        if match is None:
            check.problems.append(f"{layout.SUMS}: line {number} is not '<sha256>  <path>'")
            continue
        sums[match.group(2)] = match.group(1)
    return sums


def _parse_manifest(raw: bytes, check: BundleCheck) -> dict[str, Any] | None:
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        check.problems.append(f"{layout.MANIFEST}: not valid JSON ({exc})")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") not in layout.COLUMNS_BY_FORMAT:
        check.problems.append(f"{layout.MANIFEST}: not a {layout.FORMAT} manifest")
        return None
    return manifest


def _hash_members(
    archive: zipfile.ZipFile, expected: dict[str, tuple[str, int]], check: BundleCheck
) -> None:
    present = {info.filename for info in archive.infolist()}
    for name in sorted(present - set(expected) - {layout.MANIFEST, layout.SUMS}):
        check.problems.append(f"{name}: not listed in {layout.MANIFEST} (added after export?)")
    for name, (sha, size) in sorted(expected.items()):
        if name not in present:
            check.problems.append(f"{name}: listed in {layout.MANIFEST} but missing")
            continue
        found, length = _digest(archive, name, check)
        check.files += 1
        if found is None:
            continue
        if found != sha or length != size:
            check.problems.append(
                f"{name}: SHA-256 {found} ({length} bytes) differs from the manifest's "
                f"{sha} ({size} bytes)"
            )
        evidence = layout.EVIDENCE_NAME.match(name)
        if evidence and evidence.group(1) != found:
            check.problems.append(f"{name}: its content does not hash to its name")


def _digest(archive: zipfile.ZipFile, name: str, check: BundleCheck) -> tuple[str | None, int]:
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as member:
            while chunk := member.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        check.problems.append(f"{name}: corrupted in the archive ({exc})")
        return None, size
    return digest.hexdigest(), size
