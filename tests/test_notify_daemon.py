"""End to end: `watchdog run` (a subprocess, real Chromium) probes a simulated 502 journey and
notifies a local json:// receiver; restarted mid-incident it sends nothing twice; the counter
of deliveries is on /metrics. Every wait polls against a deadline."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from notifyfix import TOKEN, HttpReceiver, free_port, receivers, wait_for
from simproc import simulator_process

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
SCENARIO = {
    "simulated": True,
    "seed": 5,
    "targets": [
        {"key": "bad-gateway", "platform": "legacy_booking", "id": 9310,
         "behaviour": [{"fault": "http_502"}]},
    ],
}  # fmt: skip
DEADLINE = 120  # probes take ~2 s idle, far more on a loaded CI runner


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with simulator_process(tmp_path_factory.mktemp("notify-sim"), SCENARIO) as port:
        yield port


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def write_config(folder: Path, sim: int, listen: int, hook: str) -> Path:
    body = {
        "watchdog": {"data_dir": str(folder / "data"), "allowed_hosts": ["127.0.0.1"],
                     "min_interval": "1s", "simulated": True},
        "browser": {"probe_timeout": "30s"},
        "politeness": {"per_host": {"requests_per_minute": 120, "concurrent": 2},
                       "backoff": {"factor": 1}},  # no back-off: three failures come fast
        "listen": {"port": listen},
        "scheduler": {"grace_period": "5s"},
        "notifications": {
            "routes": [{"id": "oncall", "audience": "sre", "urls": [hook]}],
            "delivery": {"poll": "200ms"},
        },
        "targets": [{
            "id": "bad-gateway", "department": "93", "prefecture": "Seine-Saint-Denis",
            "procedure": "premiere_demande", "label": "Première demande (simulée)",
            "platform": "legacy_booking", "interval": "1s",
            "url": f"http://127.0.0.1:{sim}/booking/create/9310/0",
        }],
    }  # fmt: skip
    path = folder / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def recorded(listen: int) -> int:
    answer = fetch(f"http://127.0.0.1:{listen}/healthz")
    return int(json.loads(answer)["observations_recorded"]) if answer else 0


def run(path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([WATCHDOG, "run", "--config", str(path)], stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_watchdog_run_notifies_once_across_a_restart(
    simulator: int, http: HttpReceiver, tmp_path: Path
) -> None:
    listen = free_port()
    path = write_config(tmp_path, simulator, listen, http.url())
    log = tmp_path / "run.log"
    first = run(path, log)
    try:
        wait_for(lambda: http.received, DEADLINE, "the site_down notification")
        title = http.received[0].json["title"]
        assert title == "Site en panne — Seine-Saint-Denis (93) — Première demande (simulée)"
        sent = 'watchdog_notifications_total{result="sent",route="oncall"} 1.0'
        wait_for(lambda: sent in (fetch(f"http://127.0.0.1:{listen}/metrics") or ""), 20,
                 "the delivery counted on /metrics")  # fmt: skip
    finally:
        stop(first)
    second = run(path, log)  # the incident is still open: probes keep failing
    try:
        wait_for(lambda: recorded(listen) >= 3, DEADLINE, "three observations after the restart")
    finally:
        stop(second)
    assert len(http.received) == 1, "no second notification for the same incident"
    assert TOKEN not in log.read_text("utf-8", errors="replace")
