"""Store ingest (issue 20, item 6): observations per second sealed and stored in batches.

    python -m bench.ingest                    # 50,000 observations by 500, SQLite + PostgreSQL
    python -m bench.ingest --count 20000 --repeats 5

For each backend: `Store.append_many` in batches (the sealed copies dropped, as a bulk caller
would), `Store.append` one by one, and the driver's floor in the same run — the very rows the
store wrote, already sealed, inserted again by the bare driver (sqlite3 `executemany`,
psycopg `COPY`) into a fresh table with the same indexes: what the store adds is sealing,
the chain heads and its transaction. Rates are per second of wall time and of this process's
CPU time (on a shared machine the CPU ones stay put while the wall ones follow the load;
PostgreSQL's own CPU is the server's and not counted). PostgreSQL is the one of
WATCHDOG_BENCH_PG_URL, else the test database on 127.0.0.1:5432; when it cannot be reached
its figures say so instead.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.micro import median_of
from watchdog.domain.models import Env, Observation, Outcome, Step
from watchdog.store import Store
from watchdog.store.db import COLUMNS
from watchdog.store.schema import chain_heads, observations

PG_URL = os.environ.get(
    "WATCHDOG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MESSAGE = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)


def observation(n: int, targets: int) -> Observation:
    started = T0 + timedelta(seconds=n)
    target = f"ingest-{n % targets}"
    return Observation(
        id=f"{target}-{n:08d}", target=target, outcome=Outcome.NO_SLOT, detail="no_free_slot",
        message=MESSAGE, started_at=started, finished_at=started + timedelta(seconds=1.2),
        duration_s=1.2, final_url="https://www.example.gouv.fr/booking/create/1/2",
        http_status=200,
        steps=[Step(name="conditions", url="https://www.example.gouv.fr/booking/create/1/0",
                    status=200, ms=300)],
        env=Env(software="bench", browser="chromium", browser_version="156"),
    )  # fmt: skip


@contextmanager
def pg_database() -> Iterator[str | None]:
    """A fresh schema on the bench PostgreSQL (dropped after), or None when unreachable."""
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 5})
    schema = f"wd_bench_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        engine.dispose()
        yield None
        return
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def ingest(count: int, batch: int, database_url: str | None, targets: int = 100) -> dict[str, Any]:
    """One backend's figures (see the module docstring)."""
    observations_ = [observation(n, targets) for n in range(count)]
    singles = [observation(count + n, targets) for n in range(min(count // 10, 1000))]
    with tempfile.TemporaryDirectory(prefix="wd-ingest-") as tmp:
        store = Store.open(Path(tmp), database_url)

        def append_batches() -> None:  # sealed copies are dropped, as a bulk caller would
            for i in range(0, count, batch):
                store.append_many(observations_[i : i + batch])

        def append_singles() -> None:
            for obs in singles:
                store.append(obs)

        try:
            batched, single = _timed(append_batches), _timed(append_singles)
            floor = _floor(store, batch)
        finally:
            store.close()
    return {
        "observations": count,
        "batch": batch,
        "per_second_batched": round(count / batched[0]),
        "per_second_one_by_one": round(len(singles) / single[0]),
        "per_second_floor": round(floor[0]),
        "cpu_per_second_batched": round(count / batched[1]),
        "cpu_per_second_one_by_one": round(len(singles) / single[1]),
        "cpu_per_second_floor": round(floor[1]),
    }


def _floor(store: Store, batch: int) -> tuple[float, float]:
    """The driver alone: the stored rows inserted again, in batches, into an empty copy;
    (rows per wall second, rows per CPU second)."""
    with store.engine.connect() as conn:
        stmt = sa.select(*observations.c).order_by(observations.c.target, observations.c.seq)
        rows = [tuple(row) for row in conn.execute(stmt)]
    copy = sa.MetaData()
    chain_heads.to_metadata(copy)  # referred to by the copy's foreign key; exists already
    table = observations.to_metadata(copy, name="observations_floor")
    for item in [*table.indexes, *table.constraints]:  # names are per schema
        if isinstance(item.name, str):
            item.name = f"{item.name}_floor"
    copy.create_all(store.engine)
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        postgresql = store.engine.dialect.name == "postgresql"

        def insert() -> None:
            for i in range(0, len(rows), batch):
                part = rows[i : i + batch]
                if postgresql:
                    names = ", ".join(COLUMNS)
                    with cursor.copy(f"COPY observations_floor ({names}) FROM STDIN") as out:
                        for row in part:
                            out.write_row(row)
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                    marks = ", ".join("?" * len(COLUMNS))
                    cursor.executemany(f"INSERT INTO observations_floor VALUES ({marks})", part)
                raw.commit() if postgresql else cursor.execute("COMMIT")

        wall, cpu = _timed(insert)
    finally:
        raw.close()
    return len(rows) / wall, len(rows) / cpu


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that `work` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def both(count: int, batch: int) -> dict[str, Any]:
    """SQLite's figures and PostgreSQL's (or why there are none)."""
    result: dict[str, Any] = {"sqlite": ingest(count, batch, None)}
    with pg_database() as url:
        result["postgresql"] = (
            ingest(count, batch, url) if url else {"not measured": f"no server at {PG_URL}"}
        )
    return result


def figures(count: int, batch: int, repeats: int) -> dict[str, Any]:
    """`python -m bench`'s rows: medians of `repeats` runs, one row per backend."""
    runs = [both(count, batch) for _ in range(repeats)]
    return {
        f"ingest ({backend})": median_of([run[backend] for run in runs])
        for backend in ("sqlite", "postgresql")
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    result = figures(args.count, args.batch, args.repeats)
    after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(json.dumps({"load_before": load, "load_after": after, **result}, indent=1))


if __name__ == "__main__":
    main()
