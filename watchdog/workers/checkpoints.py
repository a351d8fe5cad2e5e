"""The checkpoint role of the scale-out mode: one worker at a time checkpoints and stamps.

`watchdog run` keeps the checkpoint current and asks the time-stamping authority for a token
at most once per `checkpoints.tsa_every` (watchdog/store/checkpoint.py). Among workers, exactly
one does it: the one holding a PostgreSQL **session advisory lock** (`ROLE_LOCK_KEY`, derived
from the store's schema name) on a connection it keeps for that purpose. Every worker tries to
take the lock every few seconds (`pg_try_advisory_lock`, which never waits); the holder checks
its connection before each checkpoint and writes one whenever a chain grew, whichever worker
appended to it.

Why a lock held by a session rather than the periodic dispatcher task: the lock is released
by PostgreSQL itself when its holder's connection ends — a clean stop, a SIGKILL, a machine
lost (once the server notices the dead connection) — and the next worker that tries takes the
role, with no heartbeat of ours to tune and never two holders at once. The dispatcher runs on
whichever worker takes its job, and a dispatch can overlap the next one: two processes could
then write `checkpoint.json` of the shared data directory at the same time, and a slow TSA
(up to `tsa_timeout`) would delay the enqueueing of every probe.

Consistency while other workers append: a checkpoint reads every chain head in one SELECT,
one snapshot on PostgreSQL; each append updates its head row in the same transaction as it
inserts the observation (under the head row's lock), so every head read is a committed
observation, and the chains only grow after it. The holder's count of what it covered is the
sum of the head seqs (`checkpoint.heads_total`), which every append anywhere increments.

The one window left: a holder whose session ends between its connection check and its write
may still write once while the next holder writes too. Both checkpoints are sound (each names
committed heads, each file is replaced atomically), the older may simply land last; the next
one written extends it.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from watchdog.domain.errors import StoreError
from watchdog.metrics.registry import Metrics
from watchdog.store import Store, timestamps
from watchdog.store.checkpoint import Checkpoint, Checkpointer, data_dir_of, heads_total

log = logging.getLogger(__name__)

# Advisory locks are per database: the key names the schema the store lives in, so that two
# deployments (or two test runs) in separate schemas of one database each have their role.
ROLE_LOCK_KEY = sa.func.hashtextextended(
    sa.literal("prefecture-watchdog checkpoint role ") + sa.func.current_schema(), 0
)
EVERY_S = 2.0  # as `watchdog run` checks for recorded observations


class CheckpointRole:
    """Takes the role when free, checkpoints while held, and gives it back (`stop`)."""

    def __init__(
        self,
        store: Store,
        authority: timestamps.Authority | None,
        metrics: Metrics,
        name: str,
    ) -> None:
        self.store = store
        self.authority = authority
        self.metrics = metrics
        self.name = name
        self.checkpointer: Checkpointer | None = None  # set while the role is held
        self.last: Checkpoint | None = None
        self._conn: sa.Connection | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def tick(self) -> Checkpoint | None:
        """Take the role if it is free; when held, a checkpoint if a chain grew."""
        with self._lock:
            if not self._hold():
                return None
            assert self.checkpointer is not None
            try:
                total = heads_total(self.store)
            except StoreError as exc:
                log.error("checkpoint role: %s", exc)
                return None
            written = self.checkpointer.tick(total)
            if written is not None:
                self.last = written
            return written

    def stop(self) -> None:
        """The last checkpoint (the observations recorded until now), then the role is free."""
        self.tick()
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(ROLE_LOCK_KEY)))
                self._conn.close()
            except sa.exc.SQLAlchemyError:
                self._conn.invalidate()  # its session ends, and the lock with it
            self._conn, self.checkpointer = None, None
            log.info("worker %s gave up the checkpoint role", self.name)

    def _hold(self) -> bool:
        if self._conn is not None:
            try:  # a session lock lives as long as its session: is ours still there?
                self._conn.execute(sa.select(1))
                return True
            except sa.exc.SQLAlchemyError as exc:
                log.error("worker %s lost the checkpoint role (its connection failed: %s)",
                          self.name, str(exc).splitlines()[0])  # fmt: skip
                self._conn.invalidate()
                self._conn, self.checkpointer = None, None
                return False
        conn: sa.Connection | None = None
        try:
            conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            taken = conn.execute(sa.select(sa.func.pg_try_advisory_lock(ROLE_LOCK_KEY))).scalar()
        except sa.exc.SQLAlchemyError as exc:
            if conn is not None:
                conn.invalidate()
            log.debug("checkpoint role not taken: %s", exc)
            return False
        if not taken:
            conn.close()
            return False
        self._conn = conn
        self.checkpointer = Checkpointer(
            self.store, data_dir_of(self.store), self.authority, self.metrics.timestamped
        )
        log.info("worker %s holds the checkpoint role: it writes the checkpoints%s", self.name,
                 " and asks for their timestamps" if self.authority else "")  # fmt: skip
        return True
