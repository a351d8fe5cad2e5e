"""Both engines turn an exception into the same outcome: one table, watchdog/probe/outcomes.py.

A throw-away platform, registered for one test as tests/test_platform_plugin.py does, has a
browser probe and a request probe that raise the same exception before touching any page.
Each case goes through the real runner (real Chromium for the browser engine, Playwright's
request context for the other) and the two observations must say the same thing, which is
what `outcome_of` says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from harness import Sim, target, write_config
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from probes import REGISTRY
from watchdog.domain.errors import HostNotAllowed, ProbeError, SiteFault
from watchdog.domain.models import Engine, Observation
from watchdog.engine.runner import Runner
from watchdog.probe.outcomes import outcome_of
from watchdog.store import Store

Raise = Callable[[], BaseException]
RAISING = "raising"
CASES: list[tuple[str, Raise, tuple[str, str]]] = [
    ("site-fault", lambda: SiteFault("a file instead of a page", "download"),
     ("site_error", "download")),
    ("probe-error", lambda: ProbeError("no motive matches", "bad_option"),
     ("probe_error", "bad_option")),
    ("host-not-allowed", lambda: HostNotAllowed("navigation to 'elsewhere.example' refused"),
     ("probe_error", "host_not_allowed")),
    ("deadline", TimeoutError, ("timeout", "deadline")),
    ("connection-reset",
     lambda: PlaywrightError("Page.goto: net::ERR_CONNECTION_RESET at http://127.0.0.1/"),
     ("network_error", "connection_reset")),
    ("node-refused",
     lambda: PlaywrightError("APIRequestContext.get: connect ECONNREFUSED 127.0.0.1:9"),
     ("network_error", "connection_refused")),
    ("wait-timeout", lambda: PlaywrightTimeout("Page.goto: Timeout 30000ms exceeded."),
     ("timeout", "action_timeout")),
    ("a-bug", lambda: KeyError("motive"), ("probe_error", "exception_KeyError")),
]  # fmt: skip


def _raising(make: Raise) -> Any:
    async def probe(*_args: Any) -> Any:
        raise make()

    return probe


def _observe(sim: Sim, tmp_path: Path, engine: str) -> Observation:
    folder = tmp_path / engine
    folder.mkdir()
    url = f"{sim.base}/never-requested"
    config = write_config(folder, [{**target("t", RAISING, url), "engine": engine}])
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        return sim.loop.run(Runner(config, store.blobs.put, sim.host).probe(found))
    finally:
        store.close()


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_both_engines_map_an_exception_the_same_way(
    sim: Sim,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Raise,
    expected: tuple[str, str],
) -> None:
    legacy = REGISTRY["legacy_booking"]  # its options, classifier and labels will do
    raising = replace(legacy, name=RAISING, probe=_raising(make), request_probe=_raising(make))
    monkeypatch.setitem(REGISTRY, RAISING, raising)
    browser = _observe(sim, tmp_path, "browser")
    request = _observe(sim, tmp_path, "request")
    assert (browser.env.engine, request.env.engine) == (Engine.BROWSER, Engine.REQUEST)
    read = [(o.outcome.value, o.detail, o.message) for o in (browser, request)]
    assert read[0] == read[1]
    mapped = outcome_of(make())
    assert read[0] == (mapped.outcome.value, mapped.detail, mapped.message)
    assert read[0][:2] == expected
