"""The request engine (cheap path) against the simulator, through the real runner and store.

Each legacy case of the browser's table (tests/test_probes.py) must come out the same on the
request engine: outcome, detail, message, slots, earliest date; with the engine recorded,
the served HTML kept and hashed, and no request a site would take as booking.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import SIM_NOW
from harness import Sim, probe_and_store, target, write_config
from PIL import Image
from test_probes import CASES, Case

from watchdog.domain.errors import ConfigError
from watchdog.domain.models import Engine, Observation
from watchdog.engine.runner import Runner
from watchdog.evidence.frame import Banner, frame
from watchdog.store import Store

LEGACY = [c for c in CASES if c.platform == "legacy_booking"]
ANEF = [c for c in CASES if c.platform == "anef"]
EAPP = [c for c in CASES if c.platform == "eappointment"]


def _config(tmp_path: Path, case: Case, url: str, **fields: Any) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_config(tmp_path, [{**target("t", case.platform, url, case.options), **fields}])


def _assert_same_reading(obs: Observation, case: Case) -> None:
    assert (obs.outcome.value, obs.detail) == (case.outcome, case.detail or obs.detail), (
        obs.message,
        obs.steps,
    )
    if case.message is not None:
        assert obs.message == case.message
    assert obs.slots == case.slots
    if case.earliest_in_days is not None:
        assert obs.earliest_slot is not None
        assert obs.earliest_slot.date() == (SIM_NOW + timedelta(days=case.earliest_in_days)).date()


def _blob(data_dir: Path, sha: str) -> bytes:
    store = Store.open(data_dir)
    try:
        data = store.blobs.get(sha)
    finally:
        store.close()
    assert hashlib.sha256(data).hexdigest() == sha
    return data


@pytest.mark.parametrize("case", LEGACY, ids=lambda c: c.key)
def test_request_engine_reads_legacy_pages_as_the_browser_does(
    sim: Sim, tmp_path: Path, case: Case
) -> None:
    before = len(sim.requests())
    config = _config(tmp_path, case, sim.entry_url(case.key), engine="request")
    obs = probe_and_store(sim, config, "t")
    _assert_same_reading(obs, case)
    assert obs.env.engine is Engine.REQUEST and obs.env.browser is None
    assert obs.env.user_agent == config.watchdog.user_agent
    seen = sim.requests()[before:]
    assert seen and not [r for r in seen if r["flagged"]]
    assert {r["headers"].get("user-agent") for r in seen} == {config.watchdog.user_agent}
    assert obs.steps and obs.hash
    if obs.outcome.value not in ("timeout", "network_error"):
        html = _blob(tmp_path / "data", obs.evidence.html or "").decode()
        assert obs.final_url is not None and "<html" in html.lower()


def test_the_browser_and_the_request_engine_agree_on_one_page(sim: Sim, tmp_path: Path) -> None:
    """Same case, both engines, compared with each other rather than with the table."""
    case = next(c for c in LEGACY if c.key == "legacy-guichets")
    url = sim.entry_url(case.key)
    browser = probe_and_store(sim, _config(tmp_path / "b", case, url), "t")
    request = probe_and_store(sim, _config(tmp_path / "r", case, url, engine="request"), "t")
    fields = ("outcome", "detail", "message", "slots", "earliest_slot", "final_url", "http_status")
    assert {f: getattr(request, f) for f in fields} == {f: getattr(browser, f) for f in fields}
    # The browser also answers the consent banner (no script runs in the request engine).
    pages = [s.name for s in browser.steps if not s.name.startswith("consent:")]
    assert [s.name for s in request.steps] == pages
    assert "consent:tarteaucitron:refused" in [s.name for s in browser.steps]
    assert (browser.env.engine, request.env.engine) == (Engine.BROWSER, Engine.REQUEST)


def test_a_rendered_later_screenshot_says_so_in_its_frame(sim: Sim, tmp_path: Path) -> None:
    """The request engine's frame has the banner of a later rendering; the browser's has not."""
    case = next(c for c in LEGACY if c.key == "legacy-slots")
    url = sim.entry_url(case.key)
    for engine, later in (("browser", False), ("request", True)):
        obs = probe_and_store(sim, _config(tmp_path / engine, case, url, engine=engine), "t")
        data = tmp_path / engine / "data"
        raw = _blob(data, obs.evidence.screenshot or "")
        framed = Image.open(io.BytesIO(_blob(data, obs.evidence.framed or "")))
        banner = Banner(url, datetime.now(UTC), "t", obs.id, "0" * 64, simulated=True)
        expected = {
            flag: Image.open(io.BytesIO(frame(raw, replace(banner, rendered_later=flag)))).height
            for flag in (False, True)
        }
        assert expected[True] > expected[False]
        assert framed.height == expected[later], engine


def _probe_twice(sim: Sim, tmp_path: Path, engine: str) -> list[list[dict[str, Any]]]:
    """Two probes of one target through one runner; the simulator's requests of each."""
    case = next(c for c in LEGACY if c.key == "legacy-no-slot")
    config = _config(tmp_path, case, sim.entry_url(case.key), engine=engine)
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put, sim.host)
    seen = []
    try:
        for _ in range(2):
            before = len(sim.requests())
            obs = sim.loop.run(runner.probe(found))
            assert obs.outcome.value == "no_slot", obs
            seen.append(sim.requests()[before:])
    finally:
        store.close()
    return seen


@pytest.mark.parametrize("engine", ["browser", "request"])
def test_no_cookie_is_carried_from_one_probe_to_the_next(
    sim: Sim, tmp_path: Path, engine: str
) -> None:
    first, second = _probe_twice(sim, tmp_path, engine)
    for requests in (first, second):
        pages = [r for r in requests if "/booking/create/" in r["path"]]
        # The journey keeps its session within a probe (the site needs it) ...
        assert "eZSESSID" in pages[-1]["headers"].get("cookie", ""), pages
        assert len({r["session"] for r in pages[1:]}) == 1
    # ... and the next probe starts with no cookie at all: a new visitor, a new session.
    assert "cookie" not in second[0]["headers"], second[0]
    assert second[1]["session"] != first[1]["session"]


def test_a_url_past_the_availability_step_is_never_requested(sim: Sim, tmp_path: Path) -> None:
    case = next(c for c in LEGACY if c.key == "legacy-no-slot")
    url = sim.entry_url(case.key).replace("/0", "/6")
    before = len(sim.requests())
    obs = probe_and_store(sim, _config(tmp_path, case, url, engine="request"), "t")
    assert (obs.outcome.value, obs.detail) == ("probe_error", "booking_step_refused")
    assert sim.requests()[before:] == []


@pytest.mark.parametrize(
    ("key", "engine", "steps"),
    [
        ("legacy-no-slot", "request", ["conditions", "submit_conditions"]),
        ("legacy-redesign", "browser", ["request:conditions", "conditions"]),
    ],
)
def test_auto_uses_the_browser_only_for_pages_it_cannot_read(
    sim: Sim, tmp_path: Path, key: str, engine: str, steps: list[str]
) -> None:
    case = next(c for c in LEGACY if c.key == key)
    obs = probe_and_store(sim, _config(tmp_path, case, sim.entry_url(key), engine="auto"), "t")
    _assert_same_reading(obs, case)
    assert obs.env.engine.value == engine
    assert [s.name for s in obs.steps] == steps


@pytest.mark.parametrize("case", ANEF, ids=lambda c: c.key)
def test_anef_on_auto_reads_like_the_browser(sim: Sim, tmp_path: Path, case: Case) -> None:
    """Server-rendered states on the request engine; the script-built portal in the browser."""
    obs = probe_and_store(sim, _config(tmp_path, case, sim.entry_url(case.key), engine="auto"), "t")
    _assert_same_reading(obs, case)
    script_built = case.key in ("anef-up", "anef-error-spa", "anef-redesign")
    assert obs.env.engine is (Engine.BROWSER if script_built else Engine.REQUEST)


@pytest.mark.parametrize("case", EAPP, ids=lambda c: c.key)
def test_request_engine_reads_eappointment_from_its_sitekey_url(
    sim: Sim, tmp_path: Path, case: Case
) -> None:
    """Motive form and calendar are server-rendered; the no-slot alert is read from the
    calendar's script (only when it offers no day)."""
    sitekey = sim.state.scenario.by_key(case.key).id
    url = f"{sim.base}/eAppointmentpref94/appointment.do?sitekey={sitekey}"
    before = len(sim.requests())
    obs = probe_and_store(sim, _config(tmp_path, case, url, engine="request"), "t")
    _assert_same_reading(obs, case)
    assert obs.env.engine is Engine.REQUEST
    seen = sim.requests()[before:]
    assert seen and not [r for r in seen if r["flagged"]], seen
    if case.outcome != "site_error":
        assert [s.name for s in obs.steps] == ["entry", "motives"]


def test_eappointment_postal_code_page_is_the_browsers_on_auto(sim: Sim, tmp_path: Path) -> None:
    """The postal-code page routes with its script: `auto` hands it to the browser."""
    case = next(c for c in EAPP if c.key == "eapp-no-slot")
    obs = probe_and_store(sim, _config(tmp_path, case, sim.entry_url(case.key), engine="auto"), "t")
    _assert_same_reading(obs, case)
    assert obs.env.engine is Engine.BROWSER
    assert [s.name for s in obs.steps][:2] == ["request:entry", "entry"]


def test_request_engine_is_refused_where_a_platform_has_none(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/rdvpref/reservation/demarche/1/"
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, [{**target("t", "rdv_prefecture", url), "engine": "request"}])
    lines = (tmp_path / "watchdog.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "engine: request" in text)
    where = f"watchdog.yaml:{line}: targets[0].engine: platform rdv_prefecture has no request"
    assert where in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, [target("t", "rdv_prefecture", url)], probing={"engine": "request"})
    assert "probing.engine: platform rdv_prefecture has no request engine" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, [{**target("t", "legacy_booking", url), "engine": "fast"}])
    assert "targets[0].engine" in str(raised.value)


@pytest.fixture
def off_list_redirect(sim: Sim) -> Iterator[str]:
    """A page on 127.0.0.1 that redirects to another host (localhost, not allowed)."""

    async def start() -> web.AppRunner:
        app = web.Application()

        async def jump(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://localhost:{sim.port}/booking/create/9001/0")

        app.router.add_get("/booking/create/1/0", jump)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = sim.loop.run(start())
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/booking/create/1/0"
    sim.loop.run(runner.cleanup())


def test_an_off_list_redirect_is_refused_before_it_is_followed(
    sim: Sim, tmp_path: Path, off_list_redirect: str
) -> None:
    case = next(c for c in LEGACY if c.key == "legacy-no-slot")
    before = len(sim.requests())
    obs = probe_and_store(sim, _config(tmp_path, case, off_list_redirect, engine="request"), "t")
    assert (obs.outcome.value, obs.detail) == ("probe_error", "host_not_allowed"), obs
    assert sim.requests()[before:] == [], "the off-list host must never be contacted"
