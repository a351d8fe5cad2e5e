"""A probe that cannot act is our fault (`probe_error`), never the site's `timeout`.

Pages here are test fixtures, not replicas: they put on a legacy step-0 form what no
source in docs/platforms.md reports — an overlay we do not know, a banner whose button
does nothing, a submit that is hidden or missing — so the probe must say it could not act,
with the precise detail and its trace, while the site answered every request at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from conftest import SIM_NOW
from harness import Sim, loopback_site, probe_and_store, simulating, target, write_config

from watchdog.simulator.app import entry_path
from watchdog.simulator.scenario import Scenario
from watchdog.store import Store

FORM = """<form id="FormBookingCreate" name="create" method="post" action="/booking/create/7/0">
<p class="Bligne"><input type="checkbox" name="condition" id="condition" value="on">
<label for="condition">Veuillez cocher la case pour accepter les conditions</label></p>
<div id="submit_Booking">{submit}</div></form>"""
SUBMIT = '<input type="submit" class="Bbutton" name="nextButton" value="Effectuer une demande">'
OVERLAY = (
    '<div id="surcouche" style="position:fixed;inset:0;background:rgba(0,0,0,.5);'
    'z-index:100"></div>'
)
STUCK_BANNER = """<div id="tarteaucitronRoot"><div id="tarteaucitronBack"
 style="position:fixed;inset:0;background:#333;opacity:.7;z-index:99"></div>
<div id="tarteaucitronAlertBig" style="position:fixed;top:30%;left:20%;z-index:100;background:#fff">
<button type="button" class="tarteaucitronCTAButton tarteaucitronDeny"
 id="tarteaucitronAllDenied2">Tout refuser</button></div></div>"""

PAGES = {
    "overlay": FORM.format(submit=SUBMIT) + OVERLAY,
    "stuck-banner": FORM.format(submit=SUBMIT) + STUCK_BANNER,
    "hidden-submit": FORM.format(submit=SUBMIT.replace("<input", '<input style="display:none"')),
    "no-submit": FORM.format(submit=""),
}
CASES = [
    ("overlay", "click_intercepted"),
    ("stuck-banner", "consent_not_dismissed"),
    ("hidden-submit", "element_hidden"),
    ("no-submit", "element_missing"),
]


@pytest.fixture
def fixture_site(sim: Sim) -> Iterator[str]:
    """A loopback site serving PAGES at /<name>/booking/create/7/0."""

    async def page(request: web.Request) -> web.Response:
        body = PAGES[request.match_info["name"]]
        html = f"<!DOCTYPE html><html lang=fr><head><title>RDV</title></head><body>{body}"
        return web.Response(text=html + "</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}/booking/create/7/0", page)
    with loopback_site(sim, app) as base:
        yield base


@pytest.mark.parametrize(("name", "detail"), CASES, ids=[c[0] for c in CASES])
def test_a_probe_that_cannot_act_is_a_probe_error(
    sim: Sim, tmp_path: Path, fixture_site: str, name: str, detail: str
) -> None:
    url = f"{fixture_site}/{name}/booking/create/7/0"
    config = write_config(tmp_path, [target("t", "legacy_booking", url)],
                          browser={"probe_timeout": "60s"})  # fmt: skip
    obs = probe_and_store(sim, config, "t")
    assert (obs.outcome.value, obs.detail) == ("probe_error", detail), obs.message
    # Told apart well before the probe's deadline: nothing waited for the site.
    assert obs.duration_s < 30
    assert obs.steps[0].status == 200 and obs.http_status == 200
    # A click or a tick that could not happen is no step of the journey: the trail holds the
    # pages the site served, never a step with no answer for an action we did not make.
    assert all(step.status == 200 for step in obs.steps), obs.steps
    store = Store.open(tmp_path / "data")
    try:
        assert obs.evidence.trace is not None and store.blobs.get(obs.evidence.trace)
    finally:
        store.close()


def test_a_slow_answer_to_our_click_is_not_our_fault(tmp_path: Path) -> None:
    """The site takes longer to answer a submit than an action's own check lasts: the probe
    waits for the site (its deadline), and reads the page it eventually gets."""
    slow = {"fault": "slow", "delay": "7s", "at_step": "2", "state": "no_slot"}
    scenario = Scenario.model_validate(
        {
            "targets": [
                {
                    "key": "slow-step-2",
                    "platform": "legacy_booking",
                    "id": "9100",
                    "behaviour": [slow],
                }
            ]
        }
    )
    with simulating(scenario, SIM_NOW) as sim:
        url = sim.base + entry_path(scenario.targets[0])
        config = write_config(tmp_path, [target("t", "legacy_booking", url)])
        obs = probe_and_store(sim, config, "t")
        assert (obs.outcome.value, obs.detail) == ("no_slot", "no_free_slot"), obs.message
        assert obs.duration_s >= 7
