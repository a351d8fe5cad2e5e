"""Helpers for tests that drive the simulator (its own tests, probe tests, demo tests)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec

import aiohttp

from watchdog.simulator.app import entry_path, serve
from watchdog.simulator.availability import publication_instants, released, to_paris
from watchdog.simulator.rdv_pages import trh_id
from watchdog.simulator.scenario import Publish, Scenario, load_scenario
from watchdog.simulator.state import SIM_STATE, SimState

SCENARIO_DIR = Path(__file__).with_name("scenarios")
P = ParamSpec("P")


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function in its own event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def http_client(timeout: float = 5.0) -> aiohttp.ClientSession:
    """A client that keeps cookies for IP hosts, as a browser does for 127.0.0.1."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=timeout)
    )


def bundled_scenario(name: str) -> Scenario:
    """A scenario shipped with the package: "demo" or "all"."""
    return load_scenario(SCENARIO_DIR / f"{name}.yaml")


class ManualClock:
    """A clock that only moves when told to; pass it as `clock=`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class RunningSimulator:
    base_url: str
    port: int
    state: SimState

    def url(self, path: str) -> str:
        return self.base_url + path

    def entry_url(self, key: str) -> str:
        """Where the journey of target `key` starts."""
        return self.base_url + entry_path(self.state.scenario.by_key(key))


@asynccontextmanager
async def running(
    scenario: Scenario,
    *,
    clock: Callable[[], datetime] | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[RunningSimulator]:
    """Serve `scenario` on an ephemeral loopback port for the duration of the block."""
    runner, port = await serve(scenario, host, 0, clock=clock)
    try:
        yield RunningSimulator(f"http://{host}:{port}", port, runner.app[SIM_STATE])
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class SlotLife:
    """Ground truth (tests only): one slot a publication put on the page, and when it left."""

    key: str  # its `trhId` on RDV-Préfecture's page
    slot: datetime
    appeared: datetime
    vanished: datetime

    @property
    def lifetime(self) -> float:
        return (self.vanished - self.appeared).total_seconds()


def slot_lives(publish: Publish, since: datetime, until: datetime) -> list[SlotLife]:
    """Every slot published in [since, until), with the instants it appeared and vanished:
    the simulator's own log of what it showed, to check estimates made from its pages."""
    lives: list[SlotLife] = []
    moment = to_paris(since) - timedelta(microseconds=1)
    while True:
        _, instant = publication_instants(publish, moment)
        if instant >= to_paris(until):
            return lives
        for slot, seconds in released(publish, instant):
            gone = instant + timedelta(seconds=seconds)
            lives.append(SlotLife(trh_id(slot), slot, instant, gone))
        moment = instant
