"""Database engines for the store: URL handling, SQLite pragmas and write transactions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from watchdog.domain.errors import StoreError

SQLITE_FILE = "watchdog.sqlite3"
# How long a SQLite statement waits for a lock held elsewhere (its busy timeout). Observation
# writes wait less per attempt and retry (watchdog/store/writes.py), so that /healthz shows
# a lock instead of a silent stall: Writer.transaction(lock_wait_s=…).
LOCK_WAIT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10
# Serialises schema creation between workers starting together on one PostgreSQL.
PG_SCHEMA_LOCK_KEY = 0x57A7_C4D0_6C0C_4B01 & 0x7FFF_FFFF_FFFF_FFFF
# Connection execution options read by the SQLite "begin" hook: DEFERRED or IMMEDIATE, and
# the busy timeout of this transaction in ms (set at every BEGIN: pooled connections are
# shared by writers with different waits).
BEGIN_MODE = "watchdog_sqlite_begin"
BUSY_MS = "watchdog_sqlite_busy_ms"


def parse_url(data_dir: Path, database_url: str | None) -> sa.URL:
    """The URL to open: the SQLite file under `data_dir` unless `database_url` is given."""
    if database_url is None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc}") from exc
        return sa.URL.create("sqlite+pysqlite", database=str(data_dir / SQLITE_FILE))
    try:
        url = sa.make_url(database_url)
    except sa.exc.ArgumentError as exc:
        scheme = database_url.split(":", 1)[0]
        raise StoreError(f"database_url is not a valid URL (scheme {scheme!r})") from exc
    # The config documents plain postgresql://; psycopg 3 is the driver we ship with.
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {mask(url)}: use SQLite or PostgreSQL")
    return url


def mask(url: sa.URL) -> str:
    """The URL with its password replaced by ***, safe for logs and error messages."""
    return url.render_as_string(hide_password=True)


def create(url: sa.URL) -> sa.Engine:
    """One engine per store; SQLite gets WAL, synchronous=NORMAL and foreign keys."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}
        )
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use database {mask(url)}: {exc}") from exc


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(
        url, connect_args={"timeout": LOCK_WAIT_S, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (the pysqlite recipe), so writes can
    # take the write lock up front with BEGIN IMMEDIATE instead of failing on upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    options = conn.get_execution_options()
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {options.get(BUSY_MS, _ms(LOCK_WAIT_S))}")
    conn.exec_driver_sql(f"BEGIN {options.get(BEGIN_MODE, 'DEFERRED')}")


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)  # PostgreSQL reads 0 as « wait forever »


class Writer:
    """Opens write transactions: one writer at a time per SQLite file, row locks on PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._lock: AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else nullcontext()
        )

    @contextmanager
    def transaction(
        self, *, schema_change: bool = False, lock_wait_s: float | None = None
    ) -> Iterator[sa.Connection]:
        """A transaction that commits on success and rolls back on any exception.

        With `schema_change`, PostgreSQL sessions also take an advisory lock so that workers
        starting together do not race to create the tables (SQLite's IMMEDIATE suffices).
        With `lock_wait_s`, a lock held elsewhere fails the transaction after that long
        (SQLite busy timeout, PostgreSQL lock_timeout) instead of the default wait.
        """
        with self._lock, self.engine.connect() as conn:
            if self.is_sqlite:
                busy = _ms(lock_wait_s if lock_wait_s is not None else LOCK_WAIT_S)
                conn.execution_options(**{BEGIN_MODE: "IMMEDIATE", BUSY_MS: busy})
            with conn.begin():
                if lock_wait_s is not None and not self.is_sqlite:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {_ms(lock_wait_s)}")
                if schema_change and not self.is_sqlite:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_SCHEMA_LOCK_KEY)))
                yield conn
