"""Probes planned around an announced publication in the scale-out mode (issues 17 and 19).

The dispatcher of `watchdog worker` plans them with the scheduler's own `PublicationPlan`,
kept in each target's row of `worker_targets` on the test PostgreSQL. First the rows alone, at
chosen instants (the dispatcher takes `now` as an argument): when a planned probe is due, that
it is served once, never for a host in back-off, and resumed from the store. Then a bounded
run: two `watchdog worker` processes (headless Chromium) against the simulator's
RDV-Préfecture scenario publishing every minute on its own (real) clock; the assertions are on
the planned instants the observations record (`env.planned_for`, `env.planned_offset_s`) and
the announcements they came from, never on durations.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from harness import LoopThread
from polling import wait_until
from test_workers import _claims, _observations, _start_worker, _stop

from watchdog.config.loader import Config, load_config
from watchdog.daemon.scheduler import PLAN_LATE, PUBLICATION
from watchdog.domain.models import Observation
from watchdog.simulator.app import entry_path, serve
from watchdog.simulator.scenario import Scenario
from watchdog.workers import rows

TOKEN = "op-secret-token"
T = 1_800_000_000.0  # an announced instant (Unix seconds), for the rows alone
OFFSETS = [-60.0, 15.0, 60.0, 300.0]  # probing.publication's defaults


def _target(url: str, interval: str, **extra: Any) -> dict[str, Any]:
    return {"id": "val-de-marne-rdv", "department": "94", "prefecture": "Val-de-Marne",
            "procedure": "remise_titre", "label": "Remise de titre (simulateur)",
            "platform": "rdv_prefecture", "url": url, "interval": interval,
            "options": {"captcha": "operator", "operator_headers": {"X-Operator-Token": TOKEN}},
            **extra}  # fmt: skip


def _write(tmp_path: Path, pg_url: str, target: dict[str, Any], **more: Any) -> Config:
    body = {
        "watchdog": {"data_dir": str(tmp_path / "data"), "database_url": pg_url,
                     "allowed_hosts": ["127.0.0.1"], "min_interval": "1m", "simulated": True},
        "politeness": {"per_host": {"requests_per_minute": 60, "concurrent": 1}},
        "probing": {"screenshots": "daily"},
        "targets": [target],
        **more,
    }  # fmt: skip
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_config(path)


# -- the rows alone, at chosen instants ----------------------------------------------------------


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    made = sa.create_engine(pg_url)
    rows.ensure_tables(made)
    yield made
    made.dispose()


def _take(engine: sa.Engine, config: Config, now: float, seen: dict[str, rows.Seen] | None = None,
          ) -> list[rows.Due]:  # fmt: skip
    with engine.begin() as conn:
        return rows.take_due(conn, config, now, lambda: seen or {}, random.Random(5))


def _level(engine: sa.Engine, host: str, level: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(rows.hosts).where(rows.hosts.c.host == host))
        conn.execute(sa.insert(rows.hosts).values(host=host, next_free=0.0, level=level))


def test_the_dispatcher_serves_each_planned_probe_once_at_its_instant(
    tmp_path: Path, pg_url: str, engine: sa.Engine
) -> None:
    config = _write(tmp_path, pg_url, _target("http://127.0.0.1:9/rdvpref/", "15m"))
    [target] = config.targets
    # A probe long before read the announcement: the regular cycle is far away.
    assert _take(engine, config, T - 600, {target.id: rows.Seen(T - 601)}) == []
    assert rows.announce(engine, target.id, T, OFFSETS, T - 600)
    assert not rows.announce(engine, target.id, T, OFFSETS, T - 500), "already planned"

    assert _take(engine, config, T - 61) == [], "nothing due before T−1 min"
    [due] = _take(engine, config, T - 60)
    assert (due.due, due.planned_offset) == (T - 60, -60.0)
    assert _take(engine, config, T - 59) == [], "served once, whoever dispatches next"
    # Two planned probes due by the time of one start: it serves the first, both are gone.
    [due] = _take(engine, config, T + 61)
    assert (due.due, due.planned_offset) == (T + 15, 15.0)
    assert _take(engine, config, T + 62) == []
    # More than PLAN_LATE late, a planned probe is dropped; the next one still comes.
    assert _take(engine, config, T + 300 + PLAN_LATE + 1) == []
    with engine.connect() as conn:
        plan = conn.execute(sa.select(rows.targets.c.plan)).scalar_one()
    assert plan["entries"] == [] and plan["announced"] == [T]


def test_a_host_in_back_off_gets_no_planned_probe_and_a_plan_is_resumed_from_the_store(
    tmp_path: Path, pg_url: str, engine: sa.Engine
) -> None:
    config = _write(tmp_path, pg_url, _target("http://127.0.0.1:9/rdvpref/", "15m"))
    [target] = config.targets
    # A new schedule row resumes the announcement of the target's last observation.
    assert _take(engine, config, T - 600, {target.id: rows.Seen(T - 601, T)}) == []
    _level(engine, target.netloc, 1)
    assert _take(engine, config, T - 60) == [], "back-off wins over the plan"
    _level(engine, target.netloc, 0)
    [due] = _take(engine, config, T + 15)
    assert due.planned_offset == 15.0, "T−1 min was dropped while backing off, T+15 s comes"


def test_tables_of_an_earlier_version_get_the_plan_column(pg_url: str) -> None:
    made = sa.create_engine(pg_url)
    try:
        with made.begin() as conn:
            conn.execute(sa.text("CREATE TABLE worker_targets (target text PRIMARY KEY, "
                                 "anchor float, first_due float NOT NULL, "
                                 "jitter float NOT NULL DEFAULT 1)"))  # fmt: skip
        rows.ensure_tables(made)
        columns = {c["name"] for c in sa.inspect(made).get_columns("worker_targets")}
    finally:
        made.dispose()
    assert "plan" in columns


# -- two workers against the simulator's publications -------------------------------------------


BEFORE, AFTER = -20.0, 10.0  # this run's plan: 20 s before each instant, 10 s after
PLANNED_WANTED = 4


@pytest.fixture
def publishing() -> Iterator[str]:
    """RDV-Préfecture publishing every minute on the simulator's own clock (the real one)."""
    scenario = Scenario.model_validate({
        "simulated": True, "seed": 3, "operator_token": TOKEN,
        "targets": [{"key": "rdv-publish", "platform": "rdv_prefecture", "id": 4087,
                     "behaviour": [{"publish": {"every": "1m", "lifetime": "50s", "slots": 2}}]}],
    })  # fmt: skip
    loop = LoopThread()
    runner, port = loop.run(serve(scenario, "127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{port}" + entry_path(scenario.by_key("rdv-publish"))
    finally:
        loop.run(runner.cleanup())
        loop.stop()


def _announced_before(obs: Observation, observations: list[Observation]) -> list[float]:
    return sorted(
        {o.published_next.timestamp() for o in observations
         if o.published_next is not None and o.finished_at <= obs.started_at}
    )  # fmt: skip


def test_two_workers_plan_probes_around_the_simulators_publications(
    tmp_path: Path, pg_url: str, publishing: str
) -> None:
    target = _target(publishing, "1m", publication={"before": ["20s"], "after": ["10s"]})
    workers_settings = {"concurrency": 2, "dispatch_every": "1s", "heartbeat": "1s",
                        "stalled_after": "5s"}  # fmt: skip
    config = _write(tmp_path, pg_url, target, workers=workers_settings,
                    scheduler={"grace_period": "5s"})  # fmt: skip
    workers = {n: _start_worker(config, n, tmp_path / f"{n}.log") for n in ("w1", "w2")}

    def logs() -> str:
        return "\n".join((tmp_path / f"{n}.log").read_text(errors="replace") for n in workers)

    def enough() -> bool:
        for proc in workers.values():
            assert proc.poll() is None, logs()
        found = [o for o in _observations(config) if o.env.planned_for == PUBLICATION]
        offsets = {o.env.planned_offset_s for o in found}
        return len(found) >= PLANNED_WANTED and offsets == {BEFORE, AFTER}

    engine = sa.create_engine(pg_url)
    try:
        wait_until(enough, 240, f"{PLANNED_WANTED} planned probes of both offsets", every=1)
    finally:
        _stop(workers)
        claims = _claims(engine)
        engine.dispose()
    assert all(p.returncode == 0 for p in workers.values()), logs()

    observations = sorted(_observations(config), key=lambda o: o.started_at)
    planned = [o for o in observations if o.env.planned_for == PUBLICATION]
    served: set[tuple[float, float]] = set()
    for obs in planned:
        offset = obs.env.planned_offset_s
        assert offset in (BEFORE, AFTER), obs.env
        # Planned from an instant an earlier observation read on the page, and started no
        # sooner than instant + offset: the latest such instant is the one it served.
        instants = [i for i in _announced_before(obs, observations)
                    if i + offset <= obs.started_at.timestamp()]  # fmt: skip
        assert instants, (obs.started_at, offset)
        key = (instants[-1], offset)
        assert key not in served, f"planned probe {key} served twice"
        served.add(key)
        announced = datetime.fromtimestamp(instants[-1], UTC)
        assert announced.second == 0, "the page announces minutes: the simulator's instants"
    # The floor (1 min) is relaxed only for planned probes: a regular start (its host token)
    # comes a whole interval (less its 10 % jitter) after the start before it, of any kind.
    kinds = {o.id: o.env.planned_for for o in observations}
    granted = sorted((c.token_at, kinds[c.observation]) for c in claims
                     if c.token_at is not None and c.observation in kinds)  # fmt: skip
    assert len(granted) == len(observations)
    for (before, _), (at, kind) in pairwise(granted):
        assert at - before >= (1.0 if kind == PUBLICATION else 54.0) - 1e-6, (before, at, kind)
    assert {c.worker for c in claims} <= {"w1", "w2"}
