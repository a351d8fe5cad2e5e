"""The simulator's RDV-Préfecture, eAppointment and ANEF replicas at the HTTP level."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import aiohttp

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
