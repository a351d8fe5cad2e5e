"""The observation part of a bundle check: hash chains, evidence references, derived CSV.

A page kept as skeleton + volatile record must rebuild (watchdog/evidence/volatile.py) to the bytes
its `html_sha256` names; that file's own hash is checked with every other file. An assisted
session's record (issue 16) must name its reads as the bundle holds them (`SessionReads`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from typing import Any

from watchdog.domain.models import ASSIST_CHAIN_SUFFIX, nested_blobs
from watchdog.evidence.volatile import VolatileRecord, join_bytes

from . import layout
from .manifest import Manifest

MAX_CHAIN_PROBLEMS = 20
MAX_PAGE = 64 << 20  # a skeleton or record read whole to rebuild a page
MAX_LINE = 16 << 20  # one observation; real ones are a few kB
READ_BUFFER = 1 << 20
# Reported by the hash pass (a corrupted deflate stream raises zlib.error, not BadZipFile).
_UNREADABLE = (zipfile.BadZipFile, OSError, EOFError, RuntimeError, zlib.error)


class ChainWalk:
    """Reads observations.jsonl once: each line's SHA-256 must be what the next line of the
    same target names as prev_hash, from the manifest's anchor to its head."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        manifest: Manifest,
        problems: list[str],
        heads: dict[str, tuple[int, str | None]] | None = None,
        stamped: dict[str, dict[int, str]] | None = None,
    ) -> None:
        self.archive = archive
        self.problems = problems
        self.chains = {span.target: span for span in manifest.chains}
        self.heads = heads or {}  # (seq, hash) a checkpoint names, per target
        self.stamped = stamped or {}  # seq -> hash that timestamped checkpoints name, per target
        self.missing = set(manifest.missing_evidence)
        self.names = set(archive.namelist())
        self.columns = manifest.columns
        self.csv = hashlib.sha256(layout.csv_header(self.columns))
        self.count = 0
        self.found = 0  # chain problems found (only the first MAX_CHAIN_PROBLEMS are listed)
        self.target: str | None = None
        self.seq = 0
        self.previous: str | None = None
        self.in_chain = 0
        self.seen: set[str] = set()
        self.sessions = SessionReads()

    def flag(self, problem: str) -> None:
        self.found += 1
        if self.found <= MAX_CHAIN_PROBLEMS:
            self.problems.append(problem)

    def run(self) -> None:
        try:
            self._lines()
        except KeyError:
            return  # already reported as missing
        except _UNREADABLE:
            return  # already reported as corrupted
        self._finish()
        for problem in self.sessions.problems():
            self.flag(problem)
        for target in sorted(set(self.chains) - self.seen, key=str):
            self.flag(f"{layout.JSONL}: the chain of {target} named in the manifest is absent")
        if self.found > MAX_CHAIN_PROBLEMS:
            self.problems.append(f"… and {self.found - MAX_CHAIN_PROBLEMS} more chain problem(s)")
        self._check_csv()

    def _lines(self) -> None:
        """Each line in turn, none longer than MAX_LINE: memory stays bounded."""
        with (
            self.archive.open(layout.JSONL) as member,
            io.BufferedReader(member, READ_BUFFER) as lines,  # type: ignore[type-var]
        ):
            number = 0
            while line := lines.readline(MAX_LINE + 1):
                number += 1
                if len(line) > MAX_LINE and not line.endswith(b"\n"):
                    self.flag(
                        f"{layout.JSONL} line {number}: longer than {MAX_LINE} bytes, "
                        "not an observation (not read further)"
                    )
                    return
                if not self._line(number, line.removesuffix(b"\n")):
                    return

    def _line(self, number: int, line: bytes) -> bool:
        where = f"{layout.JSONL} line {number}"
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            self.flag(f"{where}: not a JSON document")
            return False
        if not isinstance(doc, dict):
            self.flag(f"{where}: not a JSON object")
            return False
        digest = hashlib.sha256(line).hexdigest()
        target = doc.get("target")
        name = target if isinstance(target, str) else _short(target)
        if name != self.target and not self._start(name, where):
            return False
        ident = f"{where} ({_short(name)}, observation {_short(doc.get('id'))})"
        self._against_checkpoint(ident, digest)
        if doc.get("prev_hash") != self.previous:
            self.flag(
                f"{ident}: its prev_hash {_short(doc.get('prev_hash'))} does not name the previous "
                f"observation ({self.previous}): an observation was altered, removed or moved"
            )
        self._evidence(doc, ident)
        self.sessions.note(doc, digest, ident)
        self.csv.update(layout.csv_row(doc, self.seq, digest, self.columns))
        self.previous = digest
        self.seq += 1
        self.in_chain += 1
        self.count += 1
        return True

    def _start(self, target: str, where: str) -> bool:
        self._finish()
        if target in self.seen or target not in self.chains:
            self.flag(f"{where}: target {target} is not a chain of the manifest (or is split)")
            return False
        self.seen.add(target)
        span = self.chains[target]
        self.target, self.seq = target, span.first_seq
        self.previous, self.in_chain = span.anchor_prev_hash, 0
        return True

    def _against_checkpoint(self, ident: str, digest: str) -> None:
        """The line at the seq a checkpoint names must be the observation it names."""
        seq, expected = self.heads.get(str(self.target), (None, None))
        if seq == self.seq and digest != expected:
            self.flag(
                f"{ident}: its SHA-256 {digest} is not the hash the checkpoint names for "
                f"seq {seq} ({expected}): the chain was rewritten after the checkpoint"
            )
        stamped = self.stamped.get(str(self.target), {}).get(self.seq)
        if stamped is not None and digest != stamped:
            self.flag(
                f"{ident}: its SHA-256 {digest} is not the hash a timestamped checkpoint names "
                f"for seq {self.seq} ({stamped}): the chain was rewritten after the timestamp"
            )

    def _finish(self) -> None:
        if self.target is None:
            return
        span = self.chains[self.target]
        if self.in_chain != span.count or self.previous != span.head_hash:
            self.flag(
                f"{layout.JSONL}: the chain of {self.target} ends at {self.previous} after "
                f"{self.in_chain} observation(s); the manifest says {span.head_hash} "
                f"after {span.count}"
            )

    def _evidence(self, doc: dict[str, Any], ident: str) -> None:
        evidence = doc.get("evidence") or {}
        if not isinstance(evidence, dict):
            self.flag(f"{ident}: its evidence is not a JSON object")
            return
        for kind, sha in sorted(evidence.items()):
            if sha is None or sha in self.missing:
                continue
            if not isinstance(sha, str) or layout.evidence_name(sha, kind) not in self.names:
                self.flag(
                    f"{ident}: its {_short(kind)} evidence {_short(sha)} is not in the bundle"
                )
        for sha, kind, where in nested_blobs(doc):
            if sha not in self.missing and layout.evidence_name(sha, kind) not in self.names:
                self.flag(f"{ident}: its {where} {_short(sha)} is not in the bundle")
        self._page(evidence, ident)

    def _page(self, evidence: dict[str, Any], ident: str) -> None:
        skeleton, volatile = evidence.get("html"), evidence.get("html_volatile")
        page = evidence.get("html_sha256")
        names = [layout.evidence_name(str(sha), kind) for kind, sha in
                 (("html", skeleton), ("html_volatile", volatile))]  # fmt: skip
        if volatile is None or page is None or not all(n in self.names for n in names):
            return  # nothing cut, or a missing file already flagged
        try:
            parts = [self._read(name) for name in names]
            rebuilt = join_bytes(parts[0], VolatileRecord.from_json(parts[1]))
        except (ValueError, RecursionError, *_UNREADABLE) as exc:
            self.flag(f"{ident}: its page cannot be rebuilt from its skeleton and record ({exc})")
            return
        if hashlib.sha256(rebuilt).hexdigest() != page:
            self.flag(
                f"{ident}: its page rebuilt from its skeleton and volatile record does not "
                f"hash to its html_sha256 {page}"
            )

    def _read(self, name: str) -> bytes:
        if self.archive.getinfo(name).file_size > MAX_PAGE:
            raise ValueError(f"{name} is implausibly large")
        return self.archive.read(name)

    def _check_csv(self) -> None:
        if layout.CSV not in self.names:
            return
        digest = hashlib.sha256()
        try:
            with self.archive.open(layout.CSV) as table:
                while chunk := table.read(1 << 20):
                    digest.update(chunk)
        except _UNREADABLE:
            return
        if digest.hexdigest() != self.csv.hexdigest():
            self.problems.append(
                f"{layout.CSV}: does not match the observations (re-derived from {layout.JSONL})"
            )


class SessionReads:
    """Assisted sessions' records against the reads the bundle holds: a read a record names
    must be there with the hash it names, unless the bundle stops before the session ended
    (no observation of the journey started after its end); a read that names a session whose
    record is in the bundle must be in that record."""

    def __init__(self) -> None:
        self.reads: dict[str, tuple[str, str, str]] = {}  # id -> (hash, session, where)
        self.records: list[tuple[str, str, str, str, list[Any]]] = []
        self.latest: dict[str, str] = {}  # journey -> the latest started_at seen

    def note(self, doc: dict[str, Any], digest: str, ident: str) -> None:
        target, started = doc.get("target"), doc.get("started_at")
        if isinstance(target, str) and isinstance(started, str):
            self.latest[target] = max(self.latest.get(target, ""), started)
        env, assist = doc.get("env"), doc.get("assist")
        session = env.get("assisted_session") if isinstance(env, dict) else None
        if not isinstance(assist, dict):
            if isinstance(session, str):
                self.reads[str(doc.get("id"))] = (digest, session, ident)
            return
        journey = str(target).removesuffix(ASSIST_CHAIN_SUFFIX)
        reads = assist.get("reads")
        self.records.append((str(assist.get("session")), journey, str(doc.get("finished_at")),
                             ident, reads if isinstance(reads, list) else []))  # fmt: skip

    def problems(self) -> list[str]:
        found: list[str] = []
        listed: set[str] = set()
        for session, journey, ended, ident, reads in self.records:
            complete = self.latest.get(journey, "") > ended
            for read in reads:
                name = _short(read.get("id")) if isinstance(read, dict) else _short(read)
                listed.add(name)
                held = self.reads.get(name)
                digest = read.get("hash") if isinstance(read, dict) else None
                if held is None and complete:
                    found.append(
                        f"{ident}: assisted session {_short(session)} names read "
                        f"{name}, which is not in the bundle: a read was removed"
                    )
                elif held is not None and held[0] != digest:
                    found.append(f"{ident}: assisted session {_short(session)} names read "
                                 f"{name} with hash {_short(digest)}, but the bundle's is "
                                 f"{held[0]}")  # fmt: skip
        recorded = {record[0] for record in self.records}
        for name, (_digest, session, ident) in sorted(self.reads.items()):
            if session in recorded and name not in listed:
                found.append(f"{ident}: a read of assisted session {_short(session)} that its "
                             "record does not name")  # fmt: skip
        return found


def _short(value: object, limit: int = 120) -> str:
    """A value of a crafted line, cut short enough to print."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr)[: limit + 1]
    return text if len(text) <= limit else text[:limit] + "…"
