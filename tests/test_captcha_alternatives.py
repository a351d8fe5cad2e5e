"""What a captcha offers besides its image (RGAA 1.5), recorded where the probe stops.

Against the simulator's CaptchEtat page (image, sound link, audio element, a sound resource
answering `audio/wav`) and against loopback pages that differ in one thing each: no sound
link, a sound link answering HTML or 404, a sound link off `allowed_hosts` (never contacted),
and a captcha whose markup never arrives (nothing known, never read as « no alternative »).
The captcha is never answered: no request carries a captcha answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, target, write_config

from watchdog.domain.models import AudioCheck, CaptchaSeen, Outcome
from watchdog.report.recommend import _target_indicators
from watchdog.stats.calendar import Period
from watchdog.stats.compute import compute
from watchdog.store import Store
from watchdog.store.verify import verify_store

COMPONENT = """<div id="BDC_CaptchaComponent" class="BDC_CaptchaDiv">
 <img id="captchaFR_CaptchaImage" class="BDC_CaptchaImage" src="/image.png" alt="Code">
 {sound}
</div>"""
SOUND = '<a id="captchaFR_SoundLink" class="BDC_SoundLink" href="{href}">Écouter</a>'
PAGE = """<!doctype html><html lang="fr"><title>Conditions</title><body>
<form><rdv-captchetat captcha-style-name="captchaFR"></rdv-captchetat>{component}
<input id="captchaFormulaireExtInput" name="captchaUsercode"></form></body></html>"""
PAGES = {
    "no-audio": PAGE.format(component=COMPONENT.format(sound="")),
    "html-audio": PAGE.format(component=COMPONENT.format(sound=SOUND.format(href="/sound/html"))),
    "broken-audio": PAGE.format(component=COMPONENT.format(sound=SOUND.format(href="/sound/404"))),
    "offsite-audio": PAGE.format(
        component=COMPONENT.format(sound=SOUND.format(href="http://captcha.invalid/sound"))
    ),
    "never-rendered": PAGE.format(component=""),
}


@pytest.fixture
def site(sim: Sim) -> Iterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGES[request.match_info["name"]], content_type="text/html")

    async def sound(request: web.Request) -> web.Response:
        if request.match_info["kind"] == "404":
            raise web.HTTPNotFound(text="introuvable")
        return web.Response(text="<p>Erreur</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}/rdvpref/reservation/demarche/7/cgu/", page)
    app.router.add_get("/sound/{kind}", sound)
    with loopback_site(sim, app) as base:
        yield base


def test_the_simulated_captchetat_offers_a_working_audio_alternative(
    sim: Sim, tmp_path: Path
) -> None:
    config = write_config(tmp_path, [target("rdv", "rdv_prefecture", sim.entry_url("rdv-no-slot"))])
    obs = probe_and_store(sim, config, "rdv")
    assert (obs.outcome, obs.detail) == (Outcome.CAPTCHA, "captcha_wall")
    assert obs.captcha == CaptchaSeen(
        rendered=True, image=True, audio=True, audio_check=AudioCheck.AUDIO,
        audio_status=200, audio_type="audio/wav",
    )  # fmt: skip
    fetched = [s for s in obs.steps if s.name == "captcha:audio"]
    assert len(fetched) == 1 and "get=sound" in fetched[0].url
    # Nothing the simulator flags (a captcha answer, a booking step) was sent.
    assert not [r for r in sim.requests() if r["flagged"]]
    store = Store.open(config.watchdog.data_dir)
    try:
        assert verify_store(store).ok
    finally:
        store.close()


def test_each_captcha_offer_is_recorded_as_seen(sim: Sim, site: str, tmp_path: Path) -> None:
    rows = [
        target(name, "rdv_prefecture", f"{site}/{name}/rdvpref/reservation/demarche/7/cgu/",
               {"render_timeout_s": 3})
        for name in PAGES
    ]  # fmt: skip
    config = write_config(tmp_path, rows)
    seen = {name: probe_and_store(sim, config, name) for name in PAGES}
    assert all(obs.outcome is Outcome.CAPTCHA for obs in seen.values())
    captcha = {name: obs.captcha for name, obs in seen.items()}
    assert captcha["no-audio"] == CaptchaSeen(rendered=True, image=True, audio=False)
    html, broken, offsite = captcha["html-audio"], captcha["broken-audio"], captcha["offsite-audio"]
    assert html is not None and (html.audio_check, html.audio_type) == (
        AudioCheck.NOT_AUDIO, "text/html",
    )  # fmt: skip
    assert broken is not None and (broken.audio_check, broken.audio_status) == (
        AudioCheck.FAILED, 404,
    )  # fmt: skip
    assert offsite is not None and offsite.audio and offsite.audio_check is AudioCheck.NOT_CHECKED
    assert not any("captcha.invalid" in s.url for s in seen["offsite-audio"].steps)
    assert captcha["never-rendered"] == CaptchaSeen(rendered=False)
    assert captcha["never-rendered"].alternative is None

    # The report's RGAA 1.5 indicator: one rendered captcha in four offered no alternative;
    # the one that never rendered is not counted either way.
    store = Store.open(config.watchdog.data_dir)
    try:
        now = datetime.now(UTC)
        period = Period(now - timedelta(hours=1), now + timedelta(minutes=1))
        stats = compute(store, list(PAGES), period)
    finally:
        store.close()
    rates = {n: _target_indicators(s, True)["captcha_without_alternative_rate"]
             for n, s in stats.items()}  # fmt: skip
    assert rates == {
        "no-audio": 1.0, "html-audio": 0.0, "broken-audio": 0.0, "offsite-audio": 0.0,
        "never-rendered": None,
    }  # fmt: skip
