"""`watchdog run` as a real subprocess, probing the simulator (also a subprocess) with Chromium.

Signals, restart and reload are exercised end to end: SIGTERM mid-probe, restart without a
burst, SIGHUP with a broken then a good configuration, /healthz and /metrics. Every wait is
a poll against a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from polling import holds_for, wait_until
from simproc import simulator_process

from watchdog.cli.status import collect, render
from watchdog.config.loader import load_config
from watchdog.store import Store
from watchdog.store.verify import verify_store

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
SCENARIO = {
    "simulated": True,
    "seed": 3,
    "hang_max": "30s",
    "targets": [
        {"key": "quiet", "platform": "legacy_booking", "id": 9001,
         "behaviour": [{"state": "no_slot"}]},
        {"key": "slow", "platform": "legacy_booking", "id": 9016,
         "behaviour": [{"fault": "slow", "delay": "2s", "state": "no_slot"}]},
        {"key": "bad-gateway", "platform": "legacy_booking", "id": 9010,
         "behaviour": [{"fault": "http_502"}]},
    ],
}  # fmt: skip
# Generous: a probe takes 2 s on an idle machine but can take 20 s on a loaded CI runner.
PROBE_DEADLINE = 90
BOOKING_ID = {"quiet": 9001, "slow": 9016, "bad-gateway": 9010}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Call `check` until it returns something truthy, or fail after `timeout` seconds."""
    try:
        return wait_until(check, timeout, what, every)
    except AssertionError as exc:
        pytest.fail(str(exc))


def get(url: str) -> tuple[int, str, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except OSError:
        return None


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`watchdog simulate` on a free port, with a quiet, a slow and a 502 journey."""
    with simulator_process(tmp_path_factory.mktemp("sim"), SCENARIO) as port:
        yield port


def target(target_id: str, page: str, base: str, interval: str = "2s") -> dict[str, Any]:
    return {
        "id": target_id,
        "department": "01",
        "prefecture": "Ain",
        "procedure": "premiere_demande",
        "label": f"Cas de test {target_id}",
        "platform": "legacy_booking",
        "url": f"{base}/booking/create/{BOOKING_ID[page]}/0",
        "interval": interval,
    }


@dataclass
class Watchdog:
    """One `watchdog run` subprocess and its files."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / "watchdog.yaml"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "run.log"

    def write_config(self, targets: list[dict[str, Any]], grace: str = "60s") -> None:
        body = {
            "watchdog": {
                "data_dir": str(self.data_dir),
                "allowed_hosts": ["127.0.0.1", "localhost"],
                "min_interval": "1s",
                "simulated": True,
            },
            "browser": {"probe_timeout": "30s", "max_contexts": 4},
            "politeness": {"per_host": {"requests_per_minute": 120, "concurrent": 3}},
            "listen": {"port": self.port},
            "scheduler": {"grace_period": grace},
            "targets": targets,
        }
        text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False)
        self.config_path.write_text(text, encoding="utf-8")

    def start(self) -> None:
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [WATCHDOG, "run", "--config", str(self.config_path)], stdout=out, stderr=out
        )
        out.close()
        poll(self.health, 20, "/healthz")

    def health(self) -> dict[str, Any] | None:
        answer = get(f"http://127.0.0.1:{self.port}/healthz")
        return json.loads(answer[2]) if answer is not None else None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = PROBE_DEADLINE) -> int:
        """SIGTERM, then the exit status (the process must exit within `timeout`)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def rows(self, target_id: str | None = None) -> int:
        with Store.open(self.data_dir) as store:
            return store.count(target_id)

    def verify(self) -> bool:
        with Store.open(self.data_dir) as store:
            return verify_store(store).ok


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[Watchdog]:
    wd = Watchdog(tmp_path, free_port())
    try:
        yield wd
    finally:
        wd.kill()


def test_sigterm_past_the_grace_period_abandons_the_probe_and_writes_nothing(
    simulator: int, watchdog: Watchdog
) -> None:
    base = f"http://127.0.0.1:{simulator}"
    # Grace shorter than the probe: the probe is abandoned and leaves no row.
    watchdog.write_config([target("slow", "slow", base)], grace="500ms")
    watchdog.start()
    poll(
        lambda: (watchdog.health() or {}).get("in_flight") == 1, PROBE_DEADLINE, "a probe in flight"
    )
    started = time.monotonic()
    assert watchdog.stop() == 0
    assert time.monotonic() - started < 20  # the grace period, not the probe, sets the pace
    assert watchdog.rows() == 0
    assert "abandoned 1 probe(s)" in watchdog.log()
    assert watchdog.verify()


def test_backoff_sigterm_restart_and_reload(simulator: int, watchdog: Watchdog) -> None:
    """One watchdog's life: a failing host backs off; SIGTERM mid-probe; restart; SIGHUP."""
    base = f"http://127.0.0.1:{simulator}"
    elsewhere = f"http://localhost:{simulator}"  # another host key, on which every page is a 502
    quiet = [target(f"quiet-{i}", "quiet", base) for i in range(3)]
    watchdog.write_config([*quiet, target("failing", "bad-gateway", elsewhere)])
    watchdog.start()
    first_run_backs_off_then_stops_cleanly(watchdog, f"localhost:{simulator}")
    with Store.open(watchdog.data_dir) as store:
        last = {i: obs.started_at for i, obs in store.last_per_target().items()}
        rows, failing_rows = store.count(), store.count("failing")

    # Restart with 5 min intervals: each target is next due 5 min ± 10 % after its last start.
    slow_catalog = [{**t, "interval": "5m"} for t in quiet]
    watchdog.write_config([*slow_catalog, target("failing", "bad-gateway", elsewhere, "5m")])
    watchdog.start()
    restart_honours_due_times(watchdog, last)
    assert watchdog.rows() == rows

    reload_rejects_a_broken_config(watchdog)
    rows_of_0, rows_of_1 = watchdog.rows("quiet-0"), watchdog.rows("quiet-1")
    # A good config: 2 s intervals again, one target removed, one added.
    watchdog.write_config([*quiet[1:], target("added", "quiet", base)])
    watchdog.signal(signal.SIGHUP)
    poll(lambda: (watchdog.health() or {}).get("reloads") == 1, 10, "the reload")
    poll(
        lambda: watchdog.rows("added") >= 1, PROBE_DEADLINE, "the added target's first observation"
    )
    # A probe of this process (its /metrics counter starts at 0 at each start).
    poll(
        lambda: watchdog.rows("quiet-1") > rows_of_1,
        PROBE_DEADLINE,
        "a kept target, at its new interval",
    )
    check_metrics(watchdog)
    assert watchdog.stop() == 0
    # Removed targets are never probed again.
    assert watchdog.rows("failing") == failing_rows and watchdog.rows("quiet-0") == rows_of_0
    assert watchdog.verify()
    assert collect(load_config(watchdog.config_path)).daemon == "stopped"


def first_run_backs_off_then_stops_cleanly(watchdog: Watchdog, failing_host: str) -> None:
    # The failing host backs off; the other host keeps its pace meanwhile.
    poll(
        lambda: host_level(watchdog, failing_host) >= 1,
        PROBE_DEADLINE,
        "back-off of the failing host",
    )
    ids = [f"quiet-{i}" for i in range(3)]
    poll(
        lambda: all(watchdog.rows(i) for i in ids),
        PROBE_DEADLINE,
        "one observation per quiet target",
    )
    assert watchdog.rows("failing") <= 3  # 2 s, then 4 s, 8 s, 16 s apart
    # SIGTERM mid-probe, within the grace period: in-flight probes finish and are recorded.
    poll(
        lambda: (watchdog.health() or {}).get("in_flight", 0) >= 1,
        PROBE_DEADLINE,
        "a probe in flight",
    )
    assert watchdog.stop() == 0
    log = watchdog.log()
    in_flight = int(re.findall(r"stopping: no new probes; (\d+) in flight", log)[-1])
    recorded, abandoned = re.findall(r"stopped: (\d+) observations recorded, (\d+) probes", log)[-1]
    assert in_flight >= 1 and abandoned == "0"
    assert watchdog.rows() == int(recorded)
    assert watchdog.verify()


def restart_honours_due_times(watchdog: Watchdog, last: dict[str, datetime]) -> None:
    status = poll(lambda: status_json(watchdog), 10, "`watchdog status` while running")
    assert status["daemon"] == "running"
    rows = {row["target"]: row for row in status["targets"]}
    for target_id, row in rows.items():
        due, start = datetime.fromisoformat(row["next_due"]), last[target_id]
        assert row["next_due_estimated"] is False
        if target_id != "failing":
            assert start + timedelta(seconds=270) <= due <= start + timedelta(seconds=330), row
    # The back-off survived the restart: 5 min × 2^level (under the 1 h cap).
    failing = rows["failing"]
    assert failing["last_outcome"] == "site_error" and failing["backoff_level"] >= 1
    stretched = min(300 * 2 ** failing["backoff_level"], 3600) * 0.9
    assert datetime.fromisoformat(failing["next_due"]) >= last["failing"] + timedelta(
        seconds=stretched
    )
    table = render(collect(load_config(watchdog.config_path)))
    assert table.startswith("watchdog run: running (pid ")
    assert f"x{2 ** failing['backoff_level']} (level {failing['backoff_level']})" in table
    # No burst: nothing is due yet, so nothing starts.
    holds_for(lambda: (watchdog.health() or {}).get("probes_started") == 0, 2, "no probe started")


def reload_rejects_a_broken_config(watchdog: Watchdog) -> None:
    good = watchdog.config_path.read_text(encoding="utf-8")
    broken = good.replace("  interval: 5m\n", "  interval: 5m\n  colour: blue\n", 1)
    line = broken.splitlines().index("  colour: blue") + 1
    watchdog.config_path.write_text(broken, encoding="utf-8")
    watchdog.signal(signal.SIGHUP)
    expected = f"reload rejected: {watchdog.config_path}:{line}: targets[0].colour: unknown key"
    poll(lambda: expected in watchdog.log(), 10, "the reload error in the log")
    health = watchdog.health() or {}
    assert health["status"] == "ok" and health["reloads"] == 0 and health["targets"] == 4
    assert "colour" in health["last_reload_error"]


def status_json(watchdog: Watchdog) -> dict[str, Any] | None:
    result = subprocess.run(
        [WATCHDOG, "status", "--config", str(watchdog.config_path), "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return data if data.get("pid") else None


def host_level(watchdog: Watchdog, host: str) -> int:
    state_file = watchdog.data_dir / "scheduler-state.json"
    if not state_file.exists():
        return 0
    state = json.loads(state_file.read_text(encoding="utf-8"))
    return int(state["hosts"].get(host, {}).get("level", 0))


def check_metrics(watchdog: Watchdog) -> None:
    answer = get(f"http://127.0.0.1:{watchdog.port}/metrics")
    assert answer is not None
    status, content_type, body = answer
    assert status == 200 and content_type.startswith("text/plain")
    text = body.decode()
    assert "watchdog_target_info{" in text and 'target="added"' in text
    assert "watchdog_scheduler_lateness_seconds_count" in text
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("watchdog_probe_outcomes_total{")
        and 'target="quiet-1"' in line
        and 'outcome="no_slot"' in line
    ]
    assert counted and counted[0] >= 1
    assert 'watchdog_scheduler_backoff_level{target="failing"}' not in text  # forgotten
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed: make setup"
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, text=False
    )
    problems = [
        line
        for line in (lint.stdout + lint.stderr).decode().splitlines()
        # docs/design.md §3 names this gauge in days (the contract); promtool prefers seconds.
        if line.strip() and not line.startswith("watchdog_earliest_slot_days ")
    ]
    assert not problems, problems


def test_run_without_config_explains_how_to_write_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_CONFIG"}
    result = subprocess.run(
        [WATCHDOG, "run"], capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert "config/examples/watchdog.yaml" in result.stderr
