"""The simulator at the HTTP level: legacy journeys, faults, rate limit, log and flags.

Other platforms: tests/test_simulator_platforms.py. No fixed sleeps: waits are client timeouts.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from polling import until

from watchdog.domain.errors import ConfigError
from watchdog.simulator.app import main_simulate, run_forever
from watchdog.simulator.scenario import Scenario, load_scenario
from watchdog.simulator.testing import (
    SCENARIO_DIR,
    ManualClock,
    RunningSimulator,
    async_test,
    bundled_scenario,
    http_client,
    running,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Paris
NO_SLOT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
FIXTURES = Path(__file__).parent / "fixtures" / "scenarios"
ALL = bundled_scenario("all")
client = http_client


async def legacy_walk(sim: RunningSimulator, http: aiohttp.ClientSession, key: str) -> str:
    """GET step 0, accept the conditions, follow the redirect; return the final path."""
    start = sim.entry_url(key)
    async with http.get(start) as resp:
        assert resp.status == 200
    form = {"condition": "on", "nextButton": "Effectuer une demande de rendez-vous"}
    async with http.post(start, data=form, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


# --- legacy ------------------------------------------------------------------------------


@async_test
async def test_legacy_no_slot_journey() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        async with http.get(sim.entry_url("legacy-no-slot")) as resp:
            page = await resp.text()
            assert resp.headers["X-Simulated"] == "1"
            assert {"eZSESSID", "xtvrn"} <= set(resp.cookies)
        assert 'id="FormBookingCreate" name="create" class="jqTransform FormValidate"' in page
        assert 'name="condition" id="condition"' in page
        assert "Veuillez cocher la case pour" in page
        assert 'name="nextButton" value="Effectuer une demande de rendez-vous"' in page
        assert '<div id="submit_Booking"' in page
        assert "<!-- simulated by prefecture-watchdog -->" in page
        assert "button.tarteaucitronCTAButton" not in page and "tarteaucitronCTAButton" in page
        location = await legacy_walk(sim, http, "legacy-no-slot")
        assert location == "/booking/create/9001/2"
        async with http.get(sim.url(location)) as resp:
            page = await resp.text()
        assert "<h2>Vérification de disponibilité</h2>" in page
        assert NO_SLOT in page
        assert 'name="finishButton"' in page
        assert not sim.state.log.flagged


@async_test
async def test_legacy_condition_is_required() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        start = sim.entry_url("legacy-no-slot")
        await (await http.get(start)).release()
        async with http.post(start, data={"nextButton": "x"}, allow_redirects=False) as resp:
            assert resp.status == 200
            assert "Vous devez accepter les conditions" in await resp.text()


@pytest.mark.parametrize(
    ("key", "step", "count", "week"),
    [
        ("legacy-slots", 3, 3, "Semaine du lundi 30 novembre 2026 au dimanche 06 décembre 2026"),
        (
            "legacy-slots-step4",
            4,
            5,
            "Semaine du lundi 30 novembre 2026 au dimanche 06 décembre 2026",
        ),
    ],
)
@async_test
async def test_legacy_slots(key: str, step: int, count: int, week: str) -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        location = await legacy_walk(sim, http, key)
        assert location.endswith(f"/{step}")
        if step == 3:
            async with http.get(sim.url(location)) as resp:
                assert "<h2>Description de la nature du rendez-vous</h2>" in await resp.text()
            location = location[:-1] + "4"
        async with http.get(sim.url(location)) as resp:
            page = await resp.text()
        assert "<h2>Choix d'une plage horaire</h2>" in page
        assert '<li class="etape active">Choix d\'une plage</li>' in page
        assert f'<th colspan="6" class="semaine">{week}</th>' in page
        assert len(re.findall(r'<td class="status-1 free">', page)) == count
        assert "data-slot" not in page  # no attribute the real module never had
        assert page.count(">libre<") == 1  # the legend, outside the table
        first = re.search(r'<td class="status-1 free">.*?<span class="heure">([^<]+)</span>', page)
        assert first is not None and first.group(1) == "09:00"
        assert not sim.state.log.flagged


@async_test
async def test_legacy_guichet_choice() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        location = await legacy_walk(sim, http, "legacy-guichets")
        assert location == "/booking/create/9004/1"
        async with http.get(sim.url(location)) as resp:
            page = await resp.text()
        assert (
            '<fieldset id="fchoix_Booking"><legend>Que souhaitez-vous effectuer ?</legend>' in page
        )
        assert (
            page.count('<p class="Bligne"><input type="radio" class="radio" name="planning"') == 3
        )
        assert 'value="14806" id="planning14806"' in page
        assert 'class="Bbutton" name="nextButton" value="Etape suivante"' in page
        form = {"planning": "14806", "nextButton": "Etape suivante"}
        async with http.post(sim.url(location), data=form, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/booking/create/9004/3"
        async with http.get(sim.url("/booking/create/9004/3")) as resp:
            assert "GUICHET 5 - Nanterre" in await resp.text()


@pytest.mark.parametrize(
    ("key", "status", "text"),
    [
        ("legacy-closed", 200, "Attention : Cette page n'est pas disponible pour le moment !"),
        ("legacy-retired", 200, "Ce lien a été désactivé définitivement"),
        ("legacy-retired-403", 403, "Ce lien a été désactivé définitivement"),
    ],
)
@async_test
async def test_legacy_closed_and_retired(key: str, status: int, text: str) -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        async with http.get(sim.entry_url(key)) as resp:
            assert resp.status == status
            page = await resp.text()
        assert text in page and "FormBookingCreate" not in page


@async_test
async def test_legacy_index_php_prefix_and_session_redirect() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        async with http.get(
            sim.url("/index.php/booking/create/9001/3"), allow_redirects=False
        ) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/index.php/booking/create/9001/0"
        async with http.get(sim.url("/index.php/booking/create/9001/0")) as resp:
            assert 'action="/index.php/booking/create/9001/0"' in await resp.text()
        async with http.get(sim.url("/booking/create/424242/0")) as resp:
            assert resp.status == 404


@async_test
async def test_legacy_booking_steps_are_flagged() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        location = await legacy_walk(sim, http, "legacy-slots-step4")
        await (await http.get(sim.url(location))).release()
        assert not sim.state.log.flagged
        async with http.get(sim.url("/booking/create/9003/6")) as resp:
            assert "Contrôle de sécurité" in await resp.text()
        personal = {"firstname": "A", "lastname": "B", "email": "a@b.c", "nextButton": "x"}
        await (await http.post(sim.url("/booking/create/9003/8"), data=personal)).release()
        flagged = sim.state.log.flagged
        assert [e.path for e in flagged][:2] == ["/booking/create/9003/6", "/booking/create/9003/8"]
        assert any(
            "personal data fields: email, firstname, lastname" in r for r in flagged[1].reasons
        )
        assert flagged[1].fields["email"] is None  # names only, never personal values


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status", "marker"),
    [
        ("legacy-http-502", 502, "<center><h1>502 Bad Gateway</h1></center>"),
        ("legacy-http-503", 503, "<center><h1>503 Service Unavailable</h1></center>"),
        ("legacy-http-504", 504, "<center><h1>504 Gateway Timeout</h1></center>"),
        ("legacy-overloaded", 503, "Service surchargé"),
        ("legacy-overloaded-200", 200, "Service surchargé"),
        ("legacy-blocked", 403, "<title>403 Forbidden</title>"),
        ("legacy-redesign", 200, "Nouveau portail de rendez-vous"),
    ],
)
@async_test
async def test_fault_pages(key: str, status: int, marker: str) -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        async with http.get(sim.entry_url(key)) as resp:
            assert resp.status == status
            assert resp.headers["X-Simulated"] == "1"
            page = await resp.text()
        assert marker in page
        assert "FormBookingCreate" not in page and "libre" not in page


@async_test
async def test_fault_at_step() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        location = await legacy_walk(sim, http, "legacy-502-at-step-2")
        async with http.get(sim.url(location)) as resp:
            assert resp.status == 502


@async_test
async def test_hang_times_out_on_the_client() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client(timeout=0.5) as http:
        with pytest.raises(asyncio.TimeoutError):
            await http.get(sim.entry_url("legacy-hang"))


@async_test
async def test_slow_then_normal_page() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim:
        loop = asyncio.get_running_loop()
        async with client(timeout=0.1) as http:
            with pytest.raises(asyncio.TimeoutError):
                await http.get(sim.entry_url("legacy-slow"))
        started = loop.time()
        async with client() as http, http.get(sim.entry_url("legacy-slow")) as resp:
            assert resp.status == 200 and "FormBookingCreate" in await resp.text()
        assert loop.time() - started >= 0.3


@async_test
async def test_reset_drops_the_connection() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(sim.entry_url("legacy-reset"))
        assert sim.state.log.entries[-1].status is None


@async_test
async def test_rate_limit_then_reset() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        statuses = []
        for _ in range(5):
            async with http.get(sim.entry_url("legacy-rate-limited")) as resp:
                statuses.append(resp.status)
        assert statuses == [200, 200, 200, 403, 403]
        async with http.post(sim.url("/__sim/reset")) as resp:
            assert resp.status == 200
        async with http.get(sim.entry_url("legacy-rate-limited")) as resp:
            assert resp.status == 200


@async_test
async def test_rate_limit_window_slides() -> None:
    clock = ManualClock(NOW)
    async with running(ALL, clock=clock) as sim, client() as http:
        for _ in range(4):
            await (await http.get(sim.entry_url("legacy-rate-limited"))).release()
        clock.advance(61)
        async with http.get(sim.entry_url("legacy-rate-limited")) as resp:
            assert resp.status == 200


# --- draws and publication ---------------------------------------------------------------


async def _outcomes(key: str, n: int) -> list[str]:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        results = []
        for _ in range(n):
            http.cookie_jar.clear()
            results.append((await legacy_walk(sim, http, key)).rsplit("/", 1)[1])
        return results


@async_test
async def test_draws_are_deterministic_with_a_seed() -> None:
    first = await _outcomes("legacy-random", 40)
    assert first == await _outcomes("legacy-random", 40)
    assert 3 <= first.count("3") <= 20 and set(first) == {"2", "3"}


@async_test
async def test_publication_window() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 9, 0, 30, tzinfo=UTC))  # 30 s after 10:00
    async with running(ALL, clock=clock) as sim, client() as http:
        assert (await legacy_walk(sim, http, "legacy-publish")).endswith("/3")
        clock.advance(150)  # 3 min after the publication: the slots are gone
        http.cookie_jar.clear()
        assert (await legacy_walk(sim, http, "legacy-publish")).endswith("/2")


# --- admin routes, log -------------------------------------------------------------------


@async_test
async def test_admin_routes_and_log_redaction() -> None:
    async with running(ALL, clock=ManualClock(NOW)) as sim, client() as http:
        await legacy_walk(sim, http, "legacy-no-slot")
        async with http.get(sim.url("/__sim/health")) as resp:
            assert (await resp.json())["status"] == "ok"
        async with http.get(sim.url("/__sim/log")) as resp:
            log = await resp.json()
        assert [e["method"] for e in log] == ["GET", "POST"]
        assert log[1]["fields"] == {
            "condition": ["on"],
            "nextButton": ["Effectuer une demande de rendez-vous"],
        }
        assert log[1]["target"] == "legacy-no-slot" and log[1]["step"] == "0"
        assert log[1]["session"] and len(log[1]["session"]) == 12
        assert log[1]["headers"]["cookie"] == "eZSESSID; xtvrn"


# --- scenario files ----------------------------------------------------------------------


def test_bundled_scenarios_load() -> None:
    assert bundled_scenario("demo").targets
    assert len(ALL.targets) >= 20


def test_fault_written_as_state_is_a_fault() -> None:
    target = ALL.by_key("legacy-overloaded")
    assert target.behaviour[0].fault is not None and target.behaviour[0].state is None


@pytest.mark.parametrize(
    ("name", "line", "key", "message"),
    [
        (
            "bad_state.yaml",
            7,
            "targets[0].behaviour[0].state",
            "state 'login_wall' not in legacy_booking",
        ),
        ("unknown_key.yaml", 6, "targets[0].colour", "Extra inputs are not permitted"),
        ("bad_duration.yaml", 6, "targets[0].rate_limit.window", "expected a duration"),
    ],
)
def test_scenario_errors_name_file_line_and_key(
    name: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(FIXTURES / name)
    problem = info.value.problems[0]
    assert (problem.line, problem.key) == (line, key)
    assert message in problem.message
    assert str(problem).startswith(f"{FIXTURES / name}:{line}: {key}:")


def test_scenario_refuses_two_targets_on_one_page() -> None:
    with pytest.raises(ValueError, match="two targets serve the same page"):
        Scenario.model_validate(
            {
                "targets": [
                    {"key": "a", "platform": "legacy_booking", "id": 1},
                    {"key": "b", "platform": "legacy_booking", "id": "1"},
                ]
            }
        )


# --- entry points ------------------------------------------------------------------------


def test_main_simulate_rejects_a_bad_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_simulate(str(FIXTURES / "bad_state.yaml"), "127.0.0.1", 0, None) == 2
    assert "targets[0].behaviour[0].state" in capsys.readouterr().err


@async_test
async def test_run_forever_serves_until_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = asyncio.Event()
    log = tmp_path / "requests.jsonl"
    task = asyncio.create_task(
        run_forever(SCENARIO_DIR / "demo.yaml", "127.0.0.1", 0, log, stop=stop)
    )
    printed: list[str] = []

    def listening() -> bool:
        assert not task.done(), "the simulator stopped"
        printed.append(capsys.readouterr().out)
        return "Simulator listening on" in "".join(printed)

    await until(listening, 5, "the simulator to say where it listens")
    out = "".join(printed)
    base = re.search(r"listening on (http://[^/]+)/", out)
    assert base is not None and "/booking/create/804/0" in out
    async with client() as http, http.get(base.group(1) + "/__sim/") as resp:
        assert "ain-804" in await resp.text()
    async with client() as http, http.get(base.group(1) + "/booking/create/804/0") as resp:
        assert resp.status == 200
    stop.set()
    await asyncio.wait_for(task, 5)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and '"path": "/booking/create/804/0"' in lines[0]


@pytest.mark.parametrize("name", ["all", "demo"])
@async_test
async def test_every_target_answers_without_crashing(name: str) -> None:
    scenario = bundled_scenario(name)
    skip = {"legacy-hang", "legacy-reset"}
    async with running(scenario, clock=ManualClock(NOW)) as sim, client(timeout=10) as http:
        for target in scenario.targets:
            if target.key in skip:
                continue
            async with http.get(sim.entry_url(target.key)) as resp:
                body = await resp.text()
            assert "Server got itself in trouble" not in body, target.key
            assert resp.headers["X-Simulated"] == "1"
            assert "<!-- simulated by prefecture-watchdog -->" in body, target.key
        assert not sim.state.log.flagged
