"""Write faults of the store: which ones heal, how long to retry them, and the write health.

A locked database (SQLite busy, a PostgreSQL lock timeout, serialization failure or
deadlock), a full disk, a read-only file or a lost connection can heal by themselves or by an
operator's hand, so a write meeting one is retried with exponential back-off until
`WriteRetry.budget_s` is spent. Every failed attempt is counted; a batch given up is counted
as dropped and raised as a StoreError naming its observations: nothing disappears without a
log line and a counter. `WriteHealth` is shared by the writer threads and the event loop that
serves /healthz and /metrics, hence its lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

# Primary SQLite result codes that a later attempt may not meet: BUSY, READONLY, IOERR,
# FULL, CANTOPEN, PROTOCOL (https://www.sqlite.org/rescode.html). LOCKED is contention too.
SQLITE_LOCK_CODES = frozenset({5, 6})
SQLITE_TRANSIENT_CODES = SQLITE_LOCK_CODES | {8, 10, 13, 14, 15}
# PostgreSQL SQLSTATEs: serialization failure, deadlock, lock not available (lock_timeout).
PG_LOCK_STATES = frozenset({"40001", "40P01", "55P03"})
# ... and read-only transaction (a standby after failover), query cancelled, operator or
# crash shutdown, cannot connect now, I/O error; classes 08 (connection), 53 (disk full,
# out of memory, too many connections).
PG_TRANSIENT_STATES = PG_LOCK_STATES | {"25006", "57014", "57P01", "57P02", "57P03", "58030"}
PG_TRANSIENT_CLASSES = ("08", "53")

log = logging.getLogger(__name__)


class WriteKind(StrEnum):
    """What a write stores (the `kind` label of watchdog_store_write_errors_total)."""

    OBSERVATION = "observation"
    EVIDENCE = "evidence"


def is_lock_contention(exc: BaseException) -> bool:
    """True for a lock held elsewhere: worth waiting for, even when opening the store."""
    code = _sqlite_code(exc)
    if code is not None:
        return code in SQLITE_LOCK_CODES
    return _pg_state(exc) in PG_LOCK_STATES


def is_transient(exc: BaseException) -> bool:
    """True when the same write may succeed later (locks, full disk, lost connection)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    code = _sqlite_code(exc)
    if code is not None:
        return code in SQLITE_TRANSIENT_CODES
    state = _pg_state(exc)
    return state is not None and (
        state in PG_TRANSIENT_STATES or state.startswith(PG_TRANSIENT_CLASSES)
    )


def _sqlite_code(exc: BaseException) -> int | None:
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if not isinstance(orig, sqlite3.Error):
        return None
    code = getattr(orig, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _pg_state(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


@dataclass(frozen=True)
class WriteRetry:
    """How long a write is retried, and how long one attempt waits for a lock."""

    budget_s: float = 120.0  # a database locked for 45 s (a backup, a vacuum) loses nothing
    first_delay_s: float = 0.25
    max_delay_s: float = 5.0
    lock_wait_s: float = 5.0  # per attempt (SQLite busy timeout, PostgreSQL lock_timeout)

    def delays(self) -> Iterator[float]:
        """Pauses between attempts: doubling from `first_delay_s`, capped at `max_delay_s`."""
        delay = self.first_delay_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_delay_s)


@dataclass(frozen=True)
class Failing:
    """A kind of write that has failed since its last success."""

    kind: WriteKind
    since: datetime
    error: str
    attempts: int


@dataclass(frozen=True)
class WriteSnapshot:
    """The store's write health at one instant (for /healthz and /metrics)."""

    errors: dict[WriteKind, int]
    dropped: int
    failing: tuple[Failing, ...]

    @property
    def writable(self) -> bool:
        return not self.failing


class WriteHealth:
    """Counts failed writes and dropped observations; knows which kinds fail right now.

    A kind stops failing at its next successful write, so /healthz never keeps an error
    that no longer holds; the counters keep the history. The log says when a kind starts
    failing and when it heals (not each retry: a full disk would flood it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors = dict.fromkeys(WriteKind, 0)
        self._dropped = 0
        self._failing: dict[WriteKind, Failing] = {}

    def failed(self, kind: WriteKind, error: str) -> None:
        with self._lock:
            self._errors[kind] += 1
            before = self._failing.get(kind)
            since = before.since if before is not None else datetime.now(UTC)
            attempts = before.attempts + 1 if before is not None else 1
            self._failing[kind] = Failing(kind, since, error, attempts)
        if before is None:
            log.error("store: %s writes failing: %s", kind.value, error)

    def succeeded(self, kind: WriteKind) -> None:
        if kind not in self._failing:  # unlocked peek: the common case takes no lock
            return
        with self._lock:
            healed = self._failing.pop(kind, None)
        if healed is not None:
            took = (datetime.now(UTC) - healed.since).total_seconds()
            log.warning("store: %s writes succeed again after %.1f s and %d failed attempt(s)",
                        kind.value, took, healed.attempts)  # fmt: skip

    def dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    def snapshot(self) -> WriteSnapshot:
        with self._lock:
            return WriteSnapshot(dict(self._errors), self._dropped, tuple(self._failing.values()))


class RetryClock:
    """Deadline and pauses of one retried write; `stop` (shared) cuts every pause short."""

    def __init__(self, retry: WriteRetry, stop: threading.Event) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + retry.budget_s
        self._delays = retry.delays()
        self._stop = stop
        self.attempts = 1

    def pause(self) -> bool:
        """Wait before the next attempt; False when the budget is spent or the store stops."""
        delay = next(self._delays)
        if time.monotonic() + delay > self.deadline or self._stop.wait(delay):
            return False
        self.attempts += 1
        return True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
