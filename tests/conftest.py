"""Shared fixtures: observations and a store on each backend (SQLite file, PostgreSQL schema).

PostgreSQL is required, never skipped: the project's test command provides one. Each test
gets its own schema (selected through the URL's search_path), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from harness import Sim, simulating
from intruder import Sql, intruder_sql
from tsafix import Authority, LocalTSA, make_authority

from watchdog.domain.models import Env, Observation, Outcome
from watchdog.simulator.scenario import load_scenario
from watchdog.simulator.testing import SCENARIO_DIR
from watchdog.store import Store

PG_URL = os.environ.get("WATCHDOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2025, 3, 3, 8, 0, 0, 123456, tzinfo=UTC)
# The simulator's frozen "now": a Monday morning, Paris time (08:00 UTC = 09:00 in Paris).
SIM_NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[sa.Engine]:
    """An engine on the test PostgreSQL; fails (never skips) when it cannot be reached."""
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {engine.url.render_as_string(hide_password=True)} is unreachable "
            f"({exc.orig}). The store tests need it: start it, or point "
            "WATCHDOG_TEST_PG_URL at one.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_server: sa.Engine) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema, dropped after the test."""
    schema = f"wd_test_{uuid.uuid4().hex[:16]}"
    with pg_server.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = pg_server.url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with pg_server.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default) or a PostgreSQL URL: run the test on both."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path, database_url: str | None) -> Iterator[Store]:
    opened = Store.open(data_dir, database_url)
    yield opened
    opened.close()


@pytest.fixture
def sql(store: Store) -> Iterator[Sql]:
    """SQL on the store's database as an intruder runs it (tests/intruder.py)."""
    with intruder_sql(store) as run:
        yield run


@pytest.fixture
def make_observation() -> Callable[..., Observation]:
    """Build a valid observation: `make_observation("target", n, field=value, …)`."""

    def make(target: str = "paris-a", n: int = 0, **fields: Any) -> Observation:
        started = T0 + timedelta(minutes=15 * n)
        values: dict[str, Any] = {
            "id": f"obs-{target}-{n:05d}-{uuid.uuid4().hex[:8]}",
            "target": target,
            "outcome": Outcome.NO_SLOT,
            "detail": "no_slot",
            "message": "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous.",
            "started_at": started,
            "finished_at": started + timedelta(seconds=4, microseconds=250),
            "duration_s": 4.00025,
            "env": Env(software="prefecture-watchdog 0.1.0", browser="chromium"),
            "tags": ["test"],
        }
        values.update(fields)
        return Observation(**values)

    return make


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    """The simulator (scenario all.yaml, frozen clock) and one Chromium, on one loop thread."""
    with simulating(load_scenario(SCENARIO_DIR / "all.yaml"), SIM_NOW) as running:
        yield running


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """A throw-away RFC 3161 authority made with the openssl CLI (tests/tsafix.py)."""
    return make_authority(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa(authority: Authority) -> Iterator[LocalTSA]:
    """`authority` served on loopback; `tsa.url`, `tsa.requests`."""
    served = LocalTSA(authority).start()
    yield served
    served.stop()
