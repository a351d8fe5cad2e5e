"""Assisted sessions end to end (issue 16): `watchdog run` parks a page at the RDV-Préfecture
captcha, a person (this test, through a Playwright page on the assist desk) answers it, and the
watchdog then reads `creneau/` at the journey's pace until the simulated session expires.

Real processes (the simulator, `watchdog run`), real Chromium on both sides; the answer the
simulator accepts is its scenario's `captcha_answer`. Every wait is a poll against a deadline.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from notifyfix import HttpReceiver, receivers
from playwright.sync_api import Browser, Page, sync_playwright
from polling import wait_until
from simproc import simulator_process

from watchdog.domain.models import Observation, Outcome
from watchdog.engine.browser import find_chromium
from watchdog.simulator.media import captcha_png
from watchdog.store import Store
from watchdog.store.verify import verify_store

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
ANSWER = "TEST1234"
TOKEN = "assist-test-token-0123456789"
LIFETIME_S = 20
INTERVAL_S = 3
SCENARIO = {
    "simulated": True,
    "seed": 7,
    "captcha_answer": ANSWER,
    "targets": [
        {"key": "assist-slots", "platform": "rdv_prefecture", "id": 4201,
         "label": "Titre de séjour - Versailles", "session_lifetime": f"{LIFETIME_S}s",
         "behaviour": [{"state": "slots", "slots": 3, "first_slot_in_days": 9}]},
        {"key": "assist-none", "platform": "rdv_prefecture", "id": 4202,
         "session_lifetime": f"{LIFETIME_S}s", "behaviour": [{"state": "no_slot"}]},
    ],
}  # fmt: skip
DEADLINE = 90
DRAWN = "() => document.getElementById('captcha-image').naturalWidth > 0"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with simulator_process(tmp_path_factory.mktemp("sim"), SCENARIO) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=find_chromium(None, None))
        yield launched
        launched.close()


def target(key: str, base: str) -> dict[str, Any]:
    targets: list[dict[str, Any]] = SCENARIO["targets"]  # type: ignore[assignment]
    number = next(t["id"] for t in targets if t["key"] == key)
    return {
        "id": key, "department": "78", "prefecture": "Yvelines", "procedure": "premiere_demande",
        "label": f"Cas assisté {key}", "platform": "rdv_prefecture",
        "url": f"{base}/rdvpref/reservation/demarche/{number}/", "interval": f"{INTERVAL_S}s",
        "options": {"captcha": "assisted"},
    }  # fmt: skip


class Run:
    """One `watchdog run` subprocess with an assist desk."""

    def __init__(
        self,
        folder: Path,
        simulator: str,
        wait_for_person: str = "5m",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.folder = folder
        self.data_dir = folder / "data"
        self.desk = f"http://127.0.0.1:{free_port()}/assistance"
        self.log_path = folder / "run.log"
        config = {
            "watchdog": {"data_dir": str(self.data_dir), "min_interval": "1s", "simulated": True,
                         "allowed_hosts": ["127.0.0.1", "localhost"]},
            "browser": {"probe_timeout": "30s", "max_contexts": 3},
            "politeness": {"per_host": {"requests_per_minute": 120, "concurrent": 2}},
            "listen": {"port": free_port()},
            "assist": {"port": int(self.desk.split(":")[2].split("/")[0]), "max_parked": 1,
                       "wait_for_person": wait_for_person, "max_session": "10m"},
            "targets": [target("assist-slots", simulator), target("assist-none", simulator)],
            **(extra or {}),
        }  # fmt: skip
        self.config = folder / "watchdog.yaml"
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        env = {**os.environ, "WATCHDOG_WORKBENCH_TOKEN": TOKEN}
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [WATCHDOG, "run", "--config", str(self.config)], stdout=out, stderr=out, env=env
            )
        wait_until(lambda: get(self.desk)[0] in (200, 401), 30, "the assist desk")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def observations(self, target_id: str) -> list[Observation]:
        with Store.open(self.data_dir) as store:
            return list(store.iter_observations(target_id))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(DEADLINE)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def sim_log(simulator: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(get(simulator + "/__sim/log")[1])
    return entries


def answers_sent(simulator: str) -> list[dict[str, Any]]:
    return [e for e in sim_log(simulator)
            if e["method"] == "POST" and e["path"].endswith("/_validerCaptcha")]  # fmt: skip


def open_sessions(page: Page, desk: str) -> list[str]:
    page.goto(desk)
    links = page.locator("a[href^='/assistance/']")
    return [str(links.nth(i).get_attribute("href")) for i in range(links.count())]


def test_a_person_answers_and_the_watchdog_reads_until_the_session_ends(  # noqa: PLR0915
    simulator: str, browser: Browser, tmp_path: Path
) -> None:
    run = Run(tmp_path, simulator)
    context = browser.new_context(locale="fr-FR")
    try:
        # The desk is behind the workbench's token: nothing without it.
        assert get(run.desk)[0] == 401
        page = context.new_page()
        page.goto(f"{run.desk}?token={TOKEN}")  # the cookie carries it from now on
        assert "token" not in page.url
        found = wait_until(lambda: open_sessions(page, run.desk), DEADLINE, "a parked session")
        # Both journeys met the captcha more than once; one place on the desk, one session.
        wait_until(lambda: all(len(run.observations(t)) >= 2 for t in ("assist-slots",
                   "assist-none")), DEADLINE, "two probes of each journey")  # fmt: skip
        assert len(open_sessions(page, run.desk)) == 1
        for key in ("assist-slots", "assist-none"):
            assert all(o.outcome is Outcome.CAPTCHA for o in run.observations(key))
        # No answer has gone to the site without the person's form.
        assert answers_sent(simulator) == []

        session_path = found[0]
        session_id = session_path.split("/")[2].split("?")[0]
        page.goto(f"{run.desk}/{session_id}")
        text = page.inner_text("main")
        assert "ne réserve rien" in text and "aucune donnée personnelle" in text
        assert "Temps restant" in text
        parked_key = "assist-slots" if "assist-slots" in text else "assist-none"
        assert "Poste d'aide" in page.inner_text("header")  # not the workbench's « read-only »
        assert page.evaluate(DRAWN), "the person sees the captcha image"
        first_image = check_image(page, run.desk, session_id, simulator)
        audio = page.request.get(f"{run.desk}/{session_id}/audio")
        assert audio.ok and audio.headers["content-type"].startswith("audio/")

        # A wrong answer: the site refuses it and shows a new captcha.
        page.fill("input[name='captchaUsercode']", "WRONG999")
        with page.expect_navigation():  # to the page's `load`: its images are in
            page.click("form.answer button[type='submit']")
        assert "affiche un nouveau captcha" in page.inner_text("#result")
        assert page.evaluate(DRAWN), "the person sees the new captcha image"
        assert check_image(page, run.desk, session_id, simulator) != first_image
        assert ["captchaUsercode" in e["fields"] for e in answers_sent(simulator)] == [True]

        # The right answer, typed by the person, submitted unchanged by the watchdog.
        page.fill("input[name='captchaUsercode']", ANSWER)
        with page.expect_navigation():
            page.click("form.answer button[type='submit']")
        assert "a accepté le code" in page.inner_text("#result")
        assert len(answers_sent(simulator)) == 2

        def assisted() -> list[Observation]:
            return [o for o in run.observations(parked_key) if o.env.captcha_solved_by]

        # Reads until the simulated session expires; the site then shows its captcha again.
        def ended() -> bool:
            page.goto(f"{run.desk}/{session_id}")
            return "site_ended" in page.inner_text("main")

        wait_until(ended, LIFETIME_S + DEADLINE, "the site to end the session")
        reads = assisted()
        assert len(reads) >= 3, [o.outcome for o in reads]
        expected = Outcome.AVAILABLE if parked_key == "assist-slots" else Outcome.NO_SLOT
        assert all(o.outcome is expected for o in reads[:-1])
        assert reads[-1].outcome is Outcome.CAPTCHA and reads[-1].detail == "session_expired"
        assert {o.env.assisted_session for o in reads} == {session_id}
        assert all(o.env.captcha_solved_by == "person" for o in reads)
        since = [o.env.since_solve_s or 0.0 for o in reads]
        assert since == sorted(since) and since[-1] > since[0]
        # Never faster than the journey's interval (the loopback floor here).
        starts = [o.started_at for o in reads]
        assert all((b - a).total_seconds() >= INTERVAL_S for a, b in itertools.pairwise(starts))
        # Observe only: creneau/ was read, never a slot chosen, nothing flagged.
        assert not [e for e in sim_log(simulator) if e["flagged"]]
        assert len(answers_sent(simulator)) == 2

        # A new session is parked (the next probe met the captcha); shutting down ends it.
        wait_until(lambda: open_sessions(page, run.desk), DEADLINE, "a new parked session")
        assert run.stop() == 0
        assert "ended (shutdown)" in run.log()
        with Store.open(run.data_dir) as store:
            assert verify_store(store).ok
            [solved, *_] = [o.assist for o in store.iter_observations(f"{parked_key}.assist")]
        # The session's record: the captchas the person saw, what became of each answer.
        assert solved is not None and solved.session == session_id
        assert [f.answer for f in solved.frames] == ["wrong", "solved"]
        assert solved.wrong_answers == 1 and solved.end == "site_ended"
        assert [r.id for r in solved.reads] == [o.id for o in reads]
    finally:
        context.close()
        run.kill()


def check_image(page: Page, desk: str, session_id: str, simulator: str) -> bytes:
    """The image the desk shows is the bytes the site served for the captcha on the page."""
    answer = page.request.get(f"{desk}/{session_id}/image")
    assert answer.ok and answer.headers["content-type"] == "image/png"
    assert answer.headers["x-captcha-source"] == "network"
    served = [e for e in sim_log(simulator) if e["query"].get("get") == "image"]
    assert answer.body() in {captcha_png(str(e["query"]["t"])) for e in served}
    return answer.body()


def test_a_wrong_token_a_forged_form_and_an_unanswered_page(
    simulator: str, browser: Browser, tmp_path: Path
) -> None:
    run = Run(tmp_path, simulator, wait_for_person="4s")
    try:
        assert get(run.desk, {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        wait_until(lambda: b"/assistance/" in get(run.desk, bearer)[1], DEADLINE, "a session")
        body = get(run.desk, bearer)[1].decode()
        session_id = body.split('href="/assistance/')[1].split('"')[0].split("?")[0]
        before = len(answers_sent(simulator))
        # A form posted from elsewhere (no CSRF cookie and token): refused, nothing sent.
        forged = urllib.request.Request(
            f"{run.desk}/{session_id}/reponse", data=b"captchaUsercode=TEST1234&csrf=x",
            headers=bearer, method="POST",
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 403
        assert len(answers_sent(simulator)) == before
        # Nothing of the site but the captcha's image and sound is reachable through the desk.
        for path in ("creneau/", "page", "_choisirCreneau", "../creneau"):
            assert get(f"{run.desk}/{session_id}/{path}", bearer)[0] == 404
        # Nobody answers: the parked page is closed after `wait_for_person`.
        wait_until(lambda: f"{session_id} ended (no_answer)" in run.log(), DEADLINE,
                   "the unanswered session to be closed")  # fmt: skip
        assert len(answers_sent(simulator)) == before
        assert run.stop() == 0
    finally:
        run.kill()


def test_only_the_workbench_form_submits_an_answer() -> None:
    """No module but the workbench's form handler calls the answering code, and no module but
    the desk types into a captcha's answer field (an `ast` scan of every module)."""
    callers: list[str] = []
    typers: list[str] = []
    for path in sorted([*(REPO / "watchdog").rglob("*.py"), *(REPO / "probes").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = str(path.relative_to(REPO))
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "submit_person_answer":
                callers.append(name)
            typing = node.func.attr in ("fill", "type", "press_sequentially", "set_input_files")
            if typing and "captchaUsercode" in text:
                typers.append(name)
    assert callers == ["watchdog/workbench/assist.py"]
    assert sorted(set(typers)) == ["watchdog/assist/desk.py"]


def test_a_read_past_a_persons_answer_neither_raises_nor_resolves_the_captcha_wall() -> None:
    """The wall still stands for everyone: an assisted read is neutral for `captcha_wall` and
    counts for the other kinds like any observation."""
    from datetime import UTC, datetime

    from watchdog.domain.incidents import IncidentKind, Reading, reading
    from watchdog.domain.models import Env

    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    person = Env(software="t", captcha_solved_by="person", assisted_session="01J", since_solve_s=1)
    for outcome in (Outcome.AVAILABLE, Outcome.NO_SLOT, Outcome.CAPTCHA):
        assisted = Observation(id="a", target="t", outcome=outcome, detail="d", started_at=now,
                               finished_at=now, duration_s=0, env=person)  # fmt: skip
        probe = assisted.model_copy(update={"env": Env(software="t")})
        assert reading(IncidentKind.CAPTCHA_WALL, assisted) is Reading.NEUTRAL
        assert reading(IncidentKind.CAPTCHA_WALL, probe) is not Reading.NEUTRAL
        assert reading(IncidentKind.SITE_DOWN, assisted) is Reading.GOOD


def test_a_reload_applies_the_assist_limits_to_the_sessions_parked_after_it(
    simulator: str, tmp_path: Path
) -> None:
    """`assist:` limits follow a reload (SIGHUP); the desk's address stays until a restart."""
    run = Run(tmp_path, simulator)
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}

        def parked() -> int:
            return get(run.desk, bearer)[1].decode().count('href="/assistance/')

        wait_until(lambda: parked() == 1, DEADLINE, "one parked session (max_parked: 1)")
        config = yaml.safe_load(run.config.read_text(encoding="utf-8"))
        config["assist"]["max_parked"] = 2
        config["assist"]["port"] += 1  # not applied: the desk keeps its socket
        run.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        run.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded:" in run.log(), DEADLINE, "the reload")
        assert "assist.port changed; it takes effect at the next restart" in run.log()
        wait_until(lambda: parked() == 2, DEADLINE, "both journeys parked (max_parked: 2)")
        assert run.stop() == 0
        assert run.log().count("ended (shutdown)") == 2
    finally:
        run.kill()


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def test_assist_needed_goes_to_the_departments_volunteers_with_the_parked_captcha(
    simulator: str, tmp_path: Path, http: HttpReceiver
) -> None:
    """A volunteer list per département is a route of `assist_needed` for its départements;
    where the service takes attachments (json:// here, a real local receiver), the notice
    carries the captcha the parked page shows, framed."""
    notifications = {"notifications": {
        "routes": [
            {"id": "volunteers-78", "audience": "investigator", "kinds": ["assist_needed"],
             "departments": ["78"], "urls": [http.url("json", "/v78")]},
            {"id": "volunteers-75", "audience": "investigator", "kinds": ["assist_needed"],
             "departments": ["75"], "urls": [http.url("json", "/v75")]},
        ],
        "thresholds": {"assist_needed": {"open_after": 2, "resolve_after": 1}},
        "delivery": {"poll": "200ms"},
    }}  # fmt: skip
    run = Run(tmp_path, simulator, extra=notifications)
    try:

        def attached() -> list[Any]:
            return [r.json for r in http.received if "est joint, encadré" in r.json["message"]]

        [notice, *_] = wait_until(attached, DEADLINE, "an assist_needed notice with a captcha")
        assert run.desk in notice["message"]
        [attachment] = notice["attachments"]
        sent = base64.b64decode(attachment["base64"])
        assert {r.path for r in http.received} == {"/v78"}  # not the 75 volunteers
        assert run.stop() == 0
        with Store.open(run.data_dir) as store:
            frames = [f.framed for t in ("assist-slots", "assist-none")
                      for o in store.iter_observations(f"{t}.assist") if o.assist
                      for f in o.assist.frames]  # fmt: skip
            assert sent in {store.blobs.get(sha) for sha in frames}
    finally:
        run.kill()
