"""Schema version 1 -> 2 on open: the env copies are added and filled from the documents in
one transaction (an interrupted upgrade leaves a usable v1 store), and `verify` then passes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from docfix import downgrade_to_v3

from watchdog.domain.errors import StoreError
from watchdog.domain.models import Engine, Env, Observation, Screenshots
from watchdog.stats import Period, compute
from watchdog.store import Store, schema
from watchdog.store import connect as engines
from watchdog.store.chain import canonical_json, seal_document, sha256_hex
from watchdog.store.schema import (
    REPORT_INDEX,
    V1_INDEX,
    V2_COPIES,
    chain_heads,
    observations,
    schema_version,
)
from watchdog.store.verify import verify_store

MakeObs = Callable[..., Observation]
NEW_COLUMNS = [name for name, _path, _kind in V2_COPIES]
OLD = "old-doc"  # a target whose document predates env.engine, env.screenshots, simulated


def _fill(store: Store, make_observation: MakeObs) -> None:
    """Observations with every kind of env copy, and one document without those keys."""
    envs = [
        Env(software="w 0.1", engine=Engine.REQUEST, screenshots=Screenshots.EVERY),
        Env(software="w 0.1", screenshots=Screenshots.ON_CHANGE, simulated=True),
        Env(software="w 0.1"),
    ]
    store.append_many([make_observation("paris-a", n, env=envs[n % 3]) for n in range(7)])
    store.append(make_observation("paris-b", 0, published_next=datetime(2025, 3, 10, 9, 0)))
    sealed = seal_document(make_observation(OLD, 0), None)
    doc = dict(sealed.document)
    doc["env"] = {"software": "w 0.0", "browser": "chromium"}
    del doc["published_next"]
    text = canonical_json(doc)
    row = {**{c: sealed.document[c] for c in ("id", "target", "started_at", "finished_at")}}
    row.update(outcome="no_slot", detail="no_slot", slots=None, earliest_slot=None)
    row.update(tags='["test"]', prev_hash=None, seq=1, hash=sha256_hex(text), doc=text.decode())
    with store.engine.begin() as conn:
        conn.execute(sa.insert(chain_heads).values(target=OLD, seq=1, hash=row["hash"]))
        conn.execute(sa.insert(observations).values(row))


def _downgrade_to_v1(store: Store) -> None:
    """The v1 layout: no env copies, the (target, started_at, outcome) index, version 1."""
    downgrade_to_v3(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {REPORT_INDEX.name}")
        for name in NEW_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE observations DROP COLUMN {name}")
        conn.exec_driver_sql(
            f"CREATE INDEX {V1_INDEX} ON observations (target, started_at, outcome)"
        )
        conn.execute(sa.delete(schema_version))
        conn.execute(sa.insert(schema_version).values(version=1, applied_at="v1"))


def _v1_store(data_dir: Path, url: str | None, make_observation: MakeObs) -> None:
    with Store.open(data_dir, url) as store:
        store.documents.enabled = False  # version 1 stored every document as text
        _fill(store, make_observation)
        expected = _copies(store)
        _downgrade_to_v1(store)
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("observations")}
        assert columns.isdisjoint(NEW_COLUMNS)
    assert expected[OLD] == [(None, None, None, None)]


def _copies(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    stmt = sa.select(observations.c.target, *[observations.c[n] for n in NEW_COLUMNS])
    found: dict[str, list[tuple[Any, ...]]] = {}
    for row in store.scan(stmt.order_by(observations.c.target, observations.c.seq)):
        found.setdefault(row[0], []).append(tuple(row[1:]))
    return found


def _version(store: Store) -> int:
    return int(store.scan(sa.select(sa.func.max(schema_version.c.version))).__next__()[0])


def test_a_v1_store_is_upgraded_on_open(
    data_dir: Path,
    database_url: str | None,
    make_observation: MakeObs,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _v1_store(data_dir, database_url, make_observation)
    monkeypatch.setattr(schema, "MIGRATION_BATCH", 3)
    monkeypatch.setattr(schema, "MIGRATION_LOG_EVERY", 4)
    with caplog.at_level(logging.INFO, logger=schema.__name__):
        store = Store.open(data_dir, database_url)
    with store:
        assert _version(store) == schema.SCHEMA_VERSION
        assert _copies(store) == {
            "paris-a": [
                (False, "every", "request", None),
                (True, "on_change", "browser", None),
                (False, None, "browser", None),
            ]
            * 2
            + [(False, "every", "request", None)],
            "paris-b": [(False, None, "browser", "2025-03-10T09:00:00.000000")],
            OLD: [(None, None, None, None)],
        }
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("observations")}
        assert REPORT_INDEX.name in indexes
        assert V1_INDEX not in indexes
        report = verify_store(store)
        assert report.ok, report.render()
        assert report.observations == 9
        period = Period(datetime.fromisoformat("2025-01-01T00:00Z"), datetime.now().astimezone())
        stats = compute(store, ["paris-a", OLD], period)
        assert stats["paris-a"].simulated == 2
        assert {m.engine for m in stats[OLD].capture_modes} == {Engine.BROWSER}
    filled = [r.getMessage() for r in caplog.records if "filled" in r.getMessage()]
    assert filled == [
        "schema upgrade to version 2: 6 of 9 observation(s) filled",
        "schema upgrade to version 2: 9 of 9 observation(s) filled",
    ]


def test_an_interrupted_upgrade_leaves_a_usable_v1_store(
    data_dir: Path,
    database_url: str | None,
    make_observation: MakeObs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _v1_store(data_dir, database_url, make_observation)
    backfill = schema._backfill

    def interrupted(conn: sa.Connection) -> None:
        backfill(conn)
        raise StoreError("interrupted")

    monkeypatch.setattr(schema, "_backfill", interrupted)
    with pytest.raises(StoreError, match="interrupted"):
        Store.open(data_dir, database_url)
    monkeypatch.undo()
    engine = engines.create(engines.parse_url(data_dir, database_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalars().all() == [1]
            assert conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar() == 9
        columns = {c["name"] for c in sa.inspect(engine).get_columns("observations")}
        assert columns.isdisjoint(NEW_COLUMNS)
    finally:
        engine.dispose()
    with Store.open(data_dir, database_url) as store:
        assert _version(store) == schema.SCHEMA_VERSION
        assert verify_store(store).ok
        assert store.count() == 9
