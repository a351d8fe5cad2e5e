"""Shared test plumbing: an event loop in a thread hosting the simulator and one browser.

Probes are async and Playwright objects belong to the loop that made them, so one loop
(in a daemon thread) owns the simulator, the browser and every probe; tests submit work
with `LoopThread.run`. Readiness is polled against deadlines, never slept on.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from watchdog.config.loader import Config, load_config
from watchdog.domain.models import Observation
from watchdog.domain.target import Target
from watchdog.engine.browser import BrowserHost
from watchdog.engine.runner import Runner
from watchdog.report.api import ReportOptions, build_report_async
from watchdog.simulator.app import entry_path, serve
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.state import SIM_STATE, SimState
from watchdog.store import Store

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Sim:
    loop: LoopThread
    port: int
    host: BrowserHost

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    state: SimState

    def entry_url(self, key: str) -> str:
        return self.base + entry_path(self.state.scenario.by_key(key))

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.base}/__sim/log", timeout=10) as response:
            data = json.loads(response.read())
        return data if isinstance(data, list) else list(data.get("requests", []))

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.base}/__sim/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).close()


def write_config(tmp_path: Path, targets: list[dict[str, Any]], **settings: Any) -> Config:
    """A config whose targets live on the simulator (loopback is allowed there)."""
    watchdog = {
        "data_dir": str(tmp_path / "data"),
        "allowed_hosts": ["127.0.0.1"],
        "min_interval": "1s",
        "simulated": True,
    }
    watchdog.update(settings.pop("watchdog", {}))
    body = {"watchdog": watchdog, "targets": targets, **settings}
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_config(path)


def target(
    target_id: str, platform: str, url: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": target_id,
        "department": "93",
        "prefecture": "Seine-Saint-Denis",
        "procedure": "premiere_demande",
        "label": f"Cas de test {target_id}",
        "platform": platform,
        "url": url,
        "interval": "1m",
        "options": options or {},
    }


def probe_and_store(
    sim: Sim, config: Config, target_id: str, runner_class: type[Runner] = Runner
) -> Observation:
    """Run one probe through the real runner and store, as `watchdog probe` does."""
    found = config.target(target_id)
    assert found is not None
    store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
    try:
        runner = runner_class(config, store.blobs.put, sim.host)
        observation = sim.loop.run(runner.probe(found))
        return store.append(observation)
    finally:
        store.close()


@contextmanager
def simulating(scenario: Scenario, now: datetime) -> Iterator[Sim]:
    """`scenario` served on loopback at the frozen time `now`, with one Chromium, on a loop
    thread of their own; everything is stopped at the end of the block."""
    loop = LoopThread()
    runner, port = loop.run(serve(scenario, "127.0.0.1", 0, clock=lambda: now))
    host = BrowserHost(allowed_hosts=["127.0.0.1"])
    try:
        yield Sim(loop=loop, port=port, host=host, state=runner.app[SIM_STATE])
    finally:
        loop.run(host.close())
        loop.run(runner.cleanup())
        loop.stop()


@contextmanager
def loopback_site(sim: Sim, app: web.Application) -> Iterator[str]:
    """`app` served on 127.0.0.1 (an ephemeral port) on the simulator's loop; its base URL."""

    async def start() -> web.AppRunner:
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = sim.loop.run(start())
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        sim.loop.run(runner.cleanup())


def report_texts(sim: Sim, config: Config, targets: list[Target], out: Path) -> dict[str, str]:
    """The visible text of the HTML report over the last hour of `targets`, by language."""
    from test_report import visible_text  # a test module: imported only when needed

    store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
    until = datetime.now(UTC) + timedelta(seconds=1)
    pages = {}
    try:
        for lang in ("fr", "en"):
            options = ReportOptions(formats=("html",), lang=lang, browser=sim.host, simulated=True)
            (html,) = sim.loop.run(
                build_report_async(
                    store, targets, since=until - timedelta(hours=1), until=until,
                    out_dir=out / lang, options=options,
                )
            )  # fmt: skip
            pages[lang] = visible_text(html.read_text(encoding="utf-8"))
    finally:
        store.close()
    return pages
