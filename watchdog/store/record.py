"""Reading the record without touching it (issue 15): a read-only store, rows, one observation.

`open_read_only` opens the store so that nothing can be written: SQLite through a `mode=ro`
URI (the database file keeps its bytes and mtime; a missing data directory stays missing),
PostgreSQL with `default_transaction_read_only`. It is a `Store` over that engine, so every
read method of watchdog/store works on it; its blob store is only ever read.

`observation_fields` is the one flat view of an observation that `watchdog observations`
prints as a table, JSON or CSV; `inspect` gathers everything about one observation with its
chain position and the checks of its hash, its links and its blobs.

The reads the stages above the store need (the incident rules' last observations, the
bundle's stretches of chain, the open-data rows) are here too: only watchdog/store and
watchdog/stats know the observations table's columns (who imports
watchdog/store/schema.py: tests/test_table_readers.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from watchdog.domain.clock import PARIS
from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.domain.models import (
    SIDE_CHAIN_SUFFIXES,
    EvidenceRefs,
    Observation,
    Outcome,
    SessionEnd,
)
from watchdog.domain.target import Target
from watchdog.evidence.volatile import rebuild
from watchdog.store import BlobStore, Store, pruned
from watchdog.store import connect as engines
from watchdog.store.chain import format_datetime, format_instant, format_reading, sha256_hex
from watchdog.store.db import EVIDENCE_DIR
from watchdog.store.schema import DOCUMENT, chain_heads, observations, pruned_segments

BLOB_KINDS = tuple(k for k in EvidenceRefs.model_fields if k != "html_sha256")
# The flat columns of one observation, in the order the CSV and JSON give them.
COLUMNS = (
    "id",
    "target",
    "department",
    "prefecture",
    "seq",
    "started_paris",
    "started_utc",
    "finished_utc",
    "duration_s",
    "outcome",
    "detail",
    "message",
    "slots",
    "earliest_slot",
    "published_next",
    "final_url",
    "http_status",
    "hash",
    *(f"evidence_{kind}" for kind in BLOB_KINDS),
)


class NothingRecorded(WatchdogError):
    """There is no store where the configuration says the record is."""


def open_read_only(data_dir: Path, database_url: str | None) -> Store:
    """The store opened for reading only; NothingRecorded when there is no SQLite file."""
    if database_url is None:
        path = data_dir / engines.SQLITE_FILE
        if not path.is_file():
            raise NothingRecorded(f"no observation store at {path}: nothing recorded there yet")
        url = sa.URL.create("sqlite+pysqlite", database=str(path))
        engine = sa.create_engine(
            "sqlite+pysqlite://", creator=lambda: _sqlite_read_only(path), poolclass=sa.NullPool
        )
    else:
        url = engines.parse_url(data_dir, database_url)
        engine = engines.create(url)
        event.listen(engine, "connect", _pg_read_only)
    return Store(engine, BlobStore(data_dir / EVIDENCE_DIR), url)


def _sqlite_read_only(path: Path) -> sqlite3.Connection:
    # mode=ro: SQLite refuses every write, and never creates the file.
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro",
        uri=True,
        timeout=engines.LOCK_WAIT_S,
        check_same_thread=False,
    )


def _pg_read_only(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    dbapi_connection.commit()


@dataclass(frozen=True)
class Selection:
    """Which observations to read: each selector, when given, keeps any of its values."""

    targets: tuple[str, ...] | None = None  # None: every target; (): none
    outcomes: tuple[Outcome, ...] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Entry:
    """One stored observation and its position in its target's chain."""

    observation: Observation
    seq: int


def _statement(selection: Selection, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    stmt = sa.select(*columns)
    if selection.targets is not None:
        stmt = stmt.where(observations.c.target.in_(selection.targets))
    if selection.outcomes:
        stmt = stmt.where(observations.c.outcome.in_([o.value for o in selection.outcomes]))
    if selection.since is not None:
        stmt = stmt.where(observations.c.started_at >= format_datetime(selection.since))
    if selection.until is not None:
        stmt = stmt.where(observations.c.started_at < format_datetime(selection.until))
    return stmt


def select(store: Store, selection: Selection) -> Iterator[Entry]:
    """The selected observations in time order (started_at, then id)."""
    columns = (observations.c.seq, *DOCUMENT, observations.c.hash)
    stmt = _statement(selection, *columns).order_by(observations.c.started_at, observations.c.id)
    for row in store.scan(stmt):
        obs = Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})
        yield Entry(obs, row.seq)


def count(store: Store, selection: Selection) -> int:
    """How many observations the selection holds (a progress bar's total)."""
    stmt = _statement(selection, sa.func.count()).select_from(observations)
    rows = list(store.scan(stmt))
    return int(rows[0][0])


def recent(store: Store, target: str, limit: int) -> list[Observation]:
    """The target's last `limit` observations, newest first (by chain position)."""
    stmt = (
        sa.select(*DOCUMENT, observations.c.hash)
        .where(observations.c.target == target)
        .order_by(observations.c.seq.desc())
        .limit(limit)
    )
    return [Observation.model_validate_json(row.doc) for row in store.scan(stmt)]


def last_session_end(store: Store, target: str, reads: int = 500) -> SessionEnd | None:
    """The last assisted session among `target`'s last `reads` assisted reads that ended on
    the site's own word (a read whose detail is `session_expired`), with how long it lasted.
    The mark is in the document only (`env.assisted_session`)."""
    obs = observations.c
    stmt = (
        sa.select(*DOCUMENT)
        .where(obs.target == target, obs.doc.like('%"assisted_session":"%'))
        .order_by(obs.seq.desc())
        .limit(reads)
    )
    by_session: dict[str, list[Observation]] = {}
    for row in store.scan(stmt):
        read = Observation.model_validate_json(row.doc)
        if read.env.assisted_session is not None and read.env.since_solve_s is not None:
            by_session.setdefault(read.env.assisted_session, []).append(read)
    for session, found in by_session.items():  # the newest session first
        ends = [r for r in found if r.detail == "session_expired"]
        if not ends:
            continue
        end = min(ends, key=lambda r: r.env.since_solve_s or 0.0)
        assert end.env.since_solve_s is not None
        before = [r.env.since_solve_s for r in found
                  if r.outcome in (Outcome.AVAILABLE, Outcome.NO_SLOT)
                  and r.env.since_solve_s is not None
                  and r.env.since_solve_s < end.env.since_solve_s]  # fmt: skip
        return SessionEnd(session=session, lasted_s=max(before, default=None),
                          ended_s=end.env.since_solve_s, ended_at=end.started_at)  # fmt: skip
    return None


def chain_spans(
    store: Store, targets: Sequence[str], since: datetime, until: datetime
) -> list[tuple[str, int, int]]:
    """(target, first seq, last seq) of each target's observations started in [since, until),
    by target."""
    obs = observations.c
    stmt = (
        sa.select(
            obs.target, sa.func.min(obs.seq).label("first"), sa.func.max(obs.seq).label("last")
        )
        .where(
            obs.target.in_(list(targets)),
            obs.started_at >= format_instant(since),
            obs.started_at < format_instant(until),
        )
        .group_by(obs.target)
        .order_by(obs.target)
    )
    return [(row.target, row.first, row.last) for row in store.scan(stmt)]


def chain_rows(store: Store, target: str, first_seq: int, last_seq: int) -> Iterator[sa.Row[Any]]:
    """(seq, hash, doc) of `target`'s chain from `first_seq` to `last_seq`, in chain order:
    the exact stored bytes that were hashed."""
    obs = observations.c
    stmt = (
        sa.select(obs.seq, obs.hash, *DOCUMENT)
        .where(obs.target == target, obs.seq.between(first_seq, last_seq))
        .order_by(obs.seq)
    )
    return store.scan(stmt)


# The stored columns an open-data row is made from, in this order (watchdog/opendata).
PUBLISHED = ("id", "target", "started_at", "outcome", "detail", "slots", "earliest_slot",
             "published_next", "simulated", "prev_hash", "hash", "doc")  # fmt: skip


def published_rows(store: Store, selection: Selection) -> Iterator[sa.Row[Any]]:
    """The `PUBLISHED` columns of the selected observations, in the chains' order (their
    unique index): no sort of a million documents, and each target's rows follow one another
    as its chain links them."""
    columns = [observations.c[name] for name in PUBLISHED] + list(DOCUMENT[1:])
    stmt = _statement(selection, *columns).order_by(observations.c.target, observations.c.seq)
    # Accessibility audits, substitute channel checks (issue 18) and assisted sessions'
    # records (issue 16), each in its own chains, are no attempt at a booking: no row.
    for suffix in SIDE_CHAIN_SUFFIXES:
        stmt = stmt.where(observations.c.target.not_like(f"%{suffix}"))
    return store.scan(stmt)


def paris(instant: datetime) -> str:
    """An instant as Paris wall time with its offset, to the second."""
    return instant.astimezone(PARIS).isoformat(timespec="seconds")


def evidence_paths(obs: Observation, blobs: BlobStore) -> dict[str, str]:
    """kind -> path of each evidence blob the observation references."""
    return {kind: str(blobs.path(sha)) for kind, sha in obs.evidence.blobs().items()}


def observation_fields(entry: Entry, target: Target | None, blobs: BlobStore) -> dict[str, Any]:
    """The flat view of an observation (COLUMNS): JSON types, None where there is no value."""
    obs = entry.observation
    paths = evidence_paths(obs, blobs)
    values: dict[str, Any] = {
        "id": obs.id,
        "target": obs.target,
        "department": target.department if target else None,
        "prefecture": target.prefecture if target else None,
        "seq": entry.seq,
        "started_paris": paris(obs.started_at),
        "started_utc": format_datetime(obs.started_at),
        "finished_utc": format_datetime(obs.finished_at),
        "duration_s": obs.duration_s,
        "outcome": obs.outcome.value,
        "detail": obs.detail,
        "message": obs.message,
        "slots": obs.slots,
        "earliest_slot": _reading(obs.earliest_slot),
        "published_next": _reading(obs.published_next),
        "final_url": obs.final_url,
        "http_status": obs.http_status,
        "hash": obs.hash,
    }
    values.update({f"evidence_{kind}": paths.get(kind) for kind in BLOB_KINDS})
    return values


def _reading(value: datetime | None) -> str | None:
    return format_reading(value) if value is not None else None


# -- one observation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One verification of an observation: what was checked, whether it holds, and why not."""

    name: str
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class Inspection:
    """Everything about one observation: the stored document, its chain position, checks."""

    observation: Observation
    document: str  # the stored canonical JSON, exactly the bytes that were hashed
    seq: int
    chain_length: int  # the target's chain head seq
    previous_id: str | None
    next_id: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def inspect(store: Store, obs_id: str) -> Inspection:
    """Read one observation with its neighbours and check its hash, links and blobs."""
    row = _row(store, observations.c.id == obs_id)
    if row is None:
        raise WatchdogError(f"no observation {obs_id!r} in the store ({store.url})")
    target, seq = row.target, row.seq
    previous = _row(store, (observations.c.target == target) & (observations.c.seq == seq - 1))
    following = _row(store, (observations.c.target == target) & (observations.c.seq == seq + 1))
    head = _head(store, target)
    obs = Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})
    checks = [_hash_check(row.doc, row.hash)]
    checks.append(_link_check(obs.prev_hash, previous, seq, _pruned_before(store, target, seq)))
    if following is not None:
        checks.append(_next_check(row.hash, following))
    checks += blob_checks(obs, store.blobs)
    return Inspection(
        observation=obs,
        document=row.doc,
        seq=seq,
        chain_length=head,
        previous_id=previous.id if previous is not None else None,
        next_id=following.id if following is not None else None,
        checks=checks,
    )


def last_entry(store: Store, target: str) -> Entry | None:
    """The head of `target`'s chain (its latest observation); None when it has none."""
    head = _head(store, target)
    row = _row(store, (observations.c.target == target) & (observations.c.seq == head))
    if row is None:
        return None
    obs = Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})
    return Entry(obs, row.seq)


def find(store: Store, obs_id: str) -> Entry | None:
    """One observation by id, without the checks of `inspect`; None when there is none."""
    row = _row(store, observations.c.id == obs_id)
    if row is None:
        return None
    obs = Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})
    return Entry(obs, row.seq)


def _row(store: Store, where: sa.ColumnElement[bool]) -> sa.Row[Any] | None:
    stmt = sa.select(
        observations.c.id, observations.c.target, observations.c.seq, *DOCUMENT,
        observations.c.hash,
    ).where(where)  # fmt: skip
    return next(iter(list(store.scan(stmt))), None)


def _head(store: Store, target: str) -> int:
    stmt = sa.select(chain_heads.c.seq).where(chain_heads.c.target == target)
    rows = list(store.scan(stmt))
    return int(rows[0].seq) if rows else 0


def _hash_check(doc: str, digest: str) -> Check:
    computed = sha256_hex(doc.encode("utf-8", "surrogatepass"))
    if computed == digest:
        return Check("hash", True, "the SHA-256 of the stored document is its hash")
    return Check("hash", False, f"the stored document hashes to {computed}, not {digest}")


def _pruned_before(store: Store, target: str, seq: int) -> pruned.Summary | None:
    """The summary of the pruned period that ends just before `seq`, if retention pruned it."""
    where = (pruned_segments.c.target == target) & (pruned_segments.c.last_seq == seq - 1)
    found = pruned.stored(store, where)
    return found[0].summary if found else None


def _link_check(
    prev_hash: str | None,
    previous: sa.Row[Any] | None,
    seq: int,
    summary: pruned.Summary | None = None,
) -> Check:
    if previous is None:
        if seq == 1 and prev_hash is None:
            return Check("previous link", True, "first of its chain (no previous hash)")
        if summary is not None and summary.last_hash == prev_hash:
            return Check("previous link", True, f"prev_hash names the last observation of "
                         f"{summary.seqs()}, pruned by retention ({summary.period()})")  # fmt: skip
        return Check("previous link", False, f"seq {seq - 1} is missing from the store")
    if previous.hash == prev_hash:
        return Check("previous link", True, f"prev_hash names seq {seq - 1} ({previous.id})")
    return Check(
        "previous link", False, f"prev_hash {prev_hash} is not seq {seq - 1}'s {previous.hash}"
    )


def _next_check(digest: str, following: sa.Row[Any]) -> Check:
    doc = Observation.model_validate_json(following.doc)
    if doc.prev_hash == digest:
        return Check("next link", True, f"seq {following.seq} ({following.id}) names this hash")
    return Check("next link", False, f"seq {following.seq} names {doc.prev_hash}, not this hash")


def blob_checks(obs: Observation, blobs: BlobStore) -> list[Check]:
    """Each referenced blob hashes to its name; a split page rebuilds to its html_sha256."""
    checks = []
    for kind, sha in obs.evidence.blobs().items():
        if not blobs.exists(sha):
            checks.append(Check(kind, False, f"blob {sha} is missing"))
        elif not blobs.verify(sha):
            checks.append(Check(kind, False, f"blob {sha} does not hash to its name"))
        else:
            checks.append(Check(kind, True, f"blob {sha} hashes to its name"))
    if obs.evidence.html_sha256 is not None:
        checks.append(_page_check(obs, blobs))
    return checks


def _page_check(obs: Observation, blobs: BlobStore) -> Check:
    expected = obs.evidence.html_sha256
    try:
        page = rebuild(obs.evidence, blobs.get)
    except (StoreError, ValueError) as exc:
        return Check("page as served", False, f"cannot rebuild it: {exc}")
    if page is not None and hashlib.sha256(page).hexdigest() == expected:
        return Check("page as served", True, f"skeleton + volatile record rebuild {expected}")
    return Check("page as served", False, f"the rebuilt page does not hash to {expected}")


def department_targets(catalog: Sequence[Target], departments: Sequence[str]) -> list[str]:
    """Ids of the catalog's targets in any of `departments`; WatchdogError when none."""
    found = [t.id for t in catalog if t.department in departments]
    if not found:
        raise WatchdogError(f"no target of département {', '.join(departments)} in the catalog")
    return found
