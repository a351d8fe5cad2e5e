"""Retention: prune each chain's oldest observations under its class, keep it verifiable.

A target's class (watchdog/config/schema.py, `retention`) is `hold`, never pruned, or
`rolling`: observations that started before now − the duration are due. What is pruned is
always the oldest stretch of a chain, from its first kept observation up to the last one due
before the first one not due, and never the chain's last observation (its head stays, so the
chain, its checkpoints and its metrics keep their anchor). Chains the configuration does not
name (a target removed since) are kept: their class is unknown, and a hold may have been
lost with them.

`plan` says what would go, touching nothing. `apply` prunes one target at a time, each in one
transaction that deletes the stretch and writes its signed summary (watchdog/store/pruned.py):
a crash leaves each target either whole or pruned with its summary, and the store verifies
either way. The evidence blobs only the pruned observations referenced are removed after the
commit, from a journal (`retention-journal/` in the data directory, written before the
commit) that the next `apply` finishes when a crash cut it short. A blob referenced by any
kept observation, of any target, stays; so does one written or reused in the last
BLOB_GRACE, which a probe running meanwhile may be about to reference: `BlobStore.put`
touches a blob it finds (its access time, so its status-change time moves and its
modification time still says when it was written), and a blob whose status changed since
`in_use_since` is kept. A stretch whose own rows do not verify is not pruned: that would destroy
the evidence of the damage.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ValidationError

from watchdog.config.schema import RetentionClass
from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.store import checkpoint as checkpoints
from watchdog.store import pruned, rollup, timestamps
from watchdog.store.atomic import write_atomically
from watchdog.store.chain import format_instant, sha256_hex
from watchdog.store.db import Store
from watchdog.store.references import evidence_of
from watchdog.store.references import parse_document as _parse
from watchdog.store.schema import DOCUMENT, chain_heads, observations, pruned_segments

log = logging.getLogger(__name__)

JOURNAL_DIR: Final = "retention-journal"
JOURNAL_PREFIX: Final = ".tmp-retention-"
BLOB_GRACE: Final = timedelta(hours=1)
NOT_CONFIGURED: Final = "not in the configuration: kept"

Progress = Callable[[int], None]  # told how many observations were pruned so far


class RetentionError(WatchdogError):
    """Retention cannot be applied (the key, the journal or the store)."""


@dataclass(frozen=True)
class Stretch:
    """The oldest observations of one chain that its class lets go."""

    first_seq: int
    last_seq: int
    first_started_at: str
    last_started_at: str
    outcomes: dict[str, int]
    blobs: tuple[str, ...] = ()  # referenced by no kept observation: removed with it
    blob_bytes: int = 0
    blobs_in_use: int = 0  # only it referenced them, but a probe wrote or reused them lately

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class TargetPlan:
    """One chain: its class, what it keeps, and what would be pruned (None: nothing)."""

    target: str
    retention: str  # « hold », « rolling 400d », or NOT_CONFIGURED
    observations: int  # stored now
    cutoff: str | None = None
    stretch: Stretch | None = None
    refused: str | None = None  # why a stretch that is due is not pruned

    def line(self) -> str:
        head = f"{self.target} ({self.retention}): {self.observations} observation(s)"
        if self.refused is not None:
            return f"{head}; NOT pruned: {self.refused}"
        s = self.stretch
        if s is None:
            return f"{head}; nothing to prune"
        counts = ", ".join(f"{n} {o}" for o, n in sorted(s.outcomes.items()))
        return (
            f"{head}; prune seq {s.first_seq}–{s.last_seq}, {s.count} observation(s) "
            f"({counts}) from {s.first_started_at} to {s.last_started_at}, "
            f"{len(s.blobs)} evidence blob(s) freed ({s.blob_bytes} bytes)"
            + (
                f", {s.blobs_in_use} kept for now (written or reused lately)"
                if s.blobs_in_use
                else ""
            )
        )


@dataclass
class Plan:
    targets: list[TargetPlan] = field(default_factory=list)
    in_use_since: float = 0.0  # epoch s: a blob touched since then is in use, and kept

    @property
    def due(self) -> list[TargetPlan]:
        return [t for t in self.targets if t.stretch is not None and t.refused is None]

    def summary(self) -> str:
        due = self.due
        count = sum(t.stretch.count for t in due if t.stretch)
        blobs = sum(len(t.stretch.blobs) for t in due if t.stretch)
        size = sum(t.stretch.blob_bytes for t in due if t.stretch)
        refused = sum(t.refused is not None for t in self.targets)
        tail = f"; {refused} chain(s) refused" if refused else ""
        return (
            f"{len(self.targets)} chain(s): {count} observation(s) of {len(due)} chain(s) to "
            f"prune, {blobs} evidence blob(s) ({size} bytes) to free{tail}"
        )


# -- planning -------------------------------------------------------------------------------


def plan(
    store: Store,
    classes: dict[str, RetentionClass],
    now: datetime,
    in_use_since: float | None = None,
) -> Plan:
    """What `apply` would prune now; `classes` maps each configured target to its class.

    A blob touched since `in_use_since` (epoch seconds; by default BLOB_GRACE ago, by the
    machine's clock, which the files' times follow) is kept."""
    heads = {
        row.target: row.seq
        for row in store.scan(sa.select(chain_heads).where(chain_heads.c.seq > 0))
    }
    summaries = pruned.by_target(pruned.stored(store))
    if in_use_since is None:
        in_use_since = time.time() - BLOB_GRACE.total_seconds()
    result = Plan(in_use_since=in_use_since)
    for target in sorted(heads):
        result.targets.append(
            _plan_target(store, target, heads[target], classes.get(target), summaries, now)
        )
    return _with_blobs(store, result)


def _plan_target(
    store: Store,
    target: str,
    head: int,
    found: RetentionClass | None,
    summaries: dict[str, list[pruned.Stored]],
    now: datetime,
) -> TargetPlan:
    pruned_to = pruned.pruned_until(summaries.get(target, []))[0]
    base = TargetPlan(target, str(found) if found else NOT_CONFIGURED, head - pruned_to)
    if found is None or found.keep is None:
        return base
    cutoff = format_instant(now - found.keep)
    base = replace(base, cutoff=cutoff)
    first_kept = sa.select(sa.func.min(observations.c.seq).label("seq")).where(
        (observations.c.target == target) & (observations.c.started_at >= cutoff)
    )
    (not_due,) = [row.seq for row in store.scan(first_kept)]
    last = min(head - 1, (not_due - 1) if not_due is not None else head)
    if last <= pruned_to:
        return base
    first = pruned_to + 1
    rows = sa.select(observations.c.outcome, sa.func.count().label("n")).where(
        (observations.c.target == target) & observations.c.seq.between(first, last)
    )
    outcomes = {
        row.outcome: int(row.n) for row in store.scan(rows.group_by(observations.c.outcome))
    }
    ends = {
        row.seq: row.started_at
        for row in store.scan(
            sa.select(observations.c.seq, observations.c.started_at).where(
                (observations.c.target == target) & observations.c.seq.in_([first, last])
            )
        )
    }
    if sum(outcomes.values()) != last - first + 1 or set(ends) != {first, last}:
        return replace(base, refused=f"seq {first}–{last} is not whole: run `watchdog verify`")
    stretch = Stretch(first, last, str(ends[first]), str(ends[last]), outcomes)
    return replace(base, stretch=stretch)


def _with_blobs(store: Store, result: Plan) -> Plan:
    """Each stretch's blobs that no kept observation references; a stretch whose rows do not
    verify (hash, link to the row before) is refused."""
    ranges = {t.target: t.stretch for t in result.due if t.stretch}
    kept: set[str] = set()
    gone: dict[str, set[str]] = {target: set() for target in ranges}
    broken: dict[str, str] = {}
    links: dict[str, str | None] = {}
    columns = (observations.c.target, observations.c.seq, observations.c.hash, *DOCUMENT)
    stmt = sa.select(*columns).order_by(observations.c.target, observations.c.seq)
    for row in store.scan(stmt):
        stretch = ranges.get(row.target)
        doc = _parse(row.doc)
        refs = {sha for sha, _kind in evidence_of(doc)}
        if stretch is None or not stretch.first_seq <= row.seq <= stretch.last_seq:
            kept |= refs
            continue
        gone[row.target] |= refs
        problem = _row_problem(row, doc, links.get(row.target, ""), row.seq == stretch.first_seq)
        if problem and row.target not in broken:
            broken[row.target] = f"seq {row.seq} does not verify ({problem}): run `watchdog verify`"
        links[row.target] = row.hash
    # A blob that another chain's stretch references too stays for now: that stretch may be
    # refused (here or in its transaction) and keep it. A later apply removes it.
    shared = {sha for sha, n in Counter(s for refs in gone.values() for s in refs).items() if n > 1}
    targets = []
    for plan_ in result.targets:
        stretch = ranges.get(plan_.target)
        if stretch is None:
            targets.append(plan_)
        elif plan_.target in broken:
            targets.append(replace(plan_, refused=broken[plan_.target]))
        else:
            candidates = gone[plan_.target] - kept - shared
            blobs, size, lately = _removable(store, candidates, result.in_use_since)
            stretch = replace(stretch, blobs=blobs, blob_bytes=size, blobs_in_use=lately)
            targets.append(replace(plan_, stretch=stretch))
    return Plan(targets, result.in_use_since)


def _row_problem(row: sa.Row[Any], doc: dict[str, Any] | None, before: str | None,
                 first: bool) -> str | None:  # fmt: skip
    if sha256_hex(str(row.doc).encode("utf-8", "surrogatepass")) != row.hash:
        return "its hash is not that of its document"
    if doc is None:
        return "its document is not a JSON object"
    if not first and doc.get("prev_hash") != before:
        return "its prev_hash does not name the row before"
    return None


def _removable(
    store: Store, candidates: set[str], recent: float
) -> tuple[tuple[str, ...], int, int]:
    """The candidates that exist and were not written or reused lately, their bytes, and
    how many were (kept for now)."""
    blobs, size, lately = [], 0, 0
    for sha in sorted(candidates):
        try:
            stat = store.blobs.path(sha).stat()
        except (OSError, ValueError):
            continue  # already gone, or not a blob name (verify names it)
        if stat.st_ctime >= recent:
            lately += 1
            continue
        blobs.append(sha)
        size += stat.st_size
    return tuple(blobs), size, lately


def pruned_in(
    store: Store, targets: Iterable[str], since: datetime, until: datetime
) -> list[pruned.Summary]:
    """The pruned periods of `targets` that meet [since, until), in target and seq order."""
    return [c.summary for c in checked_in(store, targets, since, until, check=False)]


@dataclass(frozen=True)
class Checked:
    """A pruned period as a document states it: its summary, and whether it verified."""

    summary: pruned.Summary
    problem: str | None  # why its summary does not verify (None: it does)
    signature_checked: bool  # False when the data directory's key could not be read


def checked_in(
    store: Store, targets: Iterable[str], since: datetime, until: datetime, *, check: bool = True
) -> list[Checked]:
    """The pruned periods of `targets` that meet [since, until), in target and seq order,
    each checked as `watchdog verify` checks it (digest, signature under the data
    directory's key, and the link to the summary before it) when `check`."""
    wanted = sorted(set(targets))
    if not wanted:
        return []
    rows = pruned.stored(store, pruned_segments.c.target.in_(wanted))
    key: bytes | None = None
    if check and rows:
        try:
            key = checkpoints.read_key(checkpoints.data_dir_of(store))
        except OSError:
            key = None
    start, end = format_instant(since), format_instant(until)
    found: list[Checked] = []
    for per_target in pruned.by_target(rows).values():
        before: tuple[int, str | None] = (0, None)
        for stored in per_target:
            if stored.summary is not None and pruned.overlapping([stored], start, end):
                problem = stored.problem or summary_problem(stored, key, before)
                found.append(Checked(stored.summary, problem if check else None, key is not None))
            before = (stored.last_seq, stored.summary.last_hash if stored.summary else None)
    return found


def summary_problem(
    stored: pruned.Stored, key: bytes | None, before: tuple[int, str | None]
) -> str | None:
    """Why a readable summary does not hold: not signed with `key` (None: not checked), or
    not following `before`, the (last seq, last hash) pruned before it."""
    summary = stored.summary
    assert summary is not None
    if key is not None and summary.key_id != checkpoints.key_id(key):
        return f"it is signed with key {summary.key_id}, not with this data directory's key"
    if key is not None and not hmac.compare_digest(
        checkpoints.sign(key, stored.text.encode()), stored.signature
    ):
        return "its signature does not match its content: it was altered"
    if summary.first_seq != before[0] + 1:
        return f"it should start at seq {before[0] + 1}, after what was pruned before it"
    if summary.first_prev_hash != before[1]:
        return (
            f"its first observation linked to {_show(summary.first_prev_hash)}, not to the "
            f"observation before it ({_show(before[1])})"
        )
    return None


def _show(value: object) -> str:
    """Hashes in full (a reader compares them with other copies), anything else as repr."""
    return value if isinstance(value, str) else repr(value)


# -- applying -------------------------------------------------------------------------------


@dataclass
class Applied:
    summaries: list[pruned.Summary] = field(default_factory=list)
    blobs_removed: int = 0
    bytes_freed: int = 0
    resumed: int = 0  # journals of an earlier, interrupted apply finished first
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        count = sum(s.observations for s in self.summaries)
        resumed = f"; finished {self.resumed} interrupted run(s) first" if self.resumed else ""
        refused = f"; {len(self.refused)} chain(s) refused" if self.refused else ""
        return (
            f"pruned {count} observation(s) of {len(self.summaries)} chain(s), removed "
            f"{self.blobs_removed} evidence blob(s) ({self.bytes_freed} bytes){resumed}{refused}"
        )


def apply(store: Store, planned: Plan, now: datetime, progress: Progress | None = None) -> Applied:
    """Prune what `planned` says is due, one target per transaction (see the module doc)."""
    folder = checkpoints.data_dir_of(store)
    done = Applied()
    done.resumed = _finish_journals(store, done, planned.in_use_since)
    if not planned.due:
        return done
    covering = _checkpoint_heads(folder)
    # Sign the heads first: a store that no longer extends its checkpoint is not pruned (that
    # could destroy the evidence of the damage), and the key the summaries need then exists.
    try:
        checkpoints.write(store, folder)
        key = checkpoints.read_key(folder)
    except (checkpoints.CheckpointError, OSError) as exc:
        raise RetentionError(f"nothing pruned: {exc}") from exc
    pruned_so_far = 0
    for plan_ in planned.due:
        assert plan_.stretch is not None and plan_.cutoff is not None
        summary = _summary(plan_, plan_.stretch, covering, key, now)
        journal = _journal(folder, summary, plan_.stretch.blobs)
        signed = _prune(store, summary, key)
        if isinstance(signed, pruned.Summary):
            done.summaries.append(signed)
            _remove_blobs(store, journal, done, set(), planned.in_use_since)
        else:
            journal.unlink(missing_ok=True)
            done.refused.append(f"{plan_.target}: {signed}")
        pruned_so_far += plan_.stretch.count
        if progress:
            progress(pruned_so_far)
    try:
        checkpoints.write(store, folder)  # the heads after pruning, as `watchdog run` would
    except checkpoints.CheckpointError as exc:
        done.refused.append(f"the checkpoint after pruning: {exc}")
    return done


def _summary(
    plan_: TargetPlan,
    stretch: Stretch,
    covering: list[tuple[str, str, bool, str, int, str]],
    key: bytes,
    now: datetime,
) -> pruned.Summary:
    covered = [
        pruned.Covered(checkpoint=digest, created_at=at, seq=seq, hash=h, timestamped=stamped)
        for digest, at, stamped, target, seq, h in covering
        if target == plan_.target and stretch.first_seq <= seq <= stretch.last_seq
    ]
    return pruned.Summary(
        format=pruned.FORMAT,
        target=plan_.target,
        first_seq=stretch.first_seq,
        last_seq=stretch.last_seq,
        first_prev_hash=None,  # filled in the transaction, from the rows
        first_hash="0" * 64,
        last_hash="0" * 64,
        first_started_at=stretch.first_started_at,
        last_started_at=stretch.last_started_at,
        observations=stretch.count,
        outcomes=stretch.outcomes,
        retention=plan_.retention,
        cutoff=plan_.cutoff or "",
        pruned_at=format_instant(now),
        covered=covered,
        blobs=len(stretch.blobs),
        blob_bytes=stretch.blob_bytes,
        key_id=checkpoints.key_id(key),
    )


def _prune(store: Store, summary: pruned.Summary, key: bytes) -> pruned.Summary | str:
    """Delete the stretch and write its summary in one transaction, and return the summary
    signed; or say why not (the chain changed since the plan, or a checkpoint names a row
    that is not there)."""
    target, first, last = summary.target, summary.first_seq, summary.last_seq
    in_stretch = (observations.c.target == target) & observations.c.seq.between(first, last)
    wanted = {first, last} | {c.seq for c in summary.covered}
    try:
        with store.transaction() as conn:
            conn.execute(
                sa.select(chain_heads.c.seq).where(chain_heads.c.target == target).with_for_update()
            )
            rows = conn.execute(
                sa.select(observations.c.seq, observations.c.hash, *DOCUMENT).where(
                    (observations.c.target == target) & observations.c.seq.in_(sorted(wanted))
                )
            ).all()
            found = {row.seq: row for row in rows}
            count = conn.execute(sa.select(sa.func.count()).where(in_stretch)).scalar()
            if set(found) != wanted or count != summary.observations:
                return f"seq {first}–{last} changed since the plan"
            for c in summary.covered:
                if found[c.seq].hash != c.hash:
                    return (f"the checkpoint of {c.created_at} names seq {c.seq} as {c.hash}, "
                            "which is not the stored row: run `watchdog verify`")  # fmt: skip
            signed = pruned.Summary.model_validate(
                {
                    **summary.model_dump(),
                    "first_prev_hash": (_parse(_text(store, conn, found[first])) or {}).get(
                        "prev_hash"
                    ),
                    "first_hash": found[first].hash,
                    "last_hash": found[last].hash,
                }
            )
            body = signed.body()
            conn.execute(
                sa.insert(pruned_segments).values(
                    target=target,
                    first_seq=first,
                    last_seq=last,
                    doc=body.decode(),
                    digest=signed.digest(),
                    signature=checkpoints.sign(key, body),
                )
            )
            rollup.delete(conn, target, in_stretch)  # and counts their hours again
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot prune {target} seq {first}–{last}: {exc}") from exc
    return signed


def _checkpoint_heads(folder: Path) -> list[tuple[str, str, bool, str, int, str]]:
    """(digest, created_at, timestamped, target, seq, hash) of every head that a checkpoint
    of the data directory (current, replaced, or kept beside a token in `timestamps/` or in a
    `timestamps-replaced-…/` that `checkpoint --force` set aside) names."""
    bodies: dict[str, bytes] = {}
    for path in [folder / checkpoints.FILE, *sorted(folder.glob("checkpoint-replaced-*.json"))]:
        parsed = _read_checkpoint(path)
        if parsed is not None:
            bodies[parsed.digest] = parsed.body()
    stamped = set()
    for tokens in timestamps.token_dirs(folder):  # set aside by `checkpoint --force` too
        for name in timestamps.names_under(tokens):
            where = tokens / name
            if (where.with_suffix(".tsr")).is_file():
                stamped.add(name)
            try:
                bodies.setdefault(name, where.with_suffix(".json").read_bytes())
            except OSError:
                continue
    found = []
    for digest, body in sorted(bodies.items()):
        try:
            read = timestamps.StampedBody.model_validate_json(body)
        except ValidationError:
            continue  # verify names an unreadable checkpoint
        found += [(digest, read.created_at, digest in stamped, h.target, h.seq, h.hash)
                  for h in read.heads]  # fmt: skip
    return found


def _read_checkpoint(path: Path) -> checkpoints.Checkpoint | None:
    try:
        found = checkpoints.parse(path.read_bytes())
    except OSError:
        return None
    return found if isinstance(found, checkpoints.Checkpoint) else None


# -- the blob journal -----------------------------------------------------------------------


def _journal(folder: Path, summary: pruned.Summary, blobs: Iterable[str]) -> Path:
    """Name the blobs to remove before the commit, so a crash after it loses no removal."""
    where = folder / JOURNAL_DIR
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{summary.target}.{summary.first_seq}.json"
    text = json.dumps({"target": summary.target, "first_seq": summary.first_seq,
                       "blobs": sorted(blobs)})  # fmt: skip
    try:
        write_atomically(path, text.encode(), prefix=JOURNAL_PREFIX)
    except OSError as exc:
        raise RetentionError(f"cannot write the journal {path}: {exc}") from exc
    return path


def _finish_journals(store: Store, done: Applied, in_use_since: float) -> int:
    """Finish the removals of an interrupted apply whose prune committed; drop the others."""
    where = checkpoints.data_dir_of(store) / JOURNAL_DIR
    paths = sorted(where.glob("*.json")) if where.is_dir() else []
    committed = {
        (row.target, row.first_seq)
        for row in store.scan(sa.select(pruned_segments.c.target, pruned_segments.c.first_seq))
    }
    entries = {path: _read_journal(path) for path in paths}
    finished = [p for p, e in entries.items() if (e.get("target"), e.get("first_seq")) in committed]
    for path in set(paths) - set(finished):
        path.unlink(missing_ok=True)  # its prune never committed: nothing to remove
    # The plan that wrote these is old: look again at what every stored observation references.
    still = _referenced(store, {sha for p in finished for sha in _blobs(entries[p])})
    for path in finished:
        _remove_blobs(store, path, done, still, in_use_since)
    return len(finished)


def _read_journal(path: Path) -> dict[str, Any]:
    try:
        return _parse(path.read_text(encoding="utf-8", errors="replace")) or {}
    except OSError:
        return {}


def _blobs(entry: dict[str, Any]) -> list[str]:
    found = entry.get("blobs")
    return [b for b in found if isinstance(b, str)] if isinstance(found, list) else []


def _remove_blobs(
    store: Store, journal: Path, done: Applied, still: set[str], in_use_since: float
) -> None:
    """Remove the journal's blobs (but those in `still`, or touched lately), then the journal.

    The plan found them referenced by no kept observation; a probe that writes or reuses one
    meanwhile touches it (`BlobStore.put`), and `in_use_since` keeps it."""
    for sha in _blobs(_read_journal(journal)):
        if sha in still:
            continue
        try:
            path = store.blobs.path(sha)
            stat = path.stat()
            if stat.st_ctime >= in_use_since:
                continue
            path.unlink()
        except (OSError, ValueError):
            continue
        done.blobs_removed += 1
        done.bytes_freed += stat.st_size
    journal.unlink(missing_ok=True)


def _text(store: Store, conn: sa.Connection, row: Any) -> str:
    """The stored text of a row that selected DOCUMENT through `conn` (not `Store.scan`)."""
    return store.documents.text(row.doc, row.zdoc, row.zdict, conn)


def _referenced(store: Store, wanted: set[str]) -> set[str]:
    """Which of `wanted` an observation stored now references."""
    if not wanted:
        return set()
    found: set[str] = set()
    for row in store.scan(sa.select(*DOCUMENT)):
        found |= {sha for sha, _kind in evidence_of(_parse(row.doc))} & wanted
    return found
