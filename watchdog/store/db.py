"""The observation store: hash-chained observation rows plus the evidence blob store.

Thread-safe (one engine; async callers use `asyncio.to_thread`). Each append seals the
observation against its target's chain head and writes the row and the new head in one
transaction: on PostgreSQL the head row is locked (SELECT … FOR UPDATE), on SQLite the
transaction starts with BEGIN IMMEDIATE. A write that fails for a reason that can heal (a
lock, a full disk, a lost connection: watchdog/store/writes.py) is rolled back and retried
with back-off; one that still fails is counted as dropped and raises StoreError. `health`
says whether writes succeed right now.
"""

from __future__ import annotations

import collections
import functools
import operator
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from watchdog.domain.errors import StoreError, StoreUnavailable
from watchdog.domain.models import Observation, Outcome
from watchdog.store import connect as engines
from watchdog.store import rollup
from watchdog.store.blobs import BlobStore
from watchdog.store.chain import Sealed, format_instant, seal_document
from watchdog.store.documents import Dictionary, DocumentError, Documents
from watchdog.store.schema import (
    DOCUMENT,
    DOCUMENT_PARTS,
    chain_heads,
    column_values,
    ensure_schema,
    observations,
)
from watchdog.store.writes import (
    RetryClock,
    WriteHealth,
    WriteKind,
    WriteRetry,
    is_lock_contention,
    is_transient,
)

EVIDENCE_DIR = "evidence"
STREAM_BATCH = 1000

T = TypeVar("T")
Head = tuple[int, str | None]  # (seq, hash) of a target's last observation
# Runs inside an append's transaction, after the chain heads are locked and before the rows
# are written; raising aborts the append whole (scale-out workers settle a probe's claim
# in the very transaction that chains its observation: docs/runbook.md, « Scale-out »).
Guard = Callable[[sa.Connection], None]

# Built once: SQLAlchemy then reuses their compiled form on every append.
_SELECT_HEADS = (
    sa.select(chain_heads)
    .where(chain_heads.c.target.in_(sa.bindparam("targets", expanding=True)))
    .order_by(chain_heads.c.target)
    .with_for_update()
)
# Rows are written as tuples in table order, straight to the driver: an executemany of one
# prepared INSERT, or on PostgreSQL from COPY_FROM rows on, COPY (one stream for the batch).
COLUMNS = tuple(column.name for column in observations.columns)
COPY_FROM = 16
_IN_TABLE_ORDER = operator.itemgetter(*COLUMNS)  # a row's values as the tuple the driver takes
_INSERT = "INSERT INTO observations ({}) VALUES ({})".format(", ".join(COLUMNS), "{}")
_INSERTS = {  # by the driver's parameter style
    "sqlite": _INSERT.format(", ".join("?" * len(COLUMNS))),
    "postgresql": _INSERT.format(", ".join(["%s"] * len(COLUMNS))),
}
_PG_COPY = f"COPY observations ({', '.join(COLUMNS)}) FROM STDIN"
_UPDATE_HEAD = (
    sa.update(chain_heads)
    .where(chain_heads.c.target == sa.bindparam("b_target"))
    .values(seq=sa.bindparam("b_seq"), hash=sa.bindparam("b_hash"))
)


class Store:
    """Observations (SQLite or PostgreSQL) and evidence blobs (a directory)."""

    def __init__(
        self,
        engine: sa.Engine,
        blobs: BlobStore,
        url: sa.URL,
        retry: WriteRetry | None = None,
        health: WriteHealth | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.url = engines.mask(url)
        self.retry = retry or WriteRetry()
        self.health = health or WriteHealth()
        self._url = url  # unmasked: its password is masked in errors, handed only to readers
        self._writer = engines.Writer(engine)
        self._stop_retrying = threading.Event()
        # Packs and unpacks the stored documents (schema version 4): the one way to read them.
        self.documents = Documents(engine)

    @classmethod
    def open(
        cls, data_dir: Path, database_url: str | None = None, retry: WriteRetry | None = None
    ) -> Store:
        """Open (and create or upgrade) the store; SQLite in `data_dir` unless a URL is given."""
        url = engines.parse_url(data_dir, database_url)
        retry = retry or WriteRetry()
        health = WriteHealth()
        engine = engines.create(url)
        store = cls(engine, BlobStore(data_dir / EVIDENCE_DIR, health), url, retry, health)
        try:
            store._retrying("cannot open the store", store._ensure_schema, is_lock_contention)
        except StoreError:
            store.close()
            raise
        return store

    def reader_spec(self) -> tuple[str, str]:
        """What another process needs to read this store (`Store.reader`): its database URL,
        password included (never to be logged), and its evidence directory."""
        return self._url.render_as_string(hide_password=False), str(self.blobs.root)

    @classmethod
    def reader(cls, spec: tuple[str, str]) -> Store:
        """The store `reader_spec` describes, opened to read as it is (no schema change)."""
        url = sa.make_url(spec[0])
        return cls(engines.create(url), BlobStore(Path(spec[1])), url)

    def _ensure_schema(self) -> None:
        with self._writer.transaction(schema_change=True) as conn:
            ensure_schema(conn)

    def stop_retrying(self) -> None:
        """Give up waiting writes now (at shutdown): each is counted as dropped and raised."""
        self._stop_retrying.set()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------

    def append(self, obs: Observation, guard: Guard | None = None) -> Observation:
        """Seal `obs` after its target's chain head and store it; return the sealed copy."""
        return self.append_many([obs], guard)[0]

    def append_many(self, batch: Sequence[Observation], guard: Guard | None = None) -> SealedBatch:
        """Append a batch in one transaction (all or nothing), in order within each target.

        Returns the sealed copies, each parsed from its stored bytes when first read (a bulk
        ingest that drops them never pays for it).

        A transient failure is retried (`retry`); when it persists, or for any other
        database error, the batch is counted as dropped and StoreError names it. `guard`
        runs in the same transaction once the heads are locked; what it raises (other than
        a database error) aborts the append and reaches the caller as it is.
        """
        if not batch:
            return SealedBatch([])
        targets = sorted({obs.target for obs in batch})
        what = f"cannot append {len(batch)} observation(s) for {', '.join(targets)}"
        try:
            sealed = self._retrying(
                what, lambda: self._append_once(batch, targets, guard), is_transient
            )
        except StoreError as exc:
            self.health.dropped(len(batch))
            ids = ", ".join(obs.id for obs in batch)
            raise type(exc)(f"{exc}; dropped: {ids}") from exc
        return sealed

    def _append_once(
        self, batch: Sequence[Observation], targets: list[str], guard: Guard | None
    ) -> SealedBatch:
        learned: list[tuple[str, Dictionary]] = []
        with self._writer.transaction(lock_wait_s=self.retry.lock_wait_s) as conn:
            heads = _lock_heads(conn, targets)
            if guard is not None:
                guard(conn)
            rows, sealed = _seal_rows(batch, heads, self.documents, conn, learned)
            _insert_rows(conn, rows)
            rollup.add(conn, rows)  # the report's counts, in the same transaction
            _update_heads(conn, heads)
        self.documents.commit(learned)  # only now: a rolled-back dictionary does not exist
        return SealedBatch(sealed)

    def _retrying(
        self, what: str, attempt: Callable[[], T], retry_on: Callable[[BaseException], bool]
    ) -> T:
        """Run `attempt` until it succeeds, retrying the errors `retry_on` accepts."""
        clock = RetryClock(self.retry, self._stop_retrying)
        while True:
            try:
                result = attempt()
            except sa.exc.SQLAlchemyError as exc:
                error = self._failure(what, exc)
                self.health.failed(WriteKind.OBSERVATION, str(error))
                if not retry_on(exc):
                    raise error from exc
                if not clock.pause():
                    raise type(error)(
                        f"{error} (still failing after {clock.attempts} attempts "
                        f"in {clock.elapsed:.0f} s)"
                    ) from exc
            else:
                self.health.succeeded(WriteKind.OBSERVATION)
                return result

    def transaction(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction, as appends take (for the store's own writers: retention)."""
        return self._writer.transaction(lock_wait_s=self.retry.lock_wait_s)

    # -- reading ------------------------------------------------------------------------

    def get(self, obs_id: str) -> Observation | None:
        stmt = sa.select(*DOCUMENT, observations.c.hash).where(observations.c.id == obs_id)
        return self._first(stmt)

    def last_for_target(self, target: str) -> Observation | None:
        return self._first(_heads_join().where(chain_heads.c.target == target))

    def last_per_target(self) -> dict[str, Observation]:
        return {obs.target: obs for obs in self._observations(_heads_join())}

    def last_of(self, chains: Sequence[str]) -> dict[str, Observation]:
        """The last observation of each of `chains` that has one (e.g. audit chains)."""
        stmt = _heads_join().where(chain_heads.c.target.in_(list(chains)))
        return {obs.target: obs for obs in self._observations(stmt)}

    def latest_of(self, chain: str, limit: int) -> list[Observation]:
        """The last `limit` observations of one chain, newest first (e.g. an audit chain,
        where the last audit of each profile is among the last few runs)."""
        stmt = (
            sa.select(*DOCUMENT, observations.c.hash)
            .where(observations.c.target == chain)
            .order_by(observations.c.seq.desc())
            .limit(limit)
        )
        return list(self._observations(stmt))

    def iter_observations(
        self,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Iterable[Outcome] | None = None,
    ) -> Iterator[Observation]:
        """Stream observations ordered by target then seq; `since` inclusive, `until` not."""
        stmt = sa.select(*DOCUMENT, observations.c.hash).order_by(
            observations.c.target, observations.c.seq
        )
        if target is not None:
            stmt = stmt.where(observations.c.target == target)
        if since is not None:
            stmt = stmt.where(observations.c.started_at >= format_instant(since))
        if until is not None:
            stmt = stmt.where(observations.c.started_at < format_instant(until))
        if outcomes is not None:
            stmt = stmt.where(observations.c.outcome.in_([Outcome(o).value for o in outcomes]))
        return self._observations(stmt)

    def count(self, target: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(observations)
        if target is not None:
            stmt = stmt.where(observations.c.target == target)
        return int(self._scalar(stmt) or 0)

    def targets(self) -> list[str]:
        """Every target with at least one observation, sorted."""
        stmt = sa.select(chain_heads.c.target).where(chain_heads.c.seq > 0)
        return sorted(row.target for row in self.scan(stmt))

    def scan(self, stmt: sa.Select[Any], *, raw: bool = False) -> Generator[Any]:
        """Stream the rows of a read-only statement over the store's tables.

        A statement that selects the document's parts (DOCUMENT: `doc`, `zdoc`, `zdict`)
        yields rows with `doc` the stored canonical text and no `zdoc`/`zdict` (DocumentError
        when one cannot be read), unless `raw` (for `watchdog verify`, which names the row).
        """
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=STREAM_BATCH).execute(stmt)
                keys = tuple(result.keys())
                if raw or not all(k in keys for k in ("doc", *DOCUMENT_PARTS)):
                    yield from result
                    return
                yield from self._unpacked(result, keys)
        except sa.exc.SQLAlchemyError as exc:
            raise self._failure("cannot read the store", exc) from exc

    def _unpacked(self, rows: Iterable[sa.Row[Any]], keys: tuple[str, ...]) -> Iterator[Any]:
        """Rows with the document's text as `doc` (see `scan`)."""
        kind = _document_row(keys)
        doc, zdoc, zdict = (keys.index(k) for k in ("doc", *DOCUMENT_PARTS))
        kept = [i for i, k in enumerate(keys) if k not in DOCUMENT_PARTS]
        text = self.documents.text
        for row in rows:
            values = list(row)
            if values[zdoc] is not None:
                try:
                    values[doc] = text(values[doc], values[zdoc], values[zdict])
                except DocumentError as exc:
                    raise DocumentError(
                        f"a stored document cannot be read ({exc}): run `watchdog verify`"
                    ) from exc
            yield kind(*(values[i] for i in kept))

    def _observations(self, stmt: sa.Select[Any]) -> Generator[Observation]:
        for row in self.scan(stmt):
            yield Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})

    def _first(self, stmt: sa.Select[Any]) -> Observation | None:
        with closing(self._observations(stmt)) as found:
            return next(found, None)

    def _scalar(self, stmt: sa.Select[Any]) -> Any:
        with closing(self.scan(stmt)) as rows:
            return next(rows)[0]

    def _failure(self, what: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
        """A StoreError naming the database (password masked) and the driver's reason."""
        orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        if self._url.password:
            reason = reason.replace(self._url.password, "***")
        message = f"{what} ({self.url}): {reason}"
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            return StoreUnavailable(message)
        return StoreError(message)


@functools.cache
def _document_row(keys: tuple[str, ...]) -> Any:
    """A named tuple type for rows of `keys` without the document's parts."""
    names = [k for k in keys if k not in DOCUMENT_PARTS]
    return collections.namedtuple("DocumentRow", names, rename=True)


def _heads_join() -> sa.Select[Any]:
    return (
        sa.select(*DOCUMENT, observations.c.hash)
        .join(
            chain_heads,
            sa.and_(
                chain_heads.c.target == observations.c.target,
                chain_heads.c.seq == observations.c.seq,
            ),
        )
        .order_by(observations.c.target)
    )


def _lock_heads(conn: sa.Connection, targets: list[str]) -> dict[str, Head]:
    """Lock the heads of `targets` (created at seq 0 when new) and return them.

    Heads are locked in target order, so batches sharing targets cannot deadlock.
    """
    params = {"targets": targets}
    heads = {row.target: (row.seq, row.hash) for row in conn.execute(_SELECT_HEADS, params)}
    missing = [t for t in targets if t not in heads]
    if missing:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        new_heads = [{"target": t, "seq": 0, "hash": None} for t in missing]
        conn.execute(insert(chain_heads).on_conflict_do_nothing(), new_heads)
        heads = {row.target: (row.seq, row.hash) for row in conn.execute(_SELECT_HEADS, params)}
    return heads


def _seal_rows(
    batch: Sequence[Observation],
    heads: dict[str, Head],
    documents: Documents,
    conn: sa.Connection,
    learned: list[tuple[str, Dictionary]],
) -> tuple[list[tuple[Any, ...]], list[Sealed]]:
    """Seal each observation after its target's head, advancing `heads` in place."""
    rows: list[tuple[Any, ...]] = []
    sealed: list[Sealed] = []
    for obs in batch:
        seq, prev_hash = heads[obs.target]
        result = seal_document(obs, prev_hash)
        row = column_values(result.document)
        packed = documents.pack(conn, obs.target, result.canonical, learned)
        row.update(
            seq=seq + 1, hash=result.hash, doc=packed.doc, zdoc=packed.zdoc, zdict=packed.zdict
        )
        rows.append(_IN_TABLE_ORDER(row))
        sealed.append(result)
        heads[obs.target] = (seq + 1, result.hash)
    return rows, sealed


def _insert_rows(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Write the sealed rows in their order: executemany, or COPY for a PostgreSQL batch."""
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        conn.exec_driver_sql(_INSERTS[conn.dialect.name], rows)
        return
    driver = conn.connection.driver_connection
    assert driver is not None  # an open transaction's connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi_error as exc:  # raised by the driver itself: wrap it as SQLAlchemy would
        lost = conn.dialect.is_disconnect(exc, driver, None)
        if lost:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            _PG_COPY, None, exc, dbapi_error, connection_invalidated=lost
        ) from exc


class SealedBatch(Sequence[Observation]):
    """The sealed copies of an appended batch, in its order, each parsed when first read."""

    def __init__(self, sealed: list[Sealed]) -> None:
        self._sealed = sealed

    def __len__(self) -> int:
        return len(self._sealed)

    @overload
    def __getitem__(self, index: int) -> Observation: ...
    @overload
    def __getitem__(self, index: slice) -> list[Observation]: ...
    def __getitem__(self, index: int | slice) -> Observation | list[Observation]:
        if isinstance(index, slice):
            return [result.observation for result in self._sealed[index]]
        return self._sealed[index].observation

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by value, like a list


def _update_heads(conn: sa.Connection, heads: dict[str, Head]) -> None:
    params = [{"b_target": t, "b_seq": seq, "b_hash": h} for t, (seq, h) in heads.items()]
    conn.execute(_UPDATE_HEAD, params)
