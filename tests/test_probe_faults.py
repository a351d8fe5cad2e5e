"""Faults and safety rules around a probe: deadlines, a killed browser, blocking,
off-list redirects, operator secrets, and the `watchdog probe` command itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from aiohttp import web
from harness import LoopThread, Sim, probe_and_store, target, write_config
from polling import wait_until

from watchdog.config.loader import Config
from watchdog.domain.models import Observation
from watchdog.engine.runner import Runner
from watchdog.simulator.app import serve
from watchdog.simulator.testing import bundled_scenario
from watchdog.store import Store

REPO = Path(__file__).resolve().parent.parent
OPERATOR_TOKEN = "op-secret-token"


def test_hang_is_a_timeout_within_the_deadline(sim: Sim, tmp_path: Path) -> None:
    url = sim.entry_url("legacy-hang")
    config = write_config(tmp_path, [target("t", "legacy_booking", url)],
                          browser={"probe_timeout": "3s"})  # fmt: skip
    obs = probe_and_store(sim, config, "t")
    assert obs.outcome.value == "timeout"
    # The page never ends: a finite duration says the probe's deadline stopped it. The bound is
    # loose on purpose (a busy machine is slow to cancel); speed is measured in bench, not here.
    assert obs.detail == "deadline" and obs.duration_s < 30
    assert obs.steps and obs.steps[0].status is None


def test_rate_limit_then_blocked(sim: Sim, tmp_path: Path) -> None:
    url = sim.entry_url("legacy-rate-limited")
    config = write_config(tmp_path, [target("t", "legacy_booking", url)])
    outcomes = [probe_and_store(sim, config, "t").outcome.value for _ in range(3)]
    assert outcomes[-1] == "blocked", outcomes
    assert "blocked" in outcomes


def test_browser_killed_mid_probe_then_next_probe_works(tmp_path: Path) -> None:
    """A fresh loop and browser, so killing it does not disturb the shared one."""
    loop = LoopThread()
    runner_app, port = loop.run(serve(bundled_scenario("all"), "127.0.0.1", 0))
    base = f"http://127.0.0.1:{port}"
    hang = f"{base}/booking/create/9015/0"
    ok = f"{base}/booking/create/9001/0"
    config = write_config(
        tmp_path, [target("hang", "legacy_booking", hang), target("ok", "legacy_booking", ok)],
        browser={"probe_timeout": "20s"},
    )  # fmt: skip
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put)
    try:
        future = loop_submit(loop, runner, config, "hang")
        wait_until(lambda: _hang_reached(port), 20, "the probe to reach the hanging page")
        loop.run(_crash(runner))
        crashed = future.result(60)
        assert crashed.outcome.value == "probe_error", crashed
        assert crashed.detail == "browser_crashed"
        after = loop.run(runner.probe(config.targets[1]))
        assert after.outcome.value == "no_slot"
        assert runner.host.launches == 2
    finally:
        loop.run(runner.close())
        store.close()
        loop.run(runner_app.cleanup())
        loop.stop()


def _hang_reached(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sim/log", timeout=5) as response:
        return "/booking/create/9015/0" in response.read().decode()


async def _crash(runner: Runner) -> None:
    """Crash the runner's Chromium for real (CDP Browser.crash), as a renderer bug would."""
    browser = await runner.host.get()
    cdp = await browser.new_browser_cdp_session()
    with contextlib.suppress(Exception):  # the browser dies before it can answer
        await asyncio.wait_for(cdp.send("Browser.crash"), 5)


def loop_submit(
    loop: LoopThread, runner: Runner, config: Config, target_id: str
) -> Future[Observation]:
    found = config.target(target_id)
    assert found is not None
    return asyncio.run_coroutine_threadsafe(runner.probe(found), loop.loop)


@pytest.fixture
def redirector(sim: Sim) -> Iterator[str]:
    """A small site on 127.0.0.1 whose page redirects to another host (localhost)."""

    async def start() -> web.AppRunner:
        app = web.Application()

        async def jump(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://localhost:{sim.port}/booking/create/9001/0")

        app.router.add_get("/jump", jump)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner

    runner = sim.loop.run(start())
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/jump"
    sim.loop.run(runner.cleanup())


def test_redirect_off_allowed_hosts_is_refused(sim: Sim, tmp_path: Path, redirector: str) -> None:
    before = len(sim.requests())
    rules = {"rules": [{"text": "plage horaire", "outcome": "no_slot"}]}
    config = write_config(tmp_path, [target("t", "steps", redirector, rules)])
    obs = probe_and_store(sim, config, "t")
    assert (obs.outcome.value, obs.detail) == ("probe_error", "host_not_allowed"), obs
    assert sim.requests()[before:] == [], "the off-list host must never be contacted"


def test_operator_secret_never_stored_or_logged(
    sim: Sim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    options = {"captcha": "operator", "operator_headers": {"X-Operator-Token": OPERATOR_TOKEN}}
    config = write_config(tmp_path, [target("t", "rdv_prefecture", sim.entry_url("rdv-slots"),
                                            options)])  # fmt: skip
    obs = probe_and_store(sim, config, "t")
    assert obs.outcome.value == "available"
    assert obs.evidence.trace is None  # traces record headers: never kept with secrets
    assert OPERATOR_TOKEN not in obs.model_dump_json()
    assert OPERATOR_TOKEN not in caplog.text
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert OPERATOR_TOKEN.encode() not in path.read_bytes(), path


def test_watchdog_probe_command_json(tmp_path: Path) -> None:
    """The CLI end to end: a simulator subprocess and `watchdog probe --json`."""
    exe = Path(sys.executable).parent / "watchdog"
    sim_proc = subprocess.Popen(
        [str(exe), "simulate", "--scenario",
         str(REPO / "watchdog/simulator/scenarios/all.yaml"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert sim_proc.stdout is not None
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = sim_proc.stdout.readline()
            if "127.0.0.1:" in line:
                port = int(line.split("127.0.0.1:")[1].split()[0].strip("/"))
        assert port, "simulator did not report its port"
        url = f"http://127.0.0.1:{port}/booking/create/9001/0"
        config = write_config(tmp_path, [target("ain", "legacy_booking", url)])
        proc = subprocess.run(
            [str(exe), "probe", "ain", "--json", "--config", config.source],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        obs = json.loads(proc.stdout)
        assert obs["outcome"] == "no_slot"
        assert obs["message"].startswith("Il n'existe plus de plage horaire libre")
        assert set(obs) >= {"id", "target", "detail", "slots", "earliest_slot", "started_at",
                            "finished_at", "duration_s", "steps", "final_url", "http_status",
                            "evidence", "env", "vantage", "prev_hash", "hash"}  # fmt: skip
        debug = subprocess.run(
            [str(exe), "probe", "ain", "--debug", "--config", config.source],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert "step trail" in debug.stdout and "submit_conditions" in debug.stdout
        assert "watchdog_probe_outcomes_total" in debug.stdout
        verify = subprocess.run(
            [str(exe), "verify", "--config", config.source],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        sim_proc.terminate()
        sim_proc.wait(10)
