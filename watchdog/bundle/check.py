"""`watchdog verify BUNDLE.zip`: check an evidence bundle offline, without extracting it.

A bundle may be crafted, so unsafe archives are refused before any member is read
(watchdog/bundle/entries.py: zip-slip paths, links, duplicates, encrypted entries, other
compression methods, an oversized directory, zip bombs), manifest.json is parsed into bounded
strict models (manifest.py), a member is read only when its declared size is the manifest's,
and every read streams or is capped: memory stays bounded whatever the file holds. Then every
file is hashed against manifest.json and SHA256SUMS (which must agree), every evidence file
against its own name, every observation line against the chain, and the CSV is re-derived
from the observations. Each RFC 3161 token in horodatages/ must verify against the bundle's
ca-tsa.pem and cover its checkpoint body, and each line at a seq a timestamped checkpoint names
must be the observation it names. The report names the first mismatch; whatever zipfile raises
on crafted bytes is a problem line, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.store import checkpoint as checkpoints
from watchdog.store import timestamps

from . import layout
from .chains import ChainWalk
from .entries import directory_problem, size_problem, unsafe_reason
from .manifest import Manifest, parse_manifest

CHUNK = 1 << 20
MAX_SMALL_FILE = 64 << 20  # manifest.json and SHA256SUMS are read whole
MAX_SHOWN = 50  # problems printed; a crafted manifest can list a million missing files


@dataclass
class BundleCheck:
    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: bool = False
    files: int = 0
    observations: int = 0
    fingerprint: str | None = None
    timestamps: list[str] = field(default_factory=list)  # one line per valid token

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
            lines.extend(f"  - {p}" for p in self.problems[1:MAX_SHOWN])
            if len(self.problems) > MAX_SHOWN:
                lines.append(f"  … and {len(self.problems) - MAX_SHOWN} more problem(s)")
        lines.extend(self.timestamps)
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


def verify_bundle(path: Path) -> BundleCheck:
    """Check the bundle at `path`; every problem, however crafted the file, is in the result."""
    check = BundleCheck(path)
    try:
        _verify(path, check)
    except _UNREADABLE as exc:
        check.problems.append(f"{path.name}: unreadable archive ({_reason(exc)})")
    return check


# What zipfile, zlib and the JSON parser raise on crafted bytes: each is a verdict on the
# file, never a bug of ours, so each becomes a problem line (RecursionError included).
_UNREADABLE = (
    OSError, EOFError, ValueError, RuntimeError, OverflowError, zlib.error, struct.error,
    zipfile.BadZipFile, zipfile.LargeZipFile,
)  # fmt: skip


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _verify(path: Path, check: BundleCheck) -> None:
    if not path.is_file():
        check.problems.append(f"{path.name}: not a readable zip archive (not a regular file)")
        return
    with path.open("rb") as handle:
        reason = directory_problem(handle)
        if reason is not None:
            check.refused = True
            check.problems.append(f"{path.name} refused: {reason}")
            return
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            check.problems.append(f"{path.name}: not a readable zip archive ({exc})")
            return
        with archive:
            if _refuse_unsafe(archive, check, os.fstat(handle.fileno()).st_size):
                return
            _check_contents(archive, check)


def _check_contents(archive: zipfile.ZipFile, check: BundleCheck) -> None:
    listed = _listed(archive, check)
    if listed is None:
        return
    manifest, expected = listed
    _hash_members(archive, expected, check)
    heads = _checkpoint_heads(archive, expected, check)
    stamped = _timestamps(archive, expected, check)
    _unstamped(manifest, stamped, check)
    walk = ChainWalk(archive, manifest, check.problems, heads, stamped)
    walk.run()
    check.observations = walk.count


def _checkpoint_heads(
    archive: zipfile.ZipFile, expected: dict[str, tuple[str, int]], check: BundleCheck
) -> dict[str, tuple[int, str | None]]:
    """The heads the bundle's checkpoint names (none when it has no valid one)."""
    if layout.CHECKPOINT not in expected:
        return {}
    raw = _read_small(archive, layout.CHECKPOINT, check)
    if raw is None:
        return {}
    found = checkpoints.parse(raw)
    if isinstance(found, str):
        check.problems.append(f"{layout.CHECKPOINT}: not a valid checkpoint: {found}")
        return {}
    check.notes.append(
        f"{layout.CHECKPOINT}: the {found.summary()}; the lines at the seqs it names were "
        "checked against it (its HMAC signature needs the issuer's key: `watchdog verify` "
        "on the issuer's data directory)"
    )
    return dict(found.by_target())


MAX_TIMESTAMP_LINES = 30


def _timestamps(
    archive: zipfile.ZipFile, expected: dict[str, tuple[str, int]], check: BundleCheck
) -> dict[str, dict[int, str]]:
    """Check the bundle's tokens; return the (seq -> hash) each valid one pins, per target."""
    names = sorted({m.group(1) for n in expected if (m := layout.TIMESTAMP_NAME.match(n))})
    if not names:
        return {}
    roots = _tsa_roots(archive, expected, check)
    if roots is None:
        return {}
    tokens = []
    for name in names:
        body, reply = (
            _read_small(archive, f"{layout.TIMESTAMP_DIR}/{name}{suffix}", check)
            if f"{layout.TIMESTAMP_DIR}/{name}{suffix}" in expected
            else None
            for suffix in (".json", ".tsr")
        )
        tokens.append(timestamps.check_token(name, body, reply, roots))
    tokens = timestamps.ordered(tokens)
    valid = [t for t in tokens if t.problem is None and t.gen_time is not None]
    check.problems.extend(f"{layout.TIMESTAMP_DIR}/{t.problem}" for t in tokens if t.problem)
    check.notes.extend(f"{layout.TIMESTAMP_DIR}/{t.note}" for t in tokens if t.note)
    covered = timestamps.spans(valid)
    if valid:
        check.timestamps.append(
            f"{len(valid)} valid timestamp(s), checked against {layout.TSA_CA} "
            f"({timestamps.fingerprint(roots)}; compare it with the one the TSA publishes):"
        )
    check.timestamps.extend(
        "  " + timestamps.describe(t, covered[t.name]) for t in valid[-MAX_TIMESTAMP_LINES:]
    )
    pinned: dict[str, dict[int, str]] = {}
    for token in valid:
        for target, seq, digest in token.heads:
            pinned.setdefault(target, {})[seq] = digest
    return pinned


def _unstamped(manifest: Manifest, stamped: dict[str, dict[int, str]], check: BundleCheck) -> None:
    """Say which exported observations no timestamp of the bundle covers (when it has some)."""
    if not stamped:
        return
    for span in manifest.chains:
        covered = max(stamped.get(span.target, {0: ""}))
        if covered < span.last_seq:
            first = max(covered + 1, span.first_seq)
            seqs = f"{first}–{span.last_seq}" if first < span.last_seq else str(first)
            check.notes.append(
                f"{_short(span.target)} seq {seqs}: no timestamp in the bundle "
                "covers these observations (their time rests on the issuer's clock)"
            )


def _tsa_roots(
    archive: zipfile.ZipFile, expected: dict[str, tuple[str, int]], check: BundleCheck
) -> list[Any] | None:
    if layout.TSA_CA not in expected:
        check.problems.append(
            f"{layout.TIMESTAMP_DIR}: timestamps without {layout.TSA_CA}, the TSA certificate "
            "they are checked against"
        )
        return None
    raw = _read_small(archive, layout.TSA_CA, check)
    if raw is None:
        return None
    try:
        return timestamps.load_certificates(raw, layout.TSA_CA)
    except ValueError as exc:
        check.problems.append(str(exc))
        return None


def _refuse_unsafe(archive: zipfile.ZipFile, check: BundleCheck, size: int) -> bool:
    seen: set[str] = set()
    infos = archive.infolist()
    for info in infos:
        reason = unsafe_reason(info)
        if reason is None and info.filename in seen:
            reason = "a duplicate entry"
        seen.add(info.filename)
        if reason is not None:
            check.problems.append(f"entry {_short(info.filename)!r} refused: {reason}")
    if not check.problems:
        reason = size_problem(infos, size)
        if reason is not None:
            check.problems.append(f"{check.path.name} refused: {reason}")
    check.refused = bool(check.problems)
    return check.refused


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


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


Listed = tuple[Manifest, dict[str, tuple[str, int]]]
MAX_NOTES = 20


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
    manifest = parse_manifest(manifest_raw)
    if isinstance(manifest, str):
        check.problems.append(f"{layout.MANIFEST}: refused, {manifest}")
        return None
    listed: dict[str, tuple[str, int]] = {}
    for entry in manifest.files:
        if entry.path in listed:
            check.problems.append(f"{layout.MANIFEST}: {_short(entry.path)} is listed twice")
        listed[entry.path] = (entry.sha256, entry.size)
    targets = [span.target for span in manifest.chains]
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        check.problems.append(f"{layout.MANIFEST}: the chain of {_short(target)} is listed twice")
    others = {p: s for p, s in sums.items() if p != layout.MANIFEST}
    for name in sorted(set(listed) | set(others)):
        if others.get(name) != listed.get(name, (None,))[0]:
            check.problems.append(
                f"{layout.SUMS}: the line for {_short(name)} disagrees with {layout.MANIFEST}"
            )
    missing = manifest.missing_evidence
    check.notes.extend(f"evidence {sha} was missing from the store at export" for sha in
                       missing[:MAX_NOTES])  # fmt: skip
    if len(missing) > MAX_NOTES:
        check.notes.append(f"… and {len(missing) - MAX_NOTES} more evidence file(s) missing")
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


def _hash_members(
    archive: zipfile.ZipFile, expected: dict[str, tuple[str, int]], check: BundleCheck
) -> None:
    present = {info.filename for info in archive.infolist()}
    for name in sorted(present - set(expected) - {layout.MANIFEST, layout.SUMS}):
        check.problems.append(
            f"{_short(name)}: not listed in {layout.MANIFEST} (added after export?)"
        )
    for name, (sha, size) in sorted(expected.items()):
        if name not in present:
            check.problems.append(f"{_short(name)}: listed in {layout.MANIFEST} but missing")
            continue
        declared = archive.getinfo(name).file_size
        if declared != size:
            check.files += 1
            check.problems.append(
                f"{name}: the archive declares {declared} bytes, {layout.MANIFEST} {size} "
                "(not read)"
            )
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
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        check.problems.append(f"{name}: corrupted in the archive ({exc})")
        return None, size
    return digest.hexdigest(), size
