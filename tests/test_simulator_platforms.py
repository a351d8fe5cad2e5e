"""The simulator's RDV-Préfecture, eAppointment and ANEF replicas at the HTTP level."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from playwright.async_api import Dialog, async_playwright

from watchdog.simulator.testing import (
    ManualClock,
    RunningSimulator,
    async_test,
    bundled_scenario,
    http_client,
    running,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Paris
ALL = bundled_scenario("all")
OPERATOR = {"X-Operator-Token": "op-secret-token"}


def demarche(sim: RunningSimulator, key: str, rest: str = "") -> str:
    return sim.entry_url(key) + rest


async def solve(
    sim: RunningSimulator, http: aiohttp.ClientSession, key: str, answer: str = "TEST1234"
) -> str:
    """Load cgu/ and submit `answer`; return the redirect target."""
    await (await http.get(demarche(sim, key, "cgu/"))).release()
    form = {"captchaId": "x", "captchaUsercode": answer}
    headers = {"X-Watchdog-Assisted": "1"}
    async with http.post(
        demarche(sim, key, "_validerCaptcha"), data=form, headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


def critere(page: str) -> dict[str, object]:
    match = re.search(r'"critere": (\{[^}]*\})', page)
    assert match is not None
    value = json.loads(match.group(1))
    assert isinstance(value, dict)
    return value


# --- RDV-Préfecture ----------------------------------------------------------------------


@async_test
async def test_rdv_landing_and_captcha_page() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(demarche(sim, "rdv-no-slot")) as resp:
            page = await resp.text()
        assert 'href="/rdvpref/reservation/demarche/4083/cgu/"' in page
        assert re.search(r'<a class="q-btn[^"]*bg-primary[^"]*" href="[^"]*/cgu/">', page)
        assert '<span class="block">Prendre un rendez-vous</span>' in page
        assert (
            'href="/rdvpref/login/"><span class="q-btn__content"><span class="block">Gérer' in page
        )
        async with http.get(demarche(sim, "rdv-no-slot", "cgu/")) as resp:
            page = await resp.text()
            cookie = resp.cookies.get("JSESSIONID")
        assert "<title>Constituez votre dossier" in page
        assert re.search(
            r'<rdv-captchetat endpoint="http://[^"]+/piste/captcha/simple-captcha-'
            r'endpoint" captcha-style-name="captchaFR"\s+token="\w+">',
            page,
        )
        for marker in (
            'id="BDC_CaptchaComponent"',
            '<div class="captcha"><img id="captchaFR_CaptchaImage"',
            'id="captchaFR_SoundLink"',
            'type="hidden" name="BDC_VCID_captchaFR" id="BDC_VCID_captchaFR"',
            'type="hidden" name="captchaId"',
            'id="captchaFormulaireExtInput" name="captchaUsercode"',
            '<span class="block">Suivant</span>',
            "Générer un nouveau captcha",
            "code de sécurité",
            "history.replaceState",
        ):
            assert marker in page, marker
    assert cookie is None or cookie["path"] == "/rdvpref"


@async_test
async def test_rdv_cookies() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(demarche(sim, "rdv-no-slot", "cgu/")) as resp:
            cookies = resp.cookies
        assert cookies["JSESSIONID"]["path"] == "/rdvpref"
        assert cookies["JSESSIONID"]["httponly"]
        assert cookies["JSESSIONID"].value.startswith("VM-01-48-02-003~")
        assert any(name.startswith("incap_ses_") for name in cookies)


@async_test
async def test_rdv_piste_endpoint() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        piste = sim.url("/piste/captcha/simple-captcha-endpoint")
        async with http.get(piste, params={"get": "image", "c": "captchaFR", "t": "ab"}) as resp:
            assert resp.content_type == "image/png"
            assert (await resp.read()).startswith(b"\x89PNG")
        async with http.get(piste, params={"get": "sound", "c": "captchaFR", "t": "ab"}) as resp:
            assert (await resp.read()).startswith(b"RIFF")
        async with http.get(piste, params={"get": "html", "c": "captchaFR"}) as resp:
            assert "BDC_CaptchaComponent" in await resp.text()
        async with http.get(piste, params={"get": "validation-result", "i": "test1234"}) as resp:
            assert await resp.json() is True
        assert sim.state.log.entries[-1].query["i"] is None  # the answer is never logged
        assert sim.state.log.entries[-1].flagged


@async_test
async def test_rdv_wrong_then_right_captcha_no_slot() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        assert (await solve(sim, http, "rdv-no-slot", "WRONG")).endswith(
            "/demarche/4083/cgu/?error=invalidCaptcha"
        )
        assert (await solve(sim, http, "rdv-no-slot")).endswith("/demarche/4083/creneau/")
        async with http.get(demarche(sim, "rdv-no-slot", "creneau/")) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "<title>Choisissez votre créneau" in page
        assert "Aucun créneau disponible sur cette semaine" in page
        assert 'name="trhId"' not in page
        assert critere(page) == {
            "datePremiereDispo": "",
            "dateMin": "24/11/2026",
            "dateMax": "21/12/2026",
            "ageIds": [40831],
            "premierJour": "23/11/2026",
            "minutesMin": 0,
        }
        assert not sim.state.log.flagged  # assisted mode
        assert sim.state.log.entries[1].fields["captchaUsercode"] is None


@async_test
async def test_rdv_machine_captcha_answer_is_flagged() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        form = {"captchaUsercode": "TEST1234"}
        await (await http.get(demarche(sim, "rdv-no-slot", "cgu/"))).release()
        await (
            await http.post(demarche(sim, "rdv-no-slot", "_validerCaptcha"), data=form)
        ).release()
        assert [e.path.rsplit("/", 1)[1] for e in sim.state.log.flagged] == ["_validerCaptcha"]


@async_test
async def test_rdv_creneau_without_session() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        url = demarche(sim, "rdv-slots", "creneau/")
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].endswith("/4085/cgu/?error=errorSessionInvalide")


@async_test
async def test_rdv_slots_markup() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        await solve(sim, http, "rdv-slots")
        async with http.get(demarche(sim, "rdv-slots", "creneau/")) as resp:
            page = await resp.text()
        items = re.findall(r'<li class="row cellule justify-center radio-card( even)?">', page)
        assert len(items) == 4
        assert (
            '<input type="radio" name="trhId" id="trhId_2612030900" data-value="2612030900"' in page
        )
        assert '<label class="fr-label" for="trhId_2612030900">09h00</label>' in page
        assert '<div class="celulleHeader">jeu. 03/12</div>' in page
        assert page.count('class="celulleHeader"') == 7
        assert "Voir plus de créneaux" in page
        assert critere(page)["datePremiereDispo"] == "03/12/2026"
        assert "Aucun créneau" not in page


@async_test
async def test_rdv_operator_bypass() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(
            demarche(sim, "rdv-slots", "cgu/"), headers=OPERATOR, allow_redirects=False
        ) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].endswith("/4085/creneau/")
        async with http.get(demarche(sim, "rdv-slots", "creneau/"), headers=OPERATOR) as resp:
            assert 'name="trhId"' in await resp.text()
        http.cookie_jar.update_cookies({"operator_token": "op-secret-token"})
        async with http.get(demarche(sim, "rdv-slots", "cgu/")) as resp:
            assert resp.url.path.endswith("/creneau/")
        assert not sim.state.log.flagged
        assert sim.state.log.entries[0].headers["x-operator-token"] == "[redacted]"


@async_test
async def test_rdv_session_lifetime() -> None:
    clock = ManualClock(NOW)
    async with running(ALL, clock=clock) as sim, http_client() as http:
        await solve(sim, http, "rdv-short-session")
        url = demarche(sim, "rdv-short-session", "creneau/")
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 200
        clock.advance(121)
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].endswith("cgu/?error=errorSessionInvalide")


@async_test
async def test_rdv_session_expired_state_never_loops() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        assert (await solve(sim, http, "rdv-session-expired")).endswith("/creneau/")
        async with http.get(demarche(sim, "rdv-session-expired", "creneau/")) as resp:
            assert resp.url.query.get("error") == "errorSessionInvalide"
            assert "Votre session a expiré" in await resp.text()
        url = demarche(sim, "rdv-session-expired", "cgu/")
        async with http.get(url, headers=OPERATOR) as resp:
            assert resp.url.path.endswith("/cgu/") and resp.status == 200


@async_test
async def test_rdv_publication_notices() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 9, 2, tzinfo=UTC))  # 10:02 in Paris
    async with running(ALL, clock=clock) as sim, http_client() as http:
        await solve(sim, http, "rdv-publish")
        url = demarche(sim, "rdv-publish", "creneau/")
        async with http.get(url) as resp:
            page = await resp.text()
        assert page.count('name="trhId"') == 4
        assert (
            "<span>Dernière mise en ligne de rendez-vous : le 24/11/2026 à 10:00</span> "
            "<span>pour des créneaux de la semaine du 07/12/2026</span>"
        ) in page
        clock.advance(300)
        async with http.get(url) as resp:
            page = await resp.text()
        assert 'name="trhId"' not in page
        assert "Aucun créneau disponible à partir de cette date." in page
        assert "Veuillez réessayer ultérieurement." in page
        assert (
            "<span>Prochaine mise en ligne de nouveaux rendez-vous : le 24/11/2026 à 14:00</span> "
            "<span>pour des créneaux de la semaine du 07/12/2026</span>"
        ) in page


@async_test
async def test_rdv_no_slot_last_week_variant_and_fault_at_creneau() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        await solve(sim, http, "rdv-no-slot-last-week")
        async with http.get(demarche(sim, "rdv-no-slot-last-week", "creneau/")) as resp:
            page = await resp.text()
        assert "Aucun créneau disponible à partir de cette date." in page
        assert "Prochaine mise en ligne" not in page
        await solve(sim, http, "rdv-502-at-creneau")
        async with http.get(demarche(sim, "rdv-502-at-creneau", "creneau/")) as resp:
            assert resp.status == 502


@async_test
async def test_rdv_booking_steps_are_flagged() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        await solve(sim, http, "rdv-slots")
        await (await http.get(demarche(sim, "rdv-slots", "creneau/"))).release()
        assert not sim.state.log.flagged
        form = {"trhId": "2612030900"}
        async with http.post(demarche(sim, "rdv-slots", "_choisirCreneau"), data=form) as resp:
            assert "Vos informations" in await resp.text()
        details = {
            "nom": "X",
            "prenom": "Y",
            "email": "x@y.z",
            "action": "Confirmer le rendez-vous",
        }
        async with http.post(
            demarche(sim, "rdv-slots", "_confirmerReservation"), data=details
        ) as resp:
            assert "Demande enregistrée" in await resp.text()
        reasons = [r for e in sim.state.log.flagged for r in e.reasons]
        assert "rdv slot selection" in reasons
        assert "reservation confirmation" in reasons
        assert "personal data fields: email, nom, prenom" in reasons


# --- eAppointment ------------------------------------------------------------------------

EAPP = "/eAppointmentpref94"
MOTIFS_ALERT = (
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné."
)


async def eapp_calendar(sim: RunningSimulator, http: aiohttp.ClientSession, sitekey: str) -> str:
    """appointment.do → (302 ;jsessionid=) → motives → calendar; return the calendar page."""
    start = sim.url(f"{EAPP}/appointment.do?sitekey={sitekey}&mobile=false")
    async with http.get(start, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
        assert resp.cookies["JSESSIONID"]["path"] == EAPP
    assert re.fullmatch(
        rf"{EAPP}/appointment\.do;jsessionid=[0-9A-F]+\?sitekey={sitekey}&mobile=false", location
    )
    async with http.get(sim.url(location)) as resp:
        page = await resp.text()
    action = re.search(r'<form id="form1" name="form1" method="post" action="([^"]+)"', page)
    assert action is not None and ";jsessionid=" in action.group(1)
    assert 'name="selectedMotiveKeyList" value="20"' in page and 'id="nextButtonId"' in page
    form = {"selectedMotiveKeyList": "20", "nextButton": "Continuer"}
    async with http.post(sim.url(action.group(1)), data=form, allow_redirects=False) as resp:
        assert resp.status == 302
        calendar = resp.headers["Location"]
    http.cookie_jar.clear()  # the path parameter alone must carry the session
    async with http.get(sim.url(calendar)) as resp:
        return await resp.text()


@async_test
async def test_eapp_postal_code_page() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(sim.entry_url("eapp-no-slot")) as resp:
            page = await resp.text()
        assert '<input type="text" id="CPId" name="CP"' in page
        assert '<input type="button" class="btn btn-primary" value="Continuer"' in page
        assert "Préfecture du Val de Marne – SERVICES EN LIGNE" in page
        assert "Veuillez saisir un code postal valide." in page
        assert '"94130": "P942"' in page and '"94240": "P943"' in page
        assert "appointment.do?sitekey=" in page


@async_test
async def test_eapp_no_slot_alert() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        page = await eapp_calendar(sim, http, "P941")
        assert "<h2>3/4 : Lieu, date et heure</h2>" in page
        assert (
            f'window.addEventListener("load", function () {{ setTimeout(function () {{'
            f' alert("{MOTIFS_ALERT}"); }}, 0); }});' in page
        )
        assert '<select id="dayValueId" name="dayValue" class="form-control" disabled>' in page
        assert "soonestText" not in page and 'data-handler="selectDay"' not in page
        assert not sim.state.log.flagged


@async_test
async def test_eapp_other_no_slot_wording() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        page = await eapp_calendar(sim, http, "P944")
        assert 'alert("Il n\'y a pas de rendez-vous disponible pour ce service.")' in page


@async_test
async def test_eapp_slots() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        page = await eapp_calendar(sim, http, "P942")
        assert 'addEventListener("load"' not in page and "Aucun rendez-vous" not in page
        options = re.findall(r'<option value="(\d{4}-\d\d-\d\d)">', page)
        assert options == ["2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"]
        assert page.count('data-handler="selectDay"') == 5
        assert '<span class="ui-datepicker-month">décembre</span>' in page
        assert '<a class="ui-state-default" href="#">2</a>' in page and "data-iso" not in page
        assert '<p class="soonestText">mercredi 02 décembre 2026 à 09:00</p>' in page
        assert '<select id="hourValueSelect" name="hourValue" class="form-control">' in page
        assert page.count('name="selectedHour"') == 5
        assert '<div class="availabilityColumn1">' in page and "> A 09:00</label>" in page


@async_test
async def test_eapp_error_and_booking_flags() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        page = await eapp_calendar(sim, http, "P943")
        assert "<title>eAppointment - Erreur" in page
        page = await eapp_calendar(sim, http, "P942")
        action = re.search(r'action="([^"]*hour\.do[^"]*)"', page)
        assert action is not None
        form = {"dayValue": "2026-12-02", "selectedHour": "2026-12-02T09:00"}
        async with http.post(sim.url(action.group(1)), data=form) as resp:
            page = await resp.text()
        assert "<h2>4/4 : informations personnelles</h2>" in page
        assert '<form id="form2"' in page and 'id="saveRdvId"' in page
        reasons = {r for e in sim.state.log.flagged for r in e.reasons}
        assert {"eappointment slot selection", "eappointment 4/4"} <= reasons


@async_test
async def test_eapp_unknown_sitekey_is_an_error_page() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        resp = await http.get(sim.url(f"{EAPP}/appointment.do?sitekey=P999"))
        assert "erreur" in (await resp.text()).split("</title>")[0].lower()


# --- ANEF --------------------------------------------------------------------------------


@async_test
async def test_anef_up() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        assert sim.entry_url("anef-up").endswith("/particuliers/#/")
        async with http.get(sim.entry_url("anef-up")) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert '<app-root ng-version="15.2.10"></app-root>' in page
        assert 'fetch(api + "/api/anf/status"' in page
        for text in ("Administration numérique pour les étrangers en France", "Se connecter"):
            assert text in page
        assert "FranceConnect" in page and "client_id=anef-usagers" in page
        async with http.get(sim.url("/api/anf/status")) as resp:
            assert resp.status == 200 and await resp.json() == {"status": "UP"}
        async with http.get(sim.url("/api/anf/dossier-stepper")) as resp:
            assert resp.status == 401
        async with http.get(sim.url("/api/anf/dossier-stepper"), headers=OPERATOR) as resp:
            assert resp.status == 200


@async_test
async def test_anef_states() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(sim.entry_url("anef-maintenance")) as resp:
            assert resp.status == 503
            assert "<h1>Site en maintenance</h1>" in await resp.text()
        async with http.get(sim.entry_url("anef-maintenance-200")) as resp:
            assert resp.status == 200
            assert "<h1>Site en maintenance</h1>" in await resp.text()
        async with http.get(sim.entry_url("anef-error")) as resp:
            assert resp.status == 500
            assert "500 Internal Server Error" in await resp.text()
        async with http.get(sim.entry_url("anef-error-spa")) as resp:
            assert resp.status == 200 and "<app-root" in await resp.text()
        async with http.get(sim.url("/anef/error-spa/api/anf/status")) as resp:
            assert resp.status == 500
        async with http.get(sim.entry_url("anef-redesign")) as resp:
            assert "Nouveau portail de rendez-vous" in await resp.text()


@async_test
async def test_anef_login_wall() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, http_client() as http:
        async with http.get(sim.entry_url("anef-login-wall"), allow_redirects=False) as resp:
            assert resp.status == 302
            location = resp.headers["Location"]
        assert location.startswith(
            "/anef/login-wall/auth/realms/anef-usagers/protocol/openid-connect/auth?"
            "client_id=anef-usagers&redirect_uri="
        )
        assert "theme=portail-anef" in location and "response_mode=fragment" in location
        async with http.get(sim.url(location)) as resp:
            page = await resp.text()
        assert '<h1 id="kc-page-title">Se connecter</h1>' in page
        assert 'id="kc-form-login"' in page
        action = re.search(r'id="kc-form-login" action="([^"]+)"', page)
        assert action is not None
        await (
            await http.post(sim.url(action.group(1)), data={"username": "u", "password": "p"})
        ).release()
        assert [e.reasons for e in sim.state.log.flagged] == [
            ["ANEF login attempt", "personal data fields: password, username"]
        ]


# --- client-side behaviour, in a real browser (the test command installs Chromium) -------

CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None
)


@async_test
async def test_client_side_behaviour_in_a_browser() -> None:
    alerts: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        alerts.append(dialog.message)
        await dialog.dismiss()

    async with running(ALL, clock=ManualClock(NOW)) as sim, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page()
        page.on("dialog", dismiss)
        await page.goto(sim.entry_url("anef-up"))
        await page.wait_for_selector("app-root #btn-connexion", timeout=5000)
        await page.goto(sim.entry_url("anef-error-spa"))
        await page.wait_for_selector("app-root .app-error", timeout=5000)
        await page.goto(sim.entry_url("eapp-no-slot"))
        await page.fill("#CPId", "94000")
        async with page.expect_navigation():
            await page.click("input[type=button].btn-primary")
        await page.check("input[name=selectedMotiveKeyList][value='20']")
        async with page.expect_navigation():
            await page.click("#nextButtonId")
        await page.wait_for_function("document.readyState === 'complete'")
        await page.goto(sim.url("/rdvpref/reservation/demarche/4083/cgu/?error=invalidCaptcha"))
        assert "error=" not in page.url  # the front end strips it, as the real one does
        await browser.close()
    assert alerts == [MOTIFS_ALERT]
