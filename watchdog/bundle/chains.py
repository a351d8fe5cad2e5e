"""The observation part of a bundle check: hash chains, evidence references, derived CSV.

A page kept as skeleton + volatile record must rebuild (watchdog/volatile.py) to the bytes
its `html_sha256` names; that file's own hash is checked with every other file.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from typing import Any

from watchdog.volatile import VolatileRecord, join_bytes

from . import layout

MAX_CHAIN_PROBLEMS = 20
MAX_PAGE = 64 << 20  # a skeleton or record read whole to rebuild a page


class ChainWalk:
    """Reads observations.jsonl once: each line's SHA-256 must be what the next line of the
    same target names as prev_hash, from the manifest's anchor to its head."""

    def __init__(
        self, archive: zipfile.ZipFile, manifest: dict[str, Any], problems: list[str]
    ) -> None:
        self.archive = archive
        self.problems = problems
        self.chains = {
            c.get("target"): c for c in manifest.get("chains", []) if isinstance(c, dict)
        }
        self.missing = set(manifest.get("missing_evidence", []))
        self.names = set(archive.namelist())
        self.columns = layout.COLUMNS_BY_FORMAT.get(str(manifest.get("format")), layout.CSV_COLUMNS)
        self.csv = hashlib.sha256(layout.csv_header(self.columns))
        self.count = 0
        self.found = 0  # chain problems found (only the first MAX_CHAIN_PROBLEMS are listed)
        self.target: str | None = None
        self.seq = 0
        self.previous: str | None = None
        self.in_chain = 0
        self.seen: set[str] = set()

    def flag(self, problem: str) -> None:
        self.found += 1
        if self.found <= MAX_CHAIN_PROBLEMS:
            self.problems.append(problem)

    def run(self) -> None:
        try:
            with self.archive.open(layout.JSONL) as lines:
                for number, line in enumerate(lines, start=1):
                    if not self._line(number, line.removesuffix(b"\n")):
                        break
        except KeyError:
            return  # already reported as missing
        except (zipfile.BadZipFile, OSError, EOFError):
            return  # already reported as corrupted
        self._finish()
        for target in sorted(set(self.chains) - self.seen, key=str):
            self.flag(f"{layout.JSONL}: the chain of {target} named in the manifest is absent")
        if self.found > MAX_CHAIN_PROBLEMS:
            self.problems.append(f"… and {self.found - MAX_CHAIN_PROBLEMS} more chain problem(s)")
        self._check_csv()

    def _line(self, number: int, line: bytes) -> bool:
        where = f"{layout.JSONL} line {number}"
        try:
            doc = json.loads(line)
        except ValueError:
            self.flag(f"{where}: not a JSON document")
            return False
        if not isinstance(doc, dict):
            self.flag(f"{where}: not a JSON object")
            return False
        digest = hashlib.sha256(line).hexdigest()
        target = doc.get("target")
        if target != self.target and not self._start(str(target), where):
            return False
        ident = f"{where} ({target}, observation {doc.get('id')})"
        if doc.get("prev_hash") != self.previous:
            self.flag(
                f"{ident}: its prev_hash {doc.get('prev_hash')} does not name the previous "
                f"observation ({self.previous}): an observation was altered, removed or moved"
            )
        self._evidence(doc, ident)
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
        self.target, self.seq = target, int(span.get("first_seq", 1))
        self.previous, self.in_chain = span.get("anchor_prev_hash"), 0
        return True

    def _finish(self) -> None:
        if self.target is None:
            return
        span = self.chains[self.target]
        if self.in_chain != span.get("count") or self.previous != span.get("head_hash"):
            self.flag(
                f"{layout.JSONL}: the chain of {self.target} ends at {self.previous} after "
                f"{self.in_chain} observation(s); the manifest says {span.get('head_hash')} "
                f"after {span.get('count')}"
            )

    def _evidence(self, doc: dict[str, Any], ident: str) -> None:
        evidence = doc.get("evidence") or {}
        for kind, sha in sorted(evidence.items()):
            if sha is None or sha in self.missing:
                continue
            if layout.evidence_name(str(sha), kind) not in self.names:
                self.flag(f"{ident}: its {kind} evidence {sha} is not in the bundle")
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
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
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
        except (zipfile.BadZipFile, OSError, EOFError):
            return
        if digest.hexdigest() != self.csv.hexdigest():
            self.problems.append(
                f"{layout.CSV}: does not match the observations (re-derived from {layout.JSONL})"
            )
