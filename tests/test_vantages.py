"""Vantage points (issue 17): « our network » versus « the site ».

Real components throughout: the simulator on loopback (a journey's site, and a second one
serving the canary page), the request engine through a real forward proxy on loopback that
drops connections (tests/dropproxy.py: one vantage's broken network), the real store, the
real incident engine delivering to a local HTTP receiver. The workers' part runs two
`watchdog worker` processes on the test PostgreSQL (tests/test_workers.py's harness).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from conftest import SIM_NOW
from dropproxy import DropProxy
from harness import LoopThread
from notifyfix import HttpReceiver, config, free_port, paris, receivers, rig, target
from polling import wait_until
from test_config import GOOD_TARGET, write
from test_prometheus_rules import PROM, tool
from test_workers import WATCHDOG, _observations, _stop

from watchdog.config.loader import Config, load_config
from watchdog.daemon.vantage import Vantage
from watchdog.domain import rates
from watchdog.domain.clock import PARIS
from watchdog.domain.incidents import IncidentKind
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.domain.vantage import (
    VANTAGE_NETWORK,
    VANTAGE_ONLY,
    VANTAGE_TAG,
    CanaryCheck,
    attribute,
    proxy_label,
)
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import Metrics
from watchdog.notify.repo import Repo
from watchdog.notify.service import Notifications
from watchdog.simulator.app import CANARY_PATH, entry_path, serve
from watchdog.simulator.scenario import load_scenario
from watchdog.stats.compute import daily_counts
from watchdog.store import Store
from watchdog.store.canaries import Canaries
from watchdog.workers.service import file_sd_entry

AIN = "ain-premiere-demande"


# -- the incident engine: site_down waits for the vantages to agree ---------------------------


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def test_site_down_opens_only_when_the_vantages_agree(store: Store, http: HttpReceiver) -> None:
    route = {"id": "oncall", "audience": "sre", "urls": [http.url()]}
    r = rig(store, config([route], [target() | {"vantages": ["paris", "lyon"]}]),
            paris(2025, 3, 3, 8))  # fmt: skip
    try:
        r.feed(AIN, paris(2025, 3, 3, 9, 0), Outcome.NO_SLOT, vantage="paris")
        for minute in (5, 10, 15, 20):  # lyon alone fails, four times (threshold: three)
            r.feed(AIN, paris(2025, 3, 3, 9, minute), Outcome.NETWORK_ERROR, vantage="lyon")
        assert r.deliver() == 0
        assert Repo(store.engine).incidents() == [], "paris still sees the site up"
        r.feed(AIN, paris(2025, 3, 3, 9, 25), Outcome.TIMEOUT, vantage="paris")
        assert r.deliver() == 1, "both vantages see the site down: site_down opens"
        [incident] = Repo(store.engine).incidents()
        assert incident.kind is IncidentKind.SITE_DOWN
        assert incident.facts["count"] == 5
    finally:
        r.close()


# -- attribution at record time, with real probes through a dropping proxy --------------------


def _scenario(path: Path) -> Path:
    body = {"simulated": True, "seed": 3, "targets": [
        {"key": "ain", "platform": "legacy_booking", "id": 9301,
         "behaviour": [{"state": "no_slot"}]}]}  # fmt: skip
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


class Sites:
    """The journey's site and the canary's, two simulators on one loop thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = LoopThread()
        scenario = load_scenario(_scenario(tmp_path / "sim.yaml"))
        self.site, self.site_port = self.loop.run(serve(scenario, clock=lambda: SIM_NOW))
        self.canary, canary_port = self.loop.run(serve(scenario, clock=lambda: SIM_NOW))
        self.url = f"http://127.0.0.1:{self.site_port}" + entry_path(scenario.by_key("ain"))
        self.canary_url = f"http://127.0.0.1:{canary_port}{CANARY_PATH}"
        self.site_up = True

    def stop_site(self) -> None:
        if self.site_up:
            self.loop.run(self.site.cleanup())
            self.site_up = False

    def close(self) -> None:
        self.stop_site()
        self.loop.run(self.canary.cleanup())
        self.loop.stop()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    found = Sites(tmp_path)
    yield found
    found.close()


def _body(data: Path, pg_url: str | None, vantage: str, proxy: str | None, sites: Sites,
          routes: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "watchdog": {"data_dir": str(data), "database_url": pg_url,
                     "allowed_hosts": ["127.0.0.1"], "min_interval": "1s", "simulated": True,
                     "vantage": vantage, "proxy": proxy,
                     "canary": {"url": sites.canary_url, "every": "10s", "timeout": "5s"}},
        "probing": {"engine": "request", "screenshots": "daily"},
        "notifications": {"routes": routes or [],
                          "thresholds": {"site_down": {"open_after": 2, "resolve_after": 2}}},
        "targets": [{"id": "ain", "department": "01", "prefecture": "Ain",
                     "procedure": "premiere_demande", "label": "Cas de test (simulateur)",
                     "platform": "legacy_booking", "url": sites.url, "interval": "15m",
                     "vantages": ["paris", "lyon"]}],
    }  # fmt: skip


def _config(data: Path, pg_url: str | None, vantage: str, proxy: str | None, sites: Sites,
            routes: list[dict[str, Any]] | None = None) -> Config:  # fmt: skip
    return Config.model_validate(_body(data, pg_url, vantage, proxy, sites, routes))


class Vantages:
    """Two vantages over one store: each its runner (its network) and its canary."""

    def __init__(self, store: Store, configs: list[Config], service: Notifications) -> None:
        self.store = store
        self.service = service
        self.runners = {c.watchdog.vantage: Runner(c, store.blobs.put) for c in configs}
        self.vantages = {c.watchdog.vantage: Vantage(c, store, Metrics()) for c in configs}
        self.target: Target = configs[0].targets[0]

    async def canaries(self) -> dict[str, bool]:
        found = {}
        for name, vantage in self.vantages.items():
            check = await vantage.check(self.runners[name].host)
            assert check is not None
            found[name] = check.ok
        return found

    async def probe(self, name: str) -> Observation:
        """Probe, attribute and record as `watchdog run` and the workers do."""
        obs = await self.runners[name].probe(self.target)
        obs = await self.vantages[name].attribute(obs, self.target)
        sealed = await asyncio.to_thread(self.store.append, obs)
        await self.service.on_observation(sealed, self.target)
        return sealed

    async def close(self) -> None:
        for runner in self.runners.values():
            await runner.close()


def test_a_vantage_that_cannot_reach_the_site_opens_no_site_down_and_counts_in_no_rate(
    tmp_path: Path, pg_url: str, sites: Sites, http: HttpReceiver
) -> None:
    proxy = DropProxy(drop={sites.site_port})  # lyon reaches the canary, never the site
    sites.loop.run(proxy.start())
    route = {"id": "oncall", "audience": "sre", "urls": [http.url()]}
    configs = [_config(tmp_path / "data", pg_url, "paris", None, sites, [route]),
               _config(tmp_path / "data", pg_url, "lyon", proxy.url, sites, [route])]  # fmt: skip
    store = Store.open(tmp_path / "data", pg_url)
    service = Notifications(configs[0], store)
    both = Vantages(store, configs, service)
    try:
        assert sites.loop.run(both.canaries()) == {"paris": True, "lyon": True}
        seen: list[Observation] = []
        for _ in range(3):
            seen += [sites.loop.run(both.probe("paris")), sites.loop.run(both.probe("lyon"))]
        assert proxy.dropped >= 3 and proxy.forwarded >= 1  # the site dropped, the canary not

        lyon = [o for o in seen if o.vantage == "lyon"]
        assert [o.outcome for o in seen if o.vantage == "paris"] == [Outcome.NO_SLOT] * 3
        assert [(o.outcome, o.detail) for o in lyon] == [(Outcome.PROBE_ERROR, VANTAGE_ONLY)] * 3
        assert all(VANTAGE_TAG in o.tags for o in lyon)
        assert all("vantage paris reached the site" in (o.message or "") for o in lyon)
        assert all("network_error" in (o.message or "") for o in lyon)
        assert lyon[0].env.proxy == proxy.url
        assert lyon[0].env.resolved_ip is None  # what the proxy resolved is not ours to say
        assert Repo(store.engine).incidents() == []

        # Rule 3: lyon's failures are ours, in no numerator and no denominator.
        day = datetime.now(UTC).astimezone(PARIS).date()
        counts = daily_counts(store, "ain", day - timedelta(days=1), day + timedelta(days=1))
        total = sum(counts.values(), start=type(next(iter(counts.values())))())
        assert rates.attempts(total) == 3, "paris's three no_slot; lyon's failures are ours"
        assert rates.failure_rate(total) == rates.no_slot_rate(total) == rates.Share(3, 3)
        assert rates.excluded(total) == 3

        # The site goes down for everyone: both vantages fail, and site_down opens.
        sites.stop_site()
        down = [sites.loop.run(both.probe("paris")), sites.loop.run(both.probe("lyon"))]
        assert [o.outcome for o in down] == [Outcome.NETWORK_ERROR] * 2
        [incident] = Repo(store.engine).incidents()
        assert incident.kind is IncidentKind.SITE_DOWN
        assert set(incident.facts["observations"]) == {o.id for o in down}
    finally:
        sites.loop.run(both.close())
        sites.loop.run(proxy.stop())
        service.deliverer.close()
        store.close()


def test_a_vantage_whose_canary_fails_attributes_its_failures_to_our_network(
    tmp_path: Path, sites: Sites
) -> None:
    proxy = DropProxy()  # lyon's network is down: the canary fails too
    sites.loop.run(proxy.start())
    lyon = _config(tmp_path / "data", None, "lyon", proxy.url, sites)
    store = Store.open(tmp_path / "data")
    service = Notifications(lyon, store)
    one = Vantages(store, [lyon], service)
    metrics = one.vantages["lyon"].metrics
    assert metrics is not None
    try:
        assert sites.loop.run(one.canaries()) == {"lyon": False}
        obs = sites.loop.run(one.probe("lyon"))
        assert (obs.outcome, obs.detail) == (Outcome.PROBE_ERROR, VANTAGE_NETWORK)
        assert f"the canary of vantage lyon ({sites.canary_url}) failed" in (obs.message or "")
        exposition = metrics.exposition().decode()
        assert 'watchdog_canary_up{vantage="lyon"} 0' in exposition
        [check] = Canaries(store.engine).last().values()
        assert (check.vantage, check.ok, check.url) == ("lyon", False, sites.canary_url)
        assert store.count("ain") == 1  # the canary check is no observation
    finally:
        sites.loop.run(one.close())
        sites.loop.run(proxy.stop())
        service.deliverer.close()
        store.close()


# -- two workers, two vantages -------------------------------------------------------------------


def _worker_config(tmp_path: Path, pg_url: str, sites: Sites, vantage: str,
                   proxy: str | None, notifier: bool, route: dict[str, Any]) -> Config:  # fmt: skip
    body = _body(tmp_path / "data", pg_url, vantage, proxy, sites, [route])
    body["targets"][0]["interval"] = "6s"
    body["watchdog"]["canary"] |= {"every": "2s", "timeout": "2s"}
    body["listen"] = {"port": 0}
    body["politeness"] = {"per_host": {"requests_per_minute": 60}}
    body["scheduler"] = {"grace_period": "2s"}
    body["workers"] = {"concurrency": 2, "dispatch_every": "1s", "heartbeat": "1s",
                       "stalled_after": "3s", "notifier": notifier,
                       "file_sd_dir": str(tmp_path / "file_sd")}  # fmt: skip
    path = tmp_path / f"{vantage}.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _check_endpoints(file_sd: Path) -> None:
    """Each worker's file_sd entry leads to its /metrics and /healthz."""
    entries = {}
    for path in sorted(file_sd.glob("*.json")):
        [entry] = json.loads(path.read_text())
        entries[entry["labels"]["vantage"]] = entry
    assert set(entries) == {"paris", "lyon"}
    for vantage, entry in entries.items():
        [address] = entry["targets"]
        assert entry["labels"]["worker"] == vantage
        metrics = _get(f"http://{address}/metrics")
        health = json.loads(_get(f"http://{address}/healthz"))
        up = "0" if vantage == "lyon" else "1"
        assert f'watchdog_canary_up{{vantage="{vantage}"}} {up}' in metrics
        assert "watchdog_probe_outcomes_total" in metrics
        assert health["vantage"]["name"] == vantage
        assert health["notifier"] is (vantage == "paris")


def test_two_workers_on_two_vantages_one_broken(tmp_path: Path, pg_url: str, sites: Sites) -> None:
    """paris reaches the site, lyon's network drops everything: no incident while the site is
    up (lyon's failures are ours); once the site goes down paris sees it, site_down opens
    (recorded by whichever worker), and only the notifier (paris) sends it, once."""
    proxy = DropProxy()
    sites.loop.run(proxy.start())
    receiver = HttpReceiver(sites.loop)
    route = {"id": "oncall", "audience": "sre", "urls": [receiver.url()]}
    configs = {v: _worker_config(tmp_path, pg_url, sites, v, p, v == "paris", route)
               for v, p in (("paris", None), ("lyon", proxy.url))}  # fmt: skip
    workers: dict[str, subprocess.Popen[bytes]] = {}
    engine = sa.create_engine(pg_url)
    try:
        for name, cfg in configs.items():
            with (tmp_path / f"{name}.log").open("wb") as out:
                workers[name] = subprocess.Popen(
                    [WATCHDOG, "-v", "worker", "--config", cfg.source, "--name", name],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip

        def logs() -> str:
            return "\n".join((tmp_path / f"{n}.log").read_text(errors="replace") for n in workers)

        def each_twice() -> bool:
            for proc in workers.values():
                assert proc.poll() is None, logs()
            seen = [o.vantage for o in _observations(configs["paris"])]
            return seen.count("paris") >= 2 and seen.count("lyon") >= 2

        wait_until(each_twice, 120, "two observations from each vantage", every=0.5)
        assert Repo(engine).incidents() == [], "the site is up: lyon's failures are ours"
        _check_endpoints(tmp_path / "file_sd")
        sites.stop_site()
        wait_until(lambda: receiver.received, 90, "the site_down notification", every=0.5)
    finally:
        _stop(workers)
        sites.loop.run(proxy.stop())
        receiver.close()
    try:
        [incident] = Repo(engine).incidents()
    finally:
        engine.dispose()
    assert all(p.returncode == 0 for p in workers.values()), logs()
    assert not list((tmp_path / "file_sd").glob("*.json")), "entries removed on a clean stop"
    assert incident.kind is IncidentKind.SITE_DOWN
    [sent] = receiver.received
    assert sent.json["title"].startswith("Site en panne — Ain (01)")
    observations = _observations(configs["paris"])
    by_vantage = {v: [o for o in observations if o.vantage == v] for v in ("paris", "lyon")}
    assert {o.outcome for o in by_vantage["paris"]} == {Outcome.NO_SLOT, Outcome.NETWORK_ERROR}
    assert {(o.outcome, o.detail) for o in by_vantage["lyon"]} == {
        (Outcome.PROBE_ERROR, VANTAGE_NETWORK)
    }
    assert set(incident.facts["observations"]) <= {o.id for o in by_vantage["paris"]}


# -- configuration and Prometheus' file_sd ------------------------------------------------------


def test_a_bad_worker_port_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n" + GOOD_TARGET)
    result = subprocess.run(
        [WATCHDOG, "worker", "--config", str(path), "--port", "99999"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "99999 is not a port number (0-65535)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_workers_file_sd_entry_passes_promtool(tmp_path: Path) -> None:
    """The entry a worker writes is what Prometheus' file_sd reads: `promtool check config`
    checks the SD files its globs match (config/prometheus/workers/*.json)."""
    prometheus = tmp_path / "prometheus"
    shutil.copytree(PROM, prometheus)
    config = Config.model_validate({"watchdog": {"vantage": "lyon"},
                                    "listen": {"host": "0.0.0.0", "expose": True}})  # fmt: skip
    entry = file_sd_entry(config, "lyon-1", 9792)
    assert entry[0]["labels"] == {"vantage": "lyon", "worker": "lyon-1"}
    assert entry[0]["targets"][0].endswith(":9792")
    assert "0.0.0.0" not in entry[0]["targets"][0]  # the name other machines reach
    (prometheus / "workers" / "lyon-1.json").write_text(json.dumps(entry), encoding="utf-8")
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(prometheus / "prometheus.yml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    entry[0]["labels"]["vantage-name"] = "x"  # not a label name: promtool says so
    (prometheus / "workers" / "lyon-1.json").write_text(json.dumps(entry), encoding="utf-8")
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(prometheus / "prometheus.yml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "is not a valid label name" in result.stderr


def test_watchdog_run_probes_its_vantages_targets_and_attributes_its_failures(
    tmp_path: Path, sites: Sites
) -> None:
    """`watchdog run` on vantage lyon, whose network drops everything: it checks its canary
    before the first probe, probes only the targets that ask for lyon (or for none), records
    their failures as our network's, and says so in /healthz and /metrics."""
    proxy = DropProxy()
    sites.loop.run(proxy.start())
    body = _body(tmp_path / "data", None, "lyon", proxy.url, sites)
    body["targets"][0] |= {"interval": "3s", "vantages": ["lyon"]}
    body["targets"].append(body["targets"][0] | {"id": "paris-only", "vantages": ["paris"]})
    port = free_port()
    body["listen"] = {"port": port}
    body["scheduler"] = {"grace_period": "2s"}
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([WATCHDOG, "run", "--config", str(path)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def two_recorded() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")
            with Store.open(tmp_path / "data") as store:
                return store.count("ain") >= 2

        wait_until(two_recorded, 90, "two observations of the lyon target", every=0.3)
        health = json.loads(_get(f"http://127.0.0.1:{port}/healthz"))
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        proc.terminate()
        proc.wait(60)
        sites.loop.run(proxy.stop())
    assert proc.returncode == 0, log.read_text(errors="replace")
    assert health["vantage"]["name"] == "lyon"
    assert health["vantage"]["canary"]["ok"] is False
    assert 'watchdog_canary_up{vantage="lyon"} 0' in metrics
    with Store.open(tmp_path / "data") as store:
        seen = list(store.iter_observations("ain"))
        assert store.count("paris-only") == 0, "asked from paris only: not probed from lyon"
    assert {(o.outcome, o.detail, o.vantage) for o in seen} == {
        (Outcome.PROBE_ERROR, VANTAGE_NETWORK, "lyon")
    }


# -- the rule itself -----------------------------------------------------------------------------


def test_what_counts_as_our_network(make_observation: Any) -> None:
    """Only a recent failed canary, or the newest view of another vantage within one interval
    that found the site up, makes a failure ours; an answer of the site is never touched."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    interval, stale = timedelta(minutes=15), timedelta(minutes=3)

    def at(minute: float, outcome: Outcome, vantage: str) -> Observation:
        obs: Observation = make_observation("t", int(minute * 10), outcome=outcome,
                                            vantage=vantage)  # fmt: skip
        when = t0 + timedelta(minutes=minute)
        return obs.model_copy(update={"started_at": when, "finished_at": when})

    def check(minute: float, ok: bool) -> CanaryCheck:
        return CanaryCheck("lyon", t0 + timedelta(minutes=minute), ok, "http://c/", 0.1)

    failed = at(20, Outcome.TIMEOUT, "lyon")
    assert attribute(failed, None, stale, [], interval) is failed
    assert attribute(failed, check(19, True), stale, [], interval) is failed
    assert attribute(failed, check(10, False), stale, [], interval) is failed, "stale check"
    ours = attribute(failed, check(19, False), stale, [], interval)
    assert (ours.outcome, ours.detail, ours.tags) == (
        Outcome.PROBE_ERROR, VANTAGE_NETWORK, [*failed.tags, VANTAGE_TAG]
    )  # fmt: skip
    up = at(10, Outcome.NO_SLOT, "paris")
    assert attribute(failed, None, stale, [up], interval).detail == VANTAGE_ONLY
    assert attribute(failed, None, stale, [at(1, Outcome.NO_SLOT, "paris")], interval) is failed
    assert attribute(failed, None, stale, [up, at(12, Outcome.SITE_ERROR, "paris")],
                     interval) is failed, "paris's newest view is down too"  # fmt: skip
    assert attribute(failed, None, stale, [up, at(12, Outcome.PROBE_ERROR, "paris")],
                     interval).detail == VANTAGE_ONLY, "a fault of paris says nothing"  # fmt: skip
    assert attribute(failed, None, stale, [at(10, Outcome.NO_SLOT, "lyon")], interval) is failed
    blocked = at(20, Outcome.BLOCKED, "lyon")
    assert attribute(blocked, check(19, False), stale, [up], interval) is blocked
    assert proxy_label("http://user:secret@10.0.0.1:3128") == "http://10.0.0.1:3128"
    assert proxy_label(None) == "none"


def test_a_file_sd_entry_that_cannot_be_written_stops_the_worker_in_one_line(
    tmp_path: Path, pg_url: str
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the entries' folder should be", encoding="utf-8")
    body = {"watchdog": {"data_dir": str(tmp_path / "data"), "database_url": pg_url},
            "listen": {"port": 0},
            "workers": {"file_sd_dir": str(blocker / "sd")}}  # fmt: skip
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    result = subprocess.run(
        [WATCHDOG, "worker", "--config", str(path), "--name", "w1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot write the Prometheus file_sd entry {blocker / 'sd' / 'w1.json'}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_reload_of_watchdog_run_applies_the_canary_settings(tmp_path: Path, sites: Sites) -> None:
    """A canary added by SIGHUP is checked at once (not after its `every`, an hour here),
    a changed URL replaces it, and a new `every` sets the pace; no restart."""
    port = free_port()
    path = tmp_path / "watchdog.yaml"

    def write_config(canary: dict[str, str] | None) -> None:
        body: dict[str, Any] = {
            "watchdog": {"data_dir": str(tmp_path / "data"), "vantage": "lyon"}
            | ({"canary": canary} if canary else {}),
            "listen": {"port": port},
            "scheduler": {"grace_period": "1s"},
            "targets": [],
        }
        path.write_text(yaml.safe_dump(body), encoding="utf-8")

    def health() -> dict[str, Any] | None:
        try:
            return dict(json.loads(_get(f"http://127.0.0.1:{port}/healthz")))
        except OSError:
            return None

    def reload(canary: dict[str, str]) -> None:
        before = (health() or {})["reloads"]
        write_config(canary)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: (health() or {}).get("reloads") == before + 1, 60, "the reload")

    def canary_of(url: str) -> dict[str, Any] | None:
        assert proc.poll() is None, log.read_text(errors="replace")
        found = (health() or {}).get("vantage", {}).get("canary")
        return found if found is not None and found["url"] == url else None

    write_config(None)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([WATCHDOG, "run", "--config", str(path)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        first = wait_until(health, 60, "/healthz")
        assert first["vantage"] == {"name": "lyon", "canary": None}
        reload({"url": sites.canary_url, "every": "1h", "timeout": "5s"})
        added = wait_until(lambda: canary_of(sites.canary_url), 60, "the new canary checked")
        assert added["ok"] is True

        missing = sites.canary_url.replace("/canary", "/no-such-canary")
        reload({"url": missing, "every": "2s", "timeout": "1s"})
        changed = wait_until(lambda: canary_of(missing), 60, "the changed canary checked")
        assert (changed["ok"], changed["status"]) == (False, 404)
        wait_until(lambda: (canary_of(missing) or changed)["at"] != changed["at"], 60,
                   "a second check at the new pace")  # fmt: skip
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert 'watchdog_canary_up{vantage="lyon"} 0' in metrics
    finally:
        proc.terminate()
        proc.wait(60)
    assert proc.returncode == 0, log.read_text(errors="replace")
