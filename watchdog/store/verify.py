"""`watchdog verify`: recompute every hash chain and every evidence blob (docs/design.md §4).

Per target, rows are read in seq order and each is checked for: seq continuity, the SHA-256
of its stored document against its `hash`, its `prev_hash` against the previous row, and
every indexed column against the value in the hashed document; the chain head must name
the last row. Against the last checkpoint (watchdog/store/checkpoint.py), each chain must still
hold the observation it names at its seq, and each target it names must still exist: a
removed tail (head moved back) or a removed chain is found. Each RFC 3161 token of the data
directory (watchdog/store/timestamps.py) must verify against the TSA certificates of the
configuration and cover its checkpoint's digest, and the store must still hold every head its
checkpoint names; each token's line says which observations it is the first to cover. Every
blob an observation references must exist, and every blob in the evidence store must hash to
its name. A page kept as skeleton + volatile record (watchdog/evidence/volatile.py) must
rebuild to the bytes its `html_sha256` names. The report names the first broken link per target.

A chain that retention pruned (watchdog/store/pruned.py) starts after its last summary: each
summary must hash to its digest, carry the checkpoint key's HMAC, and follow the one before
from seq 1; the first kept observation must link to the last summary's `last_hash`; a
checkpoint or timestamp naming a pruned observation holds when a summary names that head.
The report says which period of which target was pruned.

A verify that finds everything sound against a signed checkpoint records it as verified
(`verified.json`, watchdog/store/checkpoint.py). With `since_checkpoint`, a verify starts from
that mark: each chain must still hold, at the marked seq, the very observation the mark names
(its stored document hashing to the marked hash), and everything after it is checked as
above, with the blobs those observations reference; the observations before the mark are not
read. A change to one of them that keeps the marked observation breaks a link that only a full
verify walks; one that rewrites up to the marked observation changes its hash, which the
incremental verify sees (README « Evidence », « Incremental verify »).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchdog.domain.errors import StoreError
from watchdog.evidence.volatile import rebuild
from watchdog.store import access, pruned, retention, rollup, timestamps
from watchdog.store import checkpoint as checkpoints
from watchdog.store.blobs import SHA256_RE
from watchdog.store.chain import format_instant, sha256_hex
from watchdog.store.db import Store
from watchdog.store.documents import Documents
from watchdog.store.references import evidence_of as _evidence
from watchdog.store.references import parse_document as _parse
from watchdog.store.schema import (
    DOC_COLUMNS,
    chain_heads,
    column_values,
    doc_dicts,
    observation_counts,
    observations,
)

Progress = Callable[[int], None]  # called with the number of items checked so far
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class ChainBreak:
    """The first broken link of one target's chain."""

    target: str
    seq: int | None
    observation_id: str | None
    problem: str
    further_problems: int = 0


@dataclass(frozen=True)
class BlobProblem:
    """A missing or altered evidence blob and the observations that reference it."""

    sha: str
    problem: str
    referenced_by: tuple[str, ...] = ()


@dataclass
class VerifyReport:
    targets: int = 0
    observations: int = 0
    evidence_refs: int = 0
    blobs: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    blob_problems: list[BlobProblem] = field(default_factory=list)
    sessions: int = 0  # assisted sessions' records (issue 16)
    session_problems: list[str] = field(default_factory=list)
    temp_files: int = 0
    checkpoint: str | None = None  # the summary of the checkpoint checked against
    checkpoint_problem: str | None = None
    checkpoint_note: str | None = None
    timestamps: list[str] = field(default_factory=list)  # one line per token (the last ones)
    timestamp_problems: list[str] = field(default_factory=list)
    timestamp_notes: list[str] = field(default_factory=list)
    access_log: access.AccessCheck = field(default_factory=access.AccessCheck)
    pruned: list[str] = field(default_factory=list)  # one line per pruned period
    pruned_problems: list[str] = field(default_factory=list)
    pruned_note: str | None = None
    dictionary_problems: list[str] = field(default_factory=list)  # schema version 4
    counts: int = 0  # the report's counts compared with their rows (schema version 5)
    count_problems: list[str] = field(default_factory=list)
    since: str | None = None  # the verified mark an incremental verify started from
    marked: bool = False  # this verify recorded its checkpoint as verified
    mark_note: str | None = None

    @property
    def problem_count(self) -> int:
        return (
            len(self.breaks) + len(self.blob_problems) + len(self.session_problems)
            + bool(self.checkpoint_problem)
            + len(self.timestamp_problems) + len(self.access_log.problems)
            + len(self.pruned_problems) + len(self.dictionary_problems)
            + len(self.count_problems)
        )  # fmt: skip

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def summary(self) -> str:
        """One line: what was checked, and the verdict (the last line `verify` prints)."""
        verdict = "OK" if self.ok else f"FAILED, {self.problem_count} problem(s)"
        since = " since the verified mark" if self.since else ""
        written = " but the verified mark" if self.marked else ""
        return (
            f"verified {self.observations} observation(s){since} in {self.targets} chain(s) "
            f"and {self.blobs} blob(s); nothing written{written}: {verdict}"
        )

    def render(self) -> str:
        """A plain-English account, first line a summary."""
        lines = [
            f"Checked {self.targets} target chain(s), {self.observations} observation(s), "
            f"{self.evidence_refs} evidence reference(s) and {self.blobs} stored blob(s)."
        ]
        if self.ok:
            lines.append("OK: every chain links up and every blob matches its SHA-256.")
        else:
            lines.append(f"FAILED: {self.problem_count} problem(s) found.")
        if self.since:
            lines.append(
                f"Incremental: from the {self.since}; the observations before it were checked "
                "by that verify and are not read again (a change to them is found only by a "
                "full `watchdog verify`)."
            )
        if self.checkpoint:
            lines.append(f"Checked against the {self.checkpoint}.")
        if self.checkpoint_problem:
            lines.append(f"Checkpoint: {self.checkpoint_problem}.")
        lines.extend(_render_break(b) for b in self.breaks)
        lines.extend(_render_blob(p) for p in self.blob_problems)
        lines.extend(self._records())
        lines.extend(self._notes())
        return "\n".join(lines)

    def _records(self) -> list[str]:
        """What the side records say: pruned periods, sessions, timestamps, the access log."""
        lines = [f"Compression dictionary FAILED: {p}." for p in self.dictionary_problems]
        lines += [f"Report counts FAILED: {p}." for p in self.count_problems]
        if self.count_problems:
            lines.append(
                "Report counts: once the cause is known, `watchdog verify --recount` counts "
                "them again from the rows."
            )
        lines += [f"Pruned period FAILED: {p}." for p in self.pruned_problems]
        lines.extend(f"Pruned by retention: {p}." for p in self.pruned)
        lines.extend(f"Assisted session FAILED: {p}." for p in self.session_problems)
        if self.sessions and not self.session_problems:
            lines.append(
                f"Assisted sessions: {self.sessions} record(s), each naming reads the store "
                "holds with the hashes it names."
            )
        lines.extend(f"Timestamp FAILED: {p}." for p in self.timestamp_problems)
        lines.extend(self.timestamps)
        lines.extend(f"Access log FAILED: {p}." for p in self.access_log.problems)
        if self.access_log.present and not self.access_log.problems:
            lines.append(
                f"Access log: {self.access_log.entries} entr"
                f"{'y' if self.access_log.entries == 1 else 'ies'}, each linked to the one before."
            )
        return lines

    def _notes(self) -> list[str]:
        notes = [self.checkpoint_note, self.pruned_note, self.mark_note]
        lines = [f"Note: {n}." for n in notes if n]
        if self.marked:
            lines.append("Recorded this checkpoint as verified (verified.json): "
                         "`watchdog verify --since-checkpoint` starts from it.")  # fmt: skip
        lines.extend(f"Note: {n}." for n in self.timestamp_notes)
        if self.temp_files:
            lines.append(
                f"Note: {self.temp_files} temporary file(s) left by an interrupted evidence "
                "write (harmless, safe to delete)."
            )
        return lines


def _render_break(b: ChainBreak) -> str:
    where = f"seq {b.seq}" if b.seq is not None else "its head"
    ident = f" (observation {b.observation_id})" if b.observation_id else ""
    tail = f" [{b.further_problems} further problem(s) after it]" if b.further_problems else ""
    return f"Chain {b.target!r} first breaks at {where}{ident}: {b.problem}.{tail}"


def _render_blob(p: BlobProblem) -> str:
    refs = f"; referenced by {', '.join(p.referenced_by)}" if p.referenced_by else ""
    return f"Evidence blob {p.sha}: {p.problem}{refs}."


class _ChainCheck:
    """Walks one target's rows in seq order, keeping the first problem and a count."""

    def __init__(
        self,
        target: str,
        expect: tuple[int, str] | None = None,
        pruned_to: tuple[int, str | None] = (0, None),
        start: tuple[int, str] | None = None,
    ) -> None:
        self.target = target
        self.expect = expect  # (seq, hash) the last checkpoint names for this target
        self.start = start  # (seq, hash) of the verified mark: rows before it are not read
        # Retention pruned the seqs up to pruned_to; a mark starts after them (_verify_chains).
        self.expected_seq = start[0] if start else pruned_to[0] + 1
        # Hashes the next prev_hash may name; None: not known (the marked row's predecessor).
        self.links: tuple[str | None, ...] | None = None if start else (pruned_to[1],)
        self.last: tuple[int, str, str] | None = None  # (seq, hash, id) of the last row
        self.first: ChainBreak | None = None
        self.further = 0

    def flag(self, seq: int | None, obs_id: str | None, problem: str) -> None:
        if self.first is None:
            self.first = ChainBreak(self.target, seq, obs_id, problem)
        else:
            self.further += 1

    def check_row(self, row: sa.Row[Any], documents: Documents) -> dict[str, Any] | None:
        """Check one row; return its parsed document when it is readable."""
        seq = row.seq if isinstance(row.seq, int) else None
        gap = self._check_seq(row, seq)
        text, unreadable = stored_text(documents, row)
        if unreadable is not None:
            self.flag(seq, row.id, unreadable)
        computed = sha256_hex(text.encode("utf-8", "surrogatepass"))
        if computed != row.hash:
            self.flag(
                seq,
                row.id,
                f"its hash {_show(row.hash)} is not the SHA-256 of its "
                f"stored document ({_show(computed)})",
            )
        if self.start is not None and seq == self.start[0]:
            self._check_start(row, seq, computed)
        doc = _parse(text)
        if doc is None:
            self.flag(
                seq, row.id, "its stored document is not a JSON object (or nests too deep to read)"
            )
        else:
            if not gap and self.links is not None and doc.get("prev_hash") not in self.links:
                self.flag(
                    seq,
                    row.id,
                    f"its prev_hash {_show(doc.get('prev_hash'))} does not "
                    f"name the previous observation ({_show(self.links[0])})",
                )
            self._check_columns(row, seq, doc)
        self.links = (row.hash, computed)
        if self.expect is not None and seq == self.expect[0] and row.hash != self.expect[1]:
            self.flag(
                seq,
                row.id,
                f"its hash {_show(row.hash)} is not the {self.expect[1]} the checkpoint "
                "names for this seq: the chain was rewritten after the checkpoint",
            )
        if seq is not None:
            self.expected_seq = seq + 1
            self.last = (seq, row.hash, row.id)
        return doc

    def _check_start(self, row: sa.Row[Any], seq: int, computed: str) -> None:
        assert self.start is not None
        if row.hash != self.start[1] or computed != self.start[1]:
            self.flag(
                seq,
                row.id,
                f"it is no longer the observation {self.start[1]} that the verified mark "
                f"names for this seq (stored hash {_show(row.hash)}, document hashing to "
                f"{computed}): the chain was rewritten after it was verified",
            )

    def _check_seq(self, row: sa.Row[Any], seq: int | None) -> bool:
        """Flag a seq that does not follow the previous one; True when rows are missing."""
        if seq is None:
            self.flag(None, row.id, f"its seq column {row.seq!r} is not an integer")
            return True
        if seq == self.expected_seq:
            return False
        if seq > self.expected_seq:
            missing = (
                f"seq {self.expected_seq}"
                if seq == self.expected_seq + 1
                else f"seq {self.expected_seq} to {seq - 1}"
            )
            self.flag(
                self.expected_seq,
                None,
                f"{missing} missing: the next stored observation is seq {seq} ({row.id})",
            )
        else:
            self.flag(seq, row.id, f"seq {seq} is out of order after seq {self.expected_seq - 1}")
        return True

    def _check_columns(self, row: sa.Row[Any], seq: int | None, doc: dict[str, Any]) -> None:
        try:
            expected = column_values(doc)
        except (TypeError, ValueError) as exc:
            self.flag(seq, row.id, f"its document has unreadable values: {exc}")
            return
        mapping = row._mapping
        stored = tuple(mapping[name] for name in DOC_COLUMNS)
        hashed = tuple(expected[name] for name in DOC_COLUMNS)
        if stored == hashed and tuple(map(type, stored)) == tuple(map(type, hashed)):
            return  # the usual case, in one comparison; else find the columns that differ
        for name in DOC_COLUMNS:
            if mapping[name] != expected[name] or type(mapping[name]) is not type(expected[name]):
                self.flag(
                    seq,
                    row.id,
                    f"column {name} = {mapping[name]!r} differs from the "
                    f"hashed document ({expected[name]!r})",
                )

    def finish(self, head: tuple[int, str | None] | None) -> ChainBreak | None:
        """Compare the chain head with the last row; return the first break, if any."""
        last_seq, last_hash, last_id = self.last or (0, None, None)
        if self.start is not None and self.last is None:
            self.flag(
                self.start[0],
                None,
                f"seq {self.start[0]} ({self.start[1]}), which the verified mark names, is "
                "no longer stored: the chain was cut after it was verified",
            )
            return replace(self.first, further_problems=self.further) if self.first else None
        if self.expect is not None and last_seq < self.expect[0]:
            self.flag(last_seq + 1, None, self._cut_short(last_seq))
        if head is None:
            if self.last is not None:
                self.flag(last_seq, last_id, "the target has no chain head")
        elif head != (last_seq, last_hash):
            self.flag(
                head[0],
                None,
                f"the chain head names seq {head[0]} ({_show(head[1])}) "
                f"but the last stored observation is seq {last_seq} ({_show(last_hash)})",
            )
        if self.first is None:
            return None
        return replace(self.first, further_problems=self.further)

    def _cut_short(self, last_seq: int) -> str:
        assert self.expect is not None
        seq, digest = self.expect
        if last_seq == 0:
            return (
                f"the whole chain is gone: the checkpoint names its seq {seq} ({digest}) "
                "but the store holds no observation of this target"
            )
        return (
            f"the chain ends at seq {last_seq} but the checkpoint names seq {seq} "
            f"({digest}): its last {seq - last_seq} observation(s) were removed"
        )


def verify_store(  # noqa: PLR0913 -- keyword-only options of one verify
    store: Store,
    progress: Progress | None = None,
    *,
    blob_progress: Progress | None = None,
    every: int = PROGRESS_EVERY,
    data_dir: Path | None = None,
    tsa_ca: Path | None = None,
    since_checkpoint: bool = False,
    jobs: int | None = None,
) -> VerifyReport:
    """Recompute every chain and every blob of `store`; problems go in the report.

    `progress` is called with the number of observations checked every `every` rows and at
    the end; `blob_progress` likewise with the number of blobs hashed. The checkpoint and
    its timestamps are read from `data_dir` (by default the store's own data directory);
    the timestamps are checked against the certificates of `tsa_ca` (checkpoints.tsa_ca).
    With `since_checkpoint`, only what follows the verified mark is read (module docstring);
    without a valid mark the verify is a full one, and says why. A full verify reads its
    chains in `jobs` processes (by default one per core for a large store, `_jobs`); the
    report is the same whatever their number.
    """
    report = VerifyReport()
    folder = data_dir or checkpoints.data_dir_of(store)
    loaded = checkpoints.load(folder)
    report.checkpoint_problem, report.checkpoint_note = loaded.problem, loaded.note
    expect: dict[str, tuple[int, str]] = {}
    if loaded.checkpoint is not None:
        report.checkpoint = loaded.checkpoint.summary()
        expect = loaded.checkpoint.by_target()
    summaries = _verify_pruned(store, report, folder)
    starts = {target: pruned.pruned_until(rows) for target, rows in summaries.items()}
    for target, (seq, digest) in sorted(expect.items()):
        if seq <= starts.get(target, (0, None))[0]:
            if digest not in pruned.attested(summaries[target]).get(seq, set()):
                report.pruned_problems.append(
                    f"the last checkpoint names {target} seq {seq} ({digest}), which was "
                    "pruned, but no summary of the pruned period names that observation"
                )
            del expect[target]
    start = _start(folder, report) if since_checkpoint else None
    _verify_dictionaries(store, report)
    _verify_chains(store, report, progress, every, expect, starts, start, jobs)
    _verify_counts(store, report, start)
    if start is None:
        _verify_blobs(store, report, blob_progress, every)
    _verify_timestamps(store, report, folder, tsa_ca, loaded.checkpoint)
    report.access_log = access.verify(folder)
    if report.ok and loaded.checkpoint is not None and loaded.note is None:
        try:
            checkpoints.write_mark(folder, loaded.checkpoint)
            report.marked = True
        except OSError as exc:
            report.mark_note = f"the checkpoint was not recorded as verified: {exc}"
    return report


def _start(folder: Path, report: VerifyReport) -> dict[str, tuple[int, str]] | None:
    """The heads of the verified mark, or None (said in the report) when there is none."""
    mark = checkpoints.load_mark(folder)
    if isinstance(mark, str):
        report.mark_note = f"{mark}; this verify was a full one"
        return None
    report.since = (
        f"verified mark of {mark.verified_at} (the checkpoint of {mark.checkpoint.created_at}, "
        f"digest {mark.checkpoint.digest})"
    )
    return mark.checkpoint.by_target()


def rows_after(store: Store, start: dict[str, tuple[int, str]]) -> int:
    """How many observations an incremental verify from `start` reads (for a progress bar)."""
    total = 0
    for row in store.scan(sa.select(chain_heads.c.target, chain_heads.c.seq)):
        first = start.get(row.target, (1, ""))[0]
        total += max(row.seq - first + 1, 0)
    return total


MAX_TIMESTAMP_LINES = 30
MAX_TIMESTAMP_PROBLEMS = 50


def _verify_timestamps(
    store: Store,
    report: VerifyReport,
    folder: Path,
    tsa_ca: Path | None,
    last: checkpoints.Checkpoint | None,
) -> None:
    checked = timestamps.check_folder(folder, tsa_ca)
    report.timestamp_problems.extend(checked.problems)
    if checked.roots_note:
        report.timestamp_notes.append(checked.roots_note)
    problems: list[str] = []
    for token in checked.tokens:
        if token.problem is not None:
            problems.append(token.problem)
            continue
        if token.gen_time is None:  # a body without its token: said, not counted
            report.timestamp_notes.extend([token.note] if token.note else [])
            continue
        held = checkpoints.not_held(store, {t: (seq, h) for t, seq, h in token.heads})
        problems.extend(
            f"the timestamp of the checkpoint of {token.created_at} ({token.name[:16]}…) names "
            f"an observation the store no longer holds: {problem}"
            for problem in held
        )
        if token.note:
            report.timestamp_notes.append(token.note)
    report.timestamp_problems.extend(problems[:MAX_TIMESTAMP_PROBLEMS])
    if len(problems) > MAX_TIMESTAMP_PROBLEMS:
        report.timestamp_problems.append(f"… and {len(problems) - MAX_TIMESTAMP_PROBLEMS} more")
    valid = [t for t in checked.tokens if t.problem is None and t.gen_time is not None]
    covered = timestamps.spans(valid)
    when = _observed_at(store)
    shown = valid[-MAX_TIMESTAMP_LINES:]
    if len(valid) > len(shown):
        report.timestamps.append(f"{len(valid)} valid timestamp(s); the last {len(shown)}:")
    elif valid:
        report.timestamps.append(f"{len(valid)} valid timestamp(s):")
    report.timestamps.extend("  " + timestamps.describe(t, covered[t.name], when) for t in shown)
    stamped = {t.name for t in checked.tokens if t.gen_time is not None}
    if last is not None and last.digest not in stamped and (tsa_ca is not None or stamped):
        report.timestamp_notes.append(
            f"no timestamp of the last checkpoint ({last.created_at}, {last.digest[:16]}…): "
            "the observations since the last valid timestamp rest on our own clock"
        )


def _observed_at(store: Store) -> timestamps.Describe:
    def when(target: str, seq: int) -> str | None:
        stmt = sa.select(observations.c.started_at).where(
            (observations.c.target == target) & (observations.c.seq == seq)
        )
        rows = list(store.scan(stmt))
        if not rows:
            return None
        value = rows[0].started_at
        return format_instant(value) if isinstance(value, datetime) else str(value)

    return when


def _verify_pruned(
    store: Store, report: VerifyReport, folder: Path
) -> dict[str, list[pruned.Stored]]:
    """Check each pruned period's summary; return them by target, in seq order."""
    summaries = pruned.by_target(pruned.stored(store))
    if not summaries:
        return summaries
    try:
        key: bytes | None = checkpoints.read_key(folder)
    except OSError as exc:
        key = None
        report.pruned_note = (
            f"the signatures of the pruned periods' summaries were not checked: "
            f"{folder / checkpoints.KEY_FILE}: {exc.strerror or exc}"
        )
    for target, rows in sorted(summaries.items()):
        before: tuple[int, str | None] = (0, None)
        for stored in rows:
            where = f"the summary of {target} seq {stored.first_seq}–{stored.last_seq}"
            problem = stored.problem or retention.summary_problem(stored, key, before)
            if problem is not None:
                report.pruned_problems.append(f"{where}: {problem}")
            elif stored.summary is not None:
                report.pruned.append(stored.summary.describe())
            before = (stored.last_seq, stored.summary.last_hash if stored.summary else None)
    return summaries


def _verify_chains(  # noqa: PLR0913 -- the verify's options and what it checks against
    store: Store,
    report: VerifyReport,
    progress: Progress | None,
    every: int,
    expect: dict[str, tuple[int, str]],
    starts: dict[str, tuple[int, str | None]],
    start: dict[str, tuple[int, str]] | None = None,
    jobs: int | None = None,
) -> None:
    heads = {row.target: (row.seq, row.hash) for row in store.scan(sa.select(chain_heads))}
    # A verified mark retention has since pruned past is no start: the chain starts after its
    # last summary, as in a full verify.
    begin = {t: mark for t, mark in (start or {}).items() if mark[0] > starts.get(t, (0, None))[0]}
    plan = _Plan(heads, expect, starts, begin, full=start is None)
    if start is None:
        workers = _jobs(jobs, heads, starts)
        if workers > 1:
            walk = _walk_parallel(store, plan, workers, progress, every)
        else:
            walk = _walk(store, plan, store.scan(_ROWS_IN_CHAIN_ORDER, raw=True), progress, every)
    else:
        walk = _walk(store, plan, _rows_from(store, heads, begin), progress, every)
    report.observations += walk.observations
    report.evidence_refs += walk.evidence_refs
    report.counts += walk.counts
    report.count_problems.extend(walk.count_problems[: rollup.MAX_PROBLEMS])
    if start is not None:
        _check_before_start(store, report, expect, begin)
        _verify_referenced(store, report, walk.referenced)
    report.breaks.extend(walk.breaks)
    seen = set(walk.seen)
    unseen = {t for t in heads if heads[t][0] != 0} | set(expect) | set(begin)
    for target in sorted(unseen - seen):
        report.breaks.extend(_finished(plan.check(target), plan))
    report.breaks.sort(key=lambda b: b.target)
    report.targets = len(seen | set(heads) | set(expect))
    if progress:
        progress(report.observations)
    report.blob_problems.extend(
        BlobProblem(sha, "it is missing from the evidence store", tuple(names))
        for sha, names in sorted(walk.missing.items())
    )
    report.blob_problems.extend(walk.page_problems)
    report.sessions = walk.sessions.records
    lookup = None if start is None else _hash_lookup(store)
    report.session_problems.extend(walk.sessions.problems(lookup))


@dataclass(frozen=True)
class _Plan:
    """What each chain is checked against: its head, the checkpoint's seq and hash, where
    retention pruned it to, and (incremental) the verified mark it starts from."""

    heads: dict[str, tuple[int, str | None]]
    expect: dict[str, tuple[int, str]]
    starts: dict[str, tuple[int, str | None]]
    begin: dict[str, tuple[int, str]]
    full: bool

    def check(self, target: str) -> _ChainCheck:
        pruned_to = self.starts.get(target, (0, None))
        return _ChainCheck(target, self.expect.get(target), pruned_to, self.begin.get(target))


@dataclass
class _Walk:
    """What reading some chains, in chain order, found (pickled back from a worker)."""

    observations: int = 0
    evidence_refs: int = 0
    counts: int = 0
    count_problems: list[str] = field(default_factory=list)
    breaks: list[ChainBreak] = field(default_factory=list)  # of the chains read
    seen: list[str] = field(default_factory=list)  # the targets read, in order
    missing: dict[str, list[str]] = field(default_factory=dict)  # blob -> who names it
    referenced: set[str] = field(default_factory=set)
    page_problems: list[BlobProblem] = field(default_factory=list)
    sessions: _SessionCheck = field(default_factory=lambda: _SessionCheck())

    def extend(self, other: _Walk) -> None:
        """Add the walk of the chains after this walk's (results stay in chain order)."""
        self.observations += other.observations
        self.evidence_refs += other.evidence_refs
        self.counts += other.counts
        self.count_problems.extend(other.count_problems)
        self.breaks.extend(other.breaks)
        self.seen.extend(other.seen)
        for sha, names in other.missing.items():
            self.missing.setdefault(sha, []).extend(names)
        self.referenced |= other.referenced
        self.page_problems.extend(other.page_problems)
        self.sessions.extend(other.sessions)


def _walk(
    store: Store,
    plan: _Plan,
    rows: Iterable[sa.Row[Any]],
    progress: Progress | None,
    every: int,
) -> _Walk:
    """Check `rows` (whole chains, in chain order): links, columns, evidence, sessions."""
    walk = _Walk()
    pages = _PageCheck(store)
    documents = Documents(store.engine)  # dictionaries read afresh, not a writer's cache
    counts = _CountCheck(store, walk, full=plan.full)
    check: _ChainCheck | None = None
    for row in rows:
        if check is None or check.target != row.target:
            if check is not None:
                walk.breaks.extend(_finished(check, plan))
            check = plan.check(row.target)
            walk.seen.append(row.target)
        doc = check.check_row(row, documents)
        counts.note(row)
        walk.observations += 1
        for sha, kind in _evidence(doc):
            walk.evidence_refs += 1
            if not SHA256_RE.fullmatch(sha) or not store.blobs.exists(sha):
                walk.missing.setdefault(sha, []).append(_describe(row, kind))
            else:
                walk.referenced.add(sha)
        pages.check(row, doc)
        walk.sessions.note(row, doc)
        if progress and walk.observations % every == 0:
            progress(walk.observations)
    if check is not None:
        walk.breaks.extend(_finished(check, plan))
    counts.finish()
    walk.page_problems = pages.problems
    return walk


def _finished(check: _ChainCheck, plan: _Plan) -> list[ChainBreak]:
    found = check.finish(plan.heads.get(check.target))
    return [] if found is None else [found]


# A full verify of at least this many observations reads its chains in worker processes
# (one per core, at most MAX_JOBS): below it, starting them costs more than it saves.
PARALLEL_FROM = 200_000
MAX_JOBS = 4
GROUPS_PER_JOB = 4  # ranges of chains per worker: a long chain does not leave a core idle
WORKER_EXIT_S = 10.0  # how long a stopped worker may take to exit


def _jobs(
    jobs: int | None, heads: dict[str, tuple[int, str | None]],
    starts: dict[str, tuple[int, str | None]],
) -> int:  # fmt: skip
    """How many processes read the chains: `jobs` when given, else one per available core
    (at most MAX_JOBS) for a store of at least PARALLEL_FROM observations."""
    if jobs is not None:
        return max(1, min(jobs, len(heads)))
    rows = sum(max(seq - starts.get(t, (0, None))[0], 0) for t, (seq, _h) in heads.items())
    if rows < PARALLEL_FROM:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_JOBS, len(heads)))


def _ranges(
    heads: dict[str, tuple[int, str | None]], parts: int
) -> list[tuple[str | None, str | None]]:
    """Consecutive target ranges [low, high) of about equal row counts, covering every
    target (None: unbounded), so a row of a target with no head is read too."""
    targets = sorted(heads)
    total = sum(max(heads[t][0], 1) for t in targets)
    bounds: list[str | None] = [None]
    done = 0
    for target in targets:
        if done >= total * len(bounds) / parts:
            bounds.append(target)
        done += max(heads[target][0], 1)
    bounds.append(None)
    return list(itertools.pairwise(bounds))


def _in_range(low: str | None, high: str | None) -> sa.Select[Any]:
    target = observations.c.target
    query = _ROWS_IN_CHAIN_ORDER
    if low is not None:
        query = query.where(target >= low)
    if high is not None:
        query = query.where(target < high)
    return query


def _walk_parallel(
    store: Store, plan: _Plan, jobs: int, progress: Progress | None, every: int
) -> _Walk:
    """Read the chains in `jobs` processes, range by range, and join their walks in chain
    order: the report is the one a single process makes. A worker's error is raised here at
    once, and on any exit but success (an error, Ctrl-C) the workers are stopped, not waited
    for: they ignore SIGINT, this process decides."""
    context = multiprocessing.get_context("spawn")  # no copy of this process's connections
    done = context.Value("q", 0)
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_worker_start, initargs=(store.reader_spec(), done)
    )
    try:
        ranges = _ranges(plan.heads, jobs * GROUPS_PER_JOB)
        futures = [pool.submit(_worker_walk, plan, low, high, every) for low, high in ranges]
        reported, pending = 0, set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # raises a worker's error now, not after the others
            if progress and done.value - reported >= every:
                reported = done.value
                progress(reported)
        walk = _Walk()
        for future in futures:
            walk.extend(future.result())
    except BaseException:
        workers = list((pool._processes or {}).values())  # None once shut down
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        for process in workers:
            process.join(WORKER_EXIT_S)
            if process.is_alive():  # SIGTERM not heeded in time: no worker outlives the verify
                process.kill()
                process.join(WORKER_EXIT_S)
        raise
    finally:
        pool.shutdown(wait=True)
    return walk


_worker_store: Store | None = None
_worker_done: Any = None


def _worker_start(spec: tuple[str, str], done: Any) -> None:
    global _worker_store, _worker_done
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    _worker_store, _worker_done = Store.reader(spec), done


def _worker_walk(plan: _Plan, low: str | None, high: str | None, every: int) -> _Walk:
    assert _worker_store is not None
    counted = 0

    def tick(n: int) -> None:
        nonlocal counted
        with _worker_done.get_lock():
            _worker_done.value += n - counted
        counted = n

    walk = _walk(_worker_store, plan, _worker_store.scan(_in_range(low, high), raw=True),
                 tick, every)  # fmt: skip
    tick(walk.observations)
    return walk


def _hash_lookup(store: Store) -> Callable[[str], str | None]:
    """The stored hash of an observation by its id (None: not stored)."""

    def find(ident: str) -> str | None:
        query = sa.select(observations.c.hash).where(observations.c.id == ident)
        for row in store.scan(query):
            return str(row.hash)
        return None

    return find


class _SessionCheck:
    """An assisted session's record (issue 16) against its reads: each read it names must be
    in the store with the hash it names, and each read that names the session must be in it
    (a read removed, altered or slipped in is found)."""

    def __init__(self) -> None:
        self.records = 0
        self.reads: dict[str, tuple[str, str, str]] = {}  # id -> (hash, session, where)
        self.named: list[tuple[str, str, dict[str, Any]]] = []  # (session, where, read)
        self.sessions: set[str] = set()

    def note(self, row: sa.Row[Any], doc: dict[str, Any] | None) -> None:
        env = doc.get("env") if doc else None
        session = env.get("assisted_session") if isinstance(env, dict) else None
        assist = doc.get("assist") if doc else None
        if isinstance(session, str) and not isinstance(assist, dict):
            self.reads[str(row.id)] = (str(row.hash), session, _describe(row, "read"))
        if not isinstance(assist, dict):
            return
        self.records += 1
        name = str(assist.get("session"))
        self.sessions.add(name)
        reads = assist.get("reads")
        for read in reads if isinstance(reads, list) else []:
            if isinstance(read, dict):
                self.named.append((name, _describe(row, "record"), read))

    def extend(self, other: _SessionCheck) -> None:
        """Add what another walk (of other chains) noted."""
        self.records += other.records
        self.reads.update(other.reads)
        self.named.extend(other.named)
        self.sessions |= other.sessions

    def problems(self, lookup: Callable[[str], str | None] | None = None) -> list[str]:
        """The problems found; `lookup` (an incremental verify's) finds the hash of a read
        the walk did not see because it lies before the verified mark."""
        found: list[str] = []
        listed: set[str] = set()
        for session, where, read in self.named:
            ident, digest = str(read.get("id")), read.get("hash")
            listed.add(ident)
            held = self.reads.get(ident)
            if held is None and lookup is not None and (before := lookup(ident)) is not None:
                held = (before, session, "")
            if held is None:
                found.append(f"{session} ({where}) names read {ident}, which the store "
                             "does not hold: a read was removed")  # fmt: skip
            elif held[0] != digest:
                found.append(f"{session} ({where}) names read {ident} with hash {digest}, "
                             f"but the store holds it with {held[0]}")  # fmt: skip
        for ident, (_digest, session, where) in sorted(self.reads.items()):
            if session in self.sessions and ident not in listed:
                found.append(f"{session}: read {where} is not in the session's record")
        return found


def _rows_from(
    store: Store, heads: dict[str, tuple[int, str | None]], start: dict[str, tuple[int, str]]
) -> Iterator[sa.Row[Any]]:
    """Each chain's rows from its marked seq on (all of a chain the mark does not name)."""
    for target in sorted(set(heads) | set(start)):
        first = start.get(target, (1, ""))[0]
        where = (observations.c.target == target) & (observations.c.seq >= first)
        yield from store.scan(_ROWS_IN_CHAIN_ORDER.where(where), raw=True)


def _check_before_start(
    store: Store,
    report: VerifyReport,
    expect: dict[str, tuple[int, str]],
    start: dict[str, tuple[int, str]],
) -> None:
    """The checkpoint's heads that lie before the mark (not read by the walk) still held."""
    before = {t: head for t, head in expect.items() if t in start and head[0] < start[t][0]}
    for problem in checkpoints.not_held(store, before):
        target = problem.split(" ", 1)[0]
        report.breaks.append(ChainBreak(target, before[target][0], None, problem))


def _verify_referenced(store: Store, report: VerifyReport, referenced: set[str]) -> None:
    """Hash each blob the observations read reference (an incremental verify's blobs)."""
    corrupt = []
    for sha in sorted(referenced):
        report.blobs += 1
        if not store.blobs.verify(sha):
            corrupt.append(sha)
    _report_corrupt(store, report, corrupt)


class _PageCheck:
    """Rebuilds each page kept as skeleton + volatile record and hashes it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.problems: list[BlobProblem] = []
        # A skeleton is shared by every unchanged observation: read it once, not each time.
        self.read = lru_cache(maxsize=64)(store.blobs.get)

    def check(self, row: sa.Row[Any], doc: dict[str, Any] | None) -> None:
        evidence = doc.get("evidence") if doc else None
        if not isinstance(evidence, dict) or evidence.get("html_sha256") is None:
            return  # no DOM, or one from before the split (`html` is the page itself)
        expected = str(evidence["html_sha256"])
        try:
            page = rebuild(evidence, self.read)
        except (StoreError, ValueError):  # a missing blob is reported as such already
            if all(self._exists(evidence.get(k)) for k in ("html", "html_volatile")):
                self._flag(expected, "its volatile record is unreadable", row)
            return
        if page is not None and hashlib.sha256(page).hexdigest() != expected:
            self._flag(
                expected,
                f"the page rebuilt from its skeleton {evidence.get('html')} and volatile "
                f"record {evidence.get('html_volatile')} does not hash to it",
                row,
            )

    def _exists(self, sha: object) -> bool:
        return sha is None or (
            isinstance(sha, str) and SHA256_RE.fullmatch(sha) is not None
            and self.store.blobs.exists(sha)
        )  # fmt: skip

    def _flag(self, sha: str, problem: str, row: sa.Row[Any]) -> None:
        self.problems.append(BlobProblem(sha, problem, (_describe(row, "html_sha256"),)))


def _verify_blobs(
    store: Store, report: VerifyReport, progress: Progress | None, every: int
) -> None:
    corrupt: list[str] = []
    for sha in store.blobs:
        report.blobs += 1
        if not store.blobs.verify(sha):
            corrupt.append(sha)
        if progress and report.blobs % every == 0:
            progress(report.blobs)
    if progress:
        progress(report.blobs)
    _report_corrupt(store, report, corrupt)
    report.temp_files = len(store.blobs.temp_files())


def _report_corrupt(store: Store, report: VerifyReport, corrupt: list[str]) -> None:
    refs = _references(store, set(corrupt)) if corrupt else {}
    report.blob_problems.extend(
        BlobProblem(sha, "its content does not match its SHA-256 name", tuple(refs.get(sha, ())))
        for sha in corrupt
    )


def _references(store: Store, wanted: set[str]) -> dict[str, list[str]]:
    """The observations that reference any of `wanted` (a second pass, only on failure)."""
    found: dict[str, list[str]] = {}
    documents = Documents(store.engine)
    for row in store.scan(_ROWS_IN_CHAIN_ORDER, raw=True):
        for sha, kind in _evidence(_parse(stored_text(documents, row)[0])):
            if sha in wanted:
                found.setdefault(sha, []).append(_describe(row, kind))
    return found


_ROWS_IN_CHAIN_ORDER = sa.select(observations).order_by(observations.c.target, observations.c.seq)


def stored_text(documents: Documents, row: sa.Row[Any]) -> tuple[str, str | None]:
    """(the stored document's text, None) of a raw row, or ('', why it cannot be read)."""
    doc, zdoc = row.doc, row.zdoc
    if zdoc is None:
        return (doc, None) if isinstance(doc, str) else ("", "its stored document is not text")
    if doc != "":
        return "", "it holds both a compressed document and a text in `doc`"
    try:
        return documents.text(doc, zdoc, row.zdict), None
    except (StoreError, UnicodeDecodeError, sa.exc.SQLAlchemyError) as exc:
        return "", f"its compressed document cannot be read: {exc}"


class _CountCheck:
    """A full verify tallies each chain's rows as it reads them, and compares the tally with
    the chain's stored counts (watchdog/store/rollup.py) when the chain ends."""

    def __init__(self, store: Store, walk: _Walk, *, full: bool) -> None:
        self.store, self.walk, self.full = store, walk, full
        self.tally: rollup.Tally | None = None

    def note(self, row: sa.Row[Any]) -> None:
        if not self.full:
            return
        if self.tally is None or self.tally.target != row.target:
            self.finish()
            self.tally = rollup.Tally(row.target)
        self.tally.add(row)

    def finish(self) -> None:
        if self.tally is None:
            return
        with self.store.engine.connect() as conn:
            compared, problems = self.tally.compare(conn)
        self.tally = None
        self.walk.counts += compared
        room = max(0, rollup.MAX_PROBLEMS - len(self.walk.count_problems))
        self.walk.count_problems.extend(problems[:room])


def _verify_counts(
    store: Store, report: VerifyReport, start: dict[str, tuple[int, str]] | None
) -> None:
    """The counts the reports read (watchdog/store/rollup.py) must be those of the rows they
    summarise. A full verify compares each chain's as it reads it (`_verify_chains`), and
    here only the counts of targets with no row left; an incremental one the hours from the
    first row after its mark on."""
    c = observation_counts.c
    with store.engine.connect() as conn:
        if start is None:
            heads = {r[0] for r in conn.execute(sa.select(observations.c.target).distinct())}
            for target in sorted({r[0] for r in conn.execute(sa.select(c.target).distinct())}):
                if target not in heads:
                    tally = rollup.Tally(target)
                    compared, problems = tally.compare(conn)
                    report.counts += compared
                    report.count_problems.extend(problems)
            return
        since = {
            r.target: start.get(r.target, (0, ""))[0]
            for r in conn.execute(sa.select(chain_heads.c.target))
        }
        report.counts, report.count_problems = rollup.check(conn, since)


def _verify_dictionaries(store: Store, report: VerifyReport) -> None:
    """Each compression dictionary must hash to the SHA-256 recorded beside it."""
    for row in store.scan(sa.select(doc_dicts).order_by(doc_dicts.c.id)):
        data = bytes(row.data) if row.data is not None else b""
        if hashlib.sha256(data).hexdigest() != row.sha256:
            report.dictionary_problems.append(
                f"dictionary {row.id} ({row.target}) does not hash to its recorded SHA-256 "
                f"{_show(row.sha256)}"
            )


def _describe(row: sa.Row[Any], kind: str) -> str:
    return f"{row.target} seq {row.seq} ({row.id}, {kind})"


def _show(value: object) -> str:
    """Hashes in full (a reader compares them with other copies), anything else as repr."""
    return value if isinstance(value, str) else repr(value)
