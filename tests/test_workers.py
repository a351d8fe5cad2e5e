"""The scale-out mode end to end: two `watchdog worker` processes on the test PostgreSQL.

Three simulators on loopback are three hosts (host:port): two serve quick journeys, one a
journey that answers after 30 s, so that a worker can be SIGKILLed in the middle of its probe.
The workers share the dispatcher (procrastinate's periodic task), the per-host budgets and the
chains; after a bounded run the record must show every quick target probed once per cycle
(no duplicate, no gap beyond one interval), each host's starts spaced by its budget and never
overlapping, the killed probe recorded as `probe_error`/`worker_lost`, every settled claim's
observation in the store, and `watchdog verify` passing. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from conftest import SIM_NOW
from harness import REPO, LoopThread
from polling import wait_until
from prometheus_client.parser import text_string_to_metric_families

from watchdog.config.loader import Config, WorkersSettings, load_config
from watchdog.domain.models import Observation, Outcome
from watchdog.simulator.app import entry_path, serve
from watchdog.simulator.scenario import load_scenario
from watchdog.store import Store
from watchdog.workers import rows
from watchdog.workers.service import WORKER_LOST, ensure_schema

WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
# Seconds between two probes of one target: a host's three probes, one at a time, take ~2.5 s
# each on a loaded 2-core runner (probe, evidence, append) and a worker's first ~6 s.
INTERVAL = 12.0
RPM = 60.0  # per-host budget: starts at least 1 s apart
QUICK_PER_HOST = 3
CYCLES = 4  # observations each quick target must have before the run stops
SLOW_DELAY = "30s"


@dataclass
class Site:
    port: int
    keys: list[str]

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"


def _scenario(path: Path, targets: list[dict[str, Any]]) -> Path:
    body = {"simulated": True, "seed": 5, "hang_max": "60s", "targets": targets}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[tuple[list[Site], dict[str, str]]]:
    """Three simulators (three hosts) on one loop thread; target id → entry URL."""
    loop = LoopThread()
    runners = []
    found: list[Site] = []
    urls: dict[str, str] = {}
    specs: list[list[dict[str, Any]]] = [
        [{"key": f"q{h}{i}", "platform": "legacy_booking", "id": 9100 + 10 * h + i,
          "behaviour": [{"state": "no_slot"}]} for i in range(QUICK_PER_HOST)]
        for h in range(2)
    ] + [[{"key": "slow", "platform": "legacy_booking", "id": 9199,
           "behaviour": [{"fault": "slow", "delay": SLOW_DELAY, "state": "no_slot"}]}]]  # fmt: skip
    try:
        for n, targets in enumerate(specs):
            scenario = load_scenario(_scenario(tmp_path / f"sim{n}.yaml", targets))
            runner, port = loop.run(serve(scenario, "127.0.0.1", 0, clock=lambda: SIM_NOW))
            runners.append(runner)
            keys = [t["key"] for t in targets]
            found.append(Site(port, keys))
            for key in keys:
                urls[key] = f"http://127.0.0.1:{port}" + entry_path(scenario.by_key(key))
        yield found, urls
    finally:
        for runner in runners:
            loop.run(runner.cleanup())
        loop.stop()


def _config(
    tmp_path: Path,
    pg_url: str,
    urls: dict[str, str],
    interval: float = INTERVAL,
    **sections: dict[str, Any],
) -> Config:
    """Every URL a request-engine target probed each `interval`; `sections` added as given."""
    targets = [
        {"id": key, "department": "93", "prefecture": "Seine-Saint-Denis",
         "procedure": "premiere_demande", "label": f"Cas de test {key}",
         "platform": "legacy_booking", "url": url, "interval": f"{interval:g}s",
         "engine": "request"}
        for key, url in urls.items()
    ]  # fmt: skip
    body = {
        "watchdog": {"data_dir": str(tmp_path / "data"), "database_url": pg_url,
                     "allowed_hosts": ["127.0.0.1"], "min_interval": "1s", "simulated": True},
        "politeness": {"per_host": {"requests_per_minute": RPM, "concurrent": 1},
                       "jitter": 0.1},
        "scheduler": {"grace_period": "2s"},
        "probing": {"screenshots": "daily"},
        "workers": {"concurrency": 4, "dispatch_every": "1s", "heartbeat": "1s",
                    "stalled_after": "3s", "file_sd_dir": str(tmp_path / "file_sd")},
        "targets": targets,
    } | sections  # fmt: skip
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_config(path)


def _start_worker(config: Config, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [WATCHDOG, "-v", "worker", "--config", config.source, "--name", name, "--port", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _observations(config: Config) -> list[Observation]:
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        return list(store.iter_observations())


def _claims(engine: sa.Engine) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('worker_probes')")).scalar() is None:
            return []
        return list(conn.execute(sa.select(rows.probes)))


def _by_target(observations: list[Observation]) -> dict[str, list[Observation]]:
    found: dict[str, list[Observation]] = defaultdict(list)
    for obs in observations:
        found[obs.target].append(obs)
    for series in found.values():
        series.sort(key=lambda o: o.started_at)
    return found


@dataclass
class Run:
    """What a bounded run left: who was killed in which claim, and the record after it."""

    killed: str
    killed_at: float
    claim: sa.Row[Any]
    observations: list[Observation]
    claims: list[sa.Row[Any]]
    metrics: str  # the survivor's /metrics once the lost probe was recorded


def _metrics_of(config: Config, name: str) -> str:
    """A worker's /metrics, found through its Prometheus file_sd entry."""
    assert config.workers.file_sd_dir is not None
    [entry] = json.loads((config.workers.file_sd_dir / f"{name}.json").read_text())
    [address] = entry["targets"]
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _sample(exposition: str, name: str, **labels: str) -> float:
    """The value of the one sample `name` whose labels include `labels`."""
    [value] = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return float(value)


def _stop(workers: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in workers.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in workers.values():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _run_and_kill_one(tmp_path: Path, config: Config, engine: sa.Engine, quick: list[str]) -> Run:
    """Two workers until every quick target has CYCLES observations; one is SIGKILLed while it
    probes the slow journey. The survivor must stop cleanly on SIGTERM."""
    workers = {name: _start_worker(config, name, tmp_path / f"{name}.log") for name in ("w1", "w2")}

    def alive() -> None:
        for name, proc in workers.items():
            assert proc.poll() is None, (tmp_path / f"{name}.log").read_text(errors="replace")

    def probing_slow() -> sa.Row[Any] | None:
        """The slow journey's running claim, once both workers have recorded a probe."""
        alive()
        claims = _claims(engine)
        if {c.worker for c in claims if c.state == rows.RECORDED} != set(workers):
            return None
        return next((c for c in claims if c.target == "slow" and c.state == rows.RUNNING), None)

    def slow_lost() -> bool:
        return any(o.detail == WORKER_LOST and o.target == "slow" for o in _observations(config))

    def enough() -> bool:
        series = _by_target(_observations(config))
        return all(len(series.get(key, [])) >= CYCLES for key in quick)

    try:
        claim = wait_until(probing_slow, 90, "a worker probing the slow journey")
        killed = claim.worker
        assert killed in workers and workers[killed].pid == claim.pid
        os.kill(claim.pid, signal.SIGKILL)
        workers.pop(killed).wait(10)
        killed_at = time.time()
        wait_until(slow_lost, 60, "the lost probe recorded")
        wait_until(enough, 90, f"{CYCLES} observations of every quick target", every=0.5)
        alive()
        (survivor,) = workers
        metrics = _metrics_of(config, survivor)
    finally:
        _stop(workers)
    assert workers[survivor].returncode == 0, (tmp_path / f"{survivor}.log").read_text()
    return Run(killed, killed_at, claim, _observations(config), _claims(engine), metrics)


def _assert_once_per_interval(series: dict[str, list[Observation]], quick: list[str]) -> None:
    """No duplicate: a cycle counts from the previous start, so two starts are at least the
    interval less its jitter (-10 %) apart (less 50 ms of event-loop latency). No gap beyond
    one interval: the jitter, a 1 s dispatch tick, the host's queue and budget and the stall
    of a lost worker's job (3 s) fit in a second interval."""
    for key in quick:
        starts = [o.started_at.timestamp() for o in series[key]]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert len(starts) >= CYCLES
        assert all(INTERVAL * 0.9 - 0.05 <= gap <= 2 * INTERVAL for gap in gaps), (key, gaps)


def _assert_budgets(run: Run, series: dict[str, list[Observation]], hosts: list[Site]) -> None:
    """The shared budget: the starts granted on one host (each claim's token) at least 60/RPM s
    apart whichever worker took them, every probe started no earlier than its token, and (one
    slot per host) one probe at a time on each host."""
    by_id = {o.id: o for key in series for o in series[key]}
    for site in hosts:
        claims = sorted(
            (c for c in run.claims if c.target in site.keys and c.token_at is not None),
            key=lambda c: c.token_at,
        )
        for a, b in itertools.pairwise(claims):
            assert b.token_at - a.token_at >= 60 / RPM - 1e-6, (site.netloc, a, b)
        for c in claims:
            if c.state == rows.RECORDED:
                assert by_id[c.observation].started_at.timestamp() >= c.token_at - 1e-3, c
        probes = sorted(
            (o for key in site.keys for o in series[key] if o.detail != WORKER_LOST),
            key=lambda o: o.started_at,
        )
        for a, b in itertools.pairwise(probes):
            assert b.started_at >= a.finished_at, (site.netloc, a.id, b.id)


def _assert_nothing_lost(run: Run) -> None:
    """Every settled claim's observation is in the store, and every observation is a claim's;
    no quick probe is left running."""
    by_id = {o.id: o for o in run.observations}
    settled = [c for c in run.claims if c.state in (rows.RECORDED, rows.RECORDED_LATE, rows.LOST)]
    assert {c.observation for c in settled} == set(by_id)
    assert all(by_id[c.observation].target == c.target for c in settled)
    assert not [c for c in run.claims if c.state == rows.RUNNING and c.target != "slow"]


def test_two_workers_share_targets_budgets_and_chains_and_a_lost_probe_is_recorded(
    tmp_path: Path, pg_url: str, sites: tuple[list[Site], dict[str, str]]
) -> None:
    hosts, urls = sites
    config = _config(tmp_path, pg_url, urls)
    engine = sa.create_engine(pg_url)
    quick = [key for site in hosts[:2] for key in site.keys]
    try:
        run = _run_and_kill_one(tmp_path, config, engine, quick)
    finally:
        engine.dispose()
    series = _by_target(run.observations)

    # Both workers probed (the kill waited for it), and the survivor went on alone.
    after = [c for c in run.claims if c.started_at > run.killed_at]
    assert {c.worker for c in after if c.state == rows.RECORDED} == {"w1", "w2"} - {run.killed}

    # The killed probe is one probe_error/worker_lost naming its worker, from its claim's
    # start: recorded, not retried.
    slow_lost = [o for o in series["slow"] if o.detail == WORKER_LOST]
    assert len(slow_lost) == 1
    assert slow_lost[0].outcome is Outcome.PROBE_ERROR
    assert f"worker {run.killed} " in (slow_lost[0].message or "")
    assert slow_lost[0].started_at.timestamp() == pytest.approx(run.claim.started_at, abs=0.01)

    # Only the survivor dispatches after the kill: it recorded the lost probe, and its series
    # count it like any observation (the killed one's is worker_lost, the slow no_slot others).
    outcomes = "watchdog_probe_outcomes_total"
    assert _sample(run.metrics, outcomes, target="slow", outcome="probe_error") == 1
    assert _sample(run.metrics, outcomes, target="slow", outcome="unrecognized") == 0
    # The worker measures its store as `watchdog run` does (at start, then every 5 minutes:
    # the evidence was still empty then), and the free disk at each scrape.
    assert _sample(run.metrics, "watchdog_store_bytes", part="database") > 0
    assert not math.isnan(_sample(run.metrics, "watchdog_store_bytes", part="evidence"))
    assert _sample(run.metrics, "watchdog_disk_free_bytes") > 0

    _assert_once_per_interval(series, quick)
    _assert_budgets(run, series, hosts)
    _assert_nothing_lost(run)

    verify = subprocess.run(
        [WATCHDOG, "verify", "--config", config.source],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_probe_is_settled_once_with_its_chain(
    tmp_path: Path, pg_url: str, make_observation: Callable[..., Observation]
) -> None:
    """The claim is settled in the append's transaction: a probe its worker recorded is never
    also `worker_lost` (the lost observation is not appended), and a worker that comes back
    after being declared lost still records its probe (`recorded_late`): nothing dropped."""
    with Store.open(tmp_path / "data", pg_url) as store:
        ensure_schema(store.engine)
        now = 1_800_000_000.0
        rows.claim(store.engine, 1, "t", "w1", 4242, now)
        done = make_observation("t", 0)
        store.append(done, rows.settle_recorded(1, done.id, now))
        lost = make_observation("t", 1, outcome=Outcome.PROBE_ERROR, detail=WORKER_LOST)
        with pytest.raises(rows.AlreadySettled):
            store.append(lost, rows.settle_lost(1, "t", lost.id, now))
        assert store.count("t") == 1

        rows.claim(store.engine, 2, "t", "w2", 4243, now)
        store.append(lost, rows.settle_lost(2, "t", lost.id, now))
        late = make_observation("t", 2)
        store.append(late, rows.settle_recorded(2, late.id, now))
        assert [o.id for o in store.iter_observations("t")] == [done.id, lost.id, late.id]
        with store.engine.connect() as conn:
            states = dict(conn.execute(sa.select(rows.probes.c.job_id, rows.probes.c.state)).all())
    assert states == {1: rows.RECORDED, 2: rows.RECORDED_LATE}


def test_settings_and_store_a_worker_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stalled_after must be at least twice heartbeat"):
        WorkersSettings(heartbeat=timedelta(seconds=10), stalled_after=timedelta(seconds=15))
    with pytest.raises(ValueError, match="divides a minute"):
        WorkersSettings(dispatch_every=timedelta(seconds=7))
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump({"watchdog": {"data_dir": str(tmp_path / "data")}}))
    result = subprocess.run(
        [WATCHDOG, "worker", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "watchdog worker needs watchdog.database_url on PostgreSQL" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything opened
