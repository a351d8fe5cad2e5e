"""The database as an intruder changes it: a plain connection, foreign keys not enforced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from watchdog.store import Store
from watchdog.store.schema import observations

Sql = Callable[[sa.Executable], None]


@contextmanager
def intruder_sql(store: Store) -> Iterator[Sql]:
    """Run statements on `store`'s database outside the store, each in its own transaction."""
    engine = sa.create_engine(store.engine.url)

    def run(stmt: sa.Executable) -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(stmt)

    try:
        yield run
    finally:
        engine.dispose()


def stored_row(store: Store, target: str, seq: int) -> sa.Row[Any]:
    """The stored row of `target` at `seq`, every column."""
    where = (observations.c.target == target) & (observations.c.seq == seq)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(observations).where(where)).one()
