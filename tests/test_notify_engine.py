"""The incident engine, driven by synthetic observations and a hand-set clock, delivering to a
real local HTTP receiver through Apprise's json:// (no Apprise mock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import LoopThread
from notifyfix import HttpReceiver, Rig, config, paris, receivers, rig, target

from watchdog.config.loader import AssistSettings
from watchdog.domain.incidents import IncidentKind
from watchdog.domain.models import Env, Outcome
from watchdog.notify.repo import SENT, Repo
from watchdog.store import Store

NBSP, NNBSP = "\u00a0", "\u202f"
AIN = "ain-premiere-demande"
NO_SLOT_MESSAGE = "Il n'existe plus de plage horaire libre pour votre demande."


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def sre(receiver: HttpReceiver, **extra: Any) -> dict[str, Any]:
    return {"id": "oncall", "audience": "sre", "urls": [receiver.url()], **extra}


def bodies(receiver: HttpReceiver) -> list[tuple[str, str]]:
    return [(r.json["title"], r.json["message"]) for r in receiver.received]


@pytest.fixture
def down_rig(store: Store, http: HttpReceiver) -> Iterator[Rig]:
    r = rig(store, config([sre(http)]), paris(2025, 3, 3, 8))
    yield r
    r.close()


def test_site_down_opens_once_with_figures_then_resolves(down_rig: Rig, http: HttpReceiver) -> None:
    r = down_rig
    r.feed(AIN, paris(2025, 3, 3, 8, 45), Outcome.NO_SLOT)
    for minute in (0, 15):
        r.feed(AIN, paris(2025, 3, 3, 9, minute), Outcome.SITE_ERROR, detail="http_502",
               message="Service surchargé")  # fmt: skip
    assert r.deliver() == 0, "two failures are under the threshold of three"
    third = r.feed(AIN, paris(2025, 3, 3, 9, 30), Outcome.TIMEOUT)
    assert r.deliver() == 1
    for minute in (45, 50):  # still down: the same incident, no new message
        r.feed(AIN, paris(2025, 3, 3, 9, minute), Outcome.NETWORK_ERROR)
    r.deliver()
    assert len(http.received) == 1
    title, body = bodies(http)[0]
    assert title == "Site en panne — Ain (01) — Première demande de titre de séjour"
    assert f"depuis le 3{NBSP}mars 2025 à 9{NBSP}h{NBSP}00 (heure de Paris)" in body
    assert f"3{NBSP}tentatives consécutives (erreur du site ×2{NNBSP}; délai dépassé ×1)" in body
    assert f"«{NBSP}Première demande de titre de séjour{NBSP}»" in body
    framed = r.store.blobs.path(third.evidence.framed or "")
    assert f"Capture encadrée{NBSP}: {framed.resolve()}" in body
    assert "https://www.example.gouv.fr/booking/create/ain-premiere-demande/0" in body
    r.feed(AIN, paris(2025, 3, 3, 10, 0), Outcome.NO_SLOT)
    assert r.deliver() == 0, "one success is under resolve_after (2)"
    r.feed(AIN, paris(2025, 3, 3, 10, 15), Outcome.AVAILABLE, slots=2)
    assert r.deliver() == 1
    title, body = bodies(http)[1]
    assert title.startswith("Rétabli — Site en panne — Ain (01)")
    assert f"Situation rétablie le 3{NBSP}mars 2025 à 10{NBSP}h{NBSP}00" in body
    assert f"après 1{NBSP}h{NBSP}00 d'incident" in body
    assert r.counts == [("oncall", "sent"), ("oncall", "sent")]
    [incident] = Repo(r.store.engine).incidents()
    assert (incident.kind, incident.status, incident.facts["count"]) == (
        IncidentKind.SITE_DOWN, "resolved", 3,
    )  # fmt: skip


def test_flapping_never_opens_and_an_incident_needs_consecutive_successes(
    down_rig: Rig, http: HttpReceiver
) -> None:
    r = down_rig
    at = paris(2025, 3, 3, 9)
    for step, outcome in enumerate([Outcome.SITE_ERROR, Outcome.SITE_ERROR, Outcome.NO_SLOT] * 4):
        r.feed(AIN, at + timedelta(minutes=5 * step), outcome)
    assert r.deliver() == 0 and Repo(r.store.engine).incidents() == []
    at += timedelta(hours=2)
    for step in range(3):
        r.feed(AIN, at + timedelta(minutes=step), Outcome.SITE_ERROR)
    pattern = [Outcome.NO_SLOT, Outcome.SITE_ERROR, Outcome.NO_SLOT, Outcome.TIMEOUT]
    for step, outcome in enumerate(pattern, start=3):
        r.feed(AIN, at + timedelta(minutes=step), outcome)
    r.deliver()
    assert [t for t, _ in bodies(http)] == [
        "Site en panne — Ain (01) — Première demande de titre de séjour"
    ], "alternating answers neither reopen nor resolve the incident"


def test_announced_maintenance_and_our_own_faults_are_not_outages(
    down_rig: Rig, http: HttpReceiver
) -> None:
    r = down_rig
    at = paris(2025, 3, 3, 22)
    for step in range(5):
        r.feed(AIN, at + timedelta(minutes=step), Outcome.MAINTENANCE,
               tags=["maintenance_window"])  # fmt: skip
    for step in range(5, 10):
        r.feed(AIN, at + timedelta(minutes=step), Outcome.PROBE_ERROR)
    assert r.deliver() == 0 and http.received == []
    r.feed(AIN, at + timedelta(minutes=20), Outcome.MAINTENANCE)  # outside the window: counts
    r.feed(AIN, at + timedelta(minutes=21), Outcome.SITE_ERROR)
    r.feed(AIN, at + timedelta(minutes=22), Outcome.MAINTENANCE, tags=["maintenance_window"])
    r.feed(AIN, at + timedelta(minutes=23), Outcome.SITE_ERROR)
    assert r.deliver() == 1


def test_reminders_come_at_the_interval_and_stop_at_resolution(
    store: Store, http: HttpReceiver
) -> None:
    r = rig(store, config([sre(http, reminder_interval="4h")]), paris(2025, 3, 3, 9))
    opened = paris(2025, 3, 3, 9)
    for step in range(3):
        r.feed(AIN, opened + timedelta(minutes=step), Outcome.SITE_ERROR)
    assert r.deliver() == 1
    expected = {3: 0, 4: 1, 5: 0, 8: 1, 11: 0}  # hours after opening -> reminders sent
    for hours, sent in expected.items():
        r.clock.set(opened + timedelta(hours=hours, minutes=1))
        assert r.deliver() == sent, f"at +{hours}h"
    titles = [t for t, _ in bodies(http)]
    assert titles[1].startswith("Rappel — Site en panne — Ain (01)")
    assert f"Toujours en cours depuis 4{NBSP}h{NBSP}01" in bodies(http)[1][1]
    assert f"depuis 8{NBSP}h{NBSP}01" in bodies(http)[2][1]
    r.feed(AIN, opened + timedelta(hours=11, minutes=10), Outcome.NO_SLOT)
    r.feed(AIN, opened + timedelta(hours=11, minutes=20), Outcome.NO_SLOT)
    r.clock.set(opened + timedelta(hours=16, minutes=1))
    assert r.deliver() == 1  # the resolution, and no reminder after it
    assert [t.split(" — ")[0] for t, _ in bodies(http)] == [
        "Site en panne", "Rappel", "Rappel", "Rétabli",
    ]  # fmt: skip
    r.close()


def test_quiet_hours_hold_messages_until_they_end(store: Store) -> None:
    loop = LoopThread()
    night, day = HttpReceiver(loop), HttpReceiver(loop)
    try:
        routes = [
            {"id": "night-off", "audience": "sre", "urls": [night.url()],
             "quiet_hours": "22:00-07:00"},
            {"id": "always", "audience": "sre", "urls": [day.url()]},
        ]  # fmt: skip
        r = rig(store, config(routes), paris(2025, 3, 3, 23))
        for step in range(3):
            r.feed(AIN, paris(2025, 3, 3, 23, step), Outcome.TIMEOUT)
        r.deliver()
        assert (len(night.received), len(day.received)) == (0, 1)
        for hour in (0, 3, 6):
            r.clock.set(paris(2025, 3, 4, hour, 59))
            r.deliver()
        assert len(night.received) == 0, "nothing during quiet hours"
        r.clock.set(paris(2025, 3, 4, 7, 0))
        r.deliver()
        assert len(night.received) == 1 and night.received[0].json["title"].startswith("Site")
        assert ("night-off", "sent") in r.counts
        r.close()
    finally:
        night.close()
        day.close()
        loop.stop()


def test_restart_mid_incident_no_duplicate_and_resolution_sent(
    data_dir: Path, database_url: str | None, http: HttpReceiver
) -> None:
    cfg = config([sre(http)])
    with Store.open(data_dir, database_url) as store:
        first = rig(store, cfg, paris(2025, 3, 3, 9))
        for step in range(3):
            first.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
        first.deliver()
        first.close()
    with Store.open(data_dir, database_url) as store:  # a new process over the same store
        second = rig(store, cfg, paris(2025, 3, 3, 10))
        for step in range(3, 8):
            second.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
        assert second.deliver() == 0
        second.feed(AIN, paris(2025, 3, 3, 9, 30), Outcome.NO_SLOT)
        second.feed(AIN, paris(2025, 3, 3, 9, 45), Outcome.NO_SLOT)
        assert second.deliver() == 1
        second.close()
    assert [t.split(" — ")[0] for t, _ in bodies(http)] == ["Site en panne", "Rétabli"]


def test_a_message_queued_before_a_crash_is_sent_once_after_restart(
    data_dir: Path, http: HttpReceiver
) -> None:
    cfg = config([sre(http)])
    with Store.open(data_dir) as store:
        first = rig(store, cfg, paris(2025, 3, 3, 9))
        for step in range(3):
            first.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
        first.close()  # "crashes" before delivering
    with Store.open(data_dir) as store:
        second = rig(store, cfg, paris(2025, 3, 3, 9, 5))
        second.feed(AIN, paris(2025, 3, 3, 9, 4), Outcome.SITE_ERROR)
        assert second.deliver() == 1
        assert second.deliver() == 0
        assert [q.status for q in Repo(store.engine).outbox_rows()] == [SENT]
        second.close()
    assert len(http.received) == 1


def test_investigator_kinds_reach_investigator_routes_of_their_department(
    store: Store,
) -> None:
    loop = LoopThread()
    sre_rx, ain_rx, paris_rx = HttpReceiver(loop), HttpReceiver(loop), HttpReceiver(loop)
    try:
        routes = [
            {"id": "oncall", "audience": "sre", "urls": [sre_rx.url()]},
            {"id": "cimade-01", "audience": "investigator", "urls": [ain_rx.url()],
             "departments": ["01"]},
            {"id": "cimade-75", "audience": "investigator", "urls": [paris_rx.url()],
             "departments": ["75"]},
        ]  # fmt: skip
        r = rig(store, config(routes), paris(2025, 3, 3, 9))
        r.feed(AIN, paris(2025, 3, 3, 9), Outcome.NO_SLOT)
        for step in range(1, 4):
            r.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.CAPTCHA, detail="captchetat")
        r.feed(AIN, paris(2025, 3, 3, 9, 10), Outcome.CLOSED,
               message="Ce service n'est pas disponible pour le moment.")  # fmt: skip
        r.feed(AIN, paris(2025, 3, 3, 9, 11), Outcome.CLOSED)
        for step in range(12, 14):
            r.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.BLOCKED, detail="http_403")
        r.deliver()
        titles = [x.json["title"] for x in ain_rx.received]
        assert titles == [
            "Mur de captcha — Ain (01) — Première demande de titre de séjour",
            "Page de réservation fermée — Ain (01) — Première demande de titre de séjour",
            "Watchdog bloqué par le site — Ain (01) — Première demande de titre de séjour",
        ]
        closed = ain_rx.received[1].json["message"]
        assert f"«{NBSP}Ce service n'est pas disponible pour le moment.{NBSP}»" in closed
        assert sre_rx.received == [] and paris_rx.received == []
        r.close()
    finally:
        for rx in (sre_rx, ain_rx, paris_rx):
            rx.close()
        loop.stop()


def test_no_slot_rate_above_threshold_for_three_days_opens_one_incident(
    store: Store, http: HttpReceiver
) -> None:
    route = {"id": "asso", "audience": "investigator", "urls": [http.url()], "digest": False}
    r = rig(store, config([route]), paris(2025, 3, 1, 8))
    for day in (1, 2, 3):  # 10 attempts a day, 9 or 10 without any slot
        for hour in range(8, 18):
            outcome = Outcome.AVAILABLE if (day, hour) == (2, 12) else Outcome.NO_SLOT
            r.feed(AIN, paris(2025, 3, day, hour), outcome, message=NO_SLOT_MESSAGE)
    assert r.deliver() == 0, "rates are read once a day is over"
    r.feed(AIN, paris(2025, 3, 4, 0, 5), Outcome.NO_SLOT)
    assert r.deliver() == 1
    [(title, body)] = bodies(http)
    assert title == "Aucun créneau — Ain (01) — Première demande de titre de séjour"
    assert (
        f"Aucun créneau libre dans 96,7{NNBSP}% (29 sur 30) des tentatives qui ont atteint le "
        f"calendrier du 1er{NBSP}mars 2025 au 3{NBSP}mars 2025" in body
    )
    assert f"seuil{NBSP}: 90,0{NNBSP}% chaque jour pendant 3{NBSP}jours" in body
    assert f"2{NBSP}mars 2025{NBSP}: 90,0{NNBSP}% (9 sur 10)" in body
    assert "Capture encadrée" in body and "plage horaire libre" in body
    kinds = [i.kind for i in Repo(store.engine).incidents()]
    assert kinds == [IncidentKind.HIGH_NO_SLOT_RATE], "the failure-rate twin stays silent"
    for hour in range(8, 18):  # a day with slots half of the time resolves it the day after
        outcome = Outcome.AVAILABLE if hour % 2 else Outcome.NO_SLOT
        r.feed(AIN, paris(2025, 3, 4, hour), outcome)
    r.feed(AIN, paris(2025, 3, 5, 0, 5), Outcome.NO_SLOT)
    assert r.deliver() == 1
    assert bodies(http)[1][0].startswith("Rétabli — Aucun créneau")
    assert f"4{NBSP}mars 2025{NBSP}: 54,5{NNBSP}% (6 sur 11)" in bodies(http)[1][1]
    r.close()


def test_failure_rate_incident_names_its_causes(store: Store, http: HttpReceiver) -> None:
    route = {"id": "asso", "audience": "investigator", "urls": [http.url()],
             "kinds": ["high_failure_rate"], "digest": False}  # fmt: skip
    cfg = config([route], thresholds={"high_failure_rate": {"rate": 0.9, "days": 2}})
    r = rig(store, cfg, paris(2025, 3, 1, 8))
    for day in (1, 2):
        for hour in range(8, 18):
            outcome = Outcome.QUEUE if hour < 12 else Outcome.SITE_ERROR
            r.feed(AIN, paris(2025, 3, day, hour), outcome)
    r.feed(AIN, paris(2025, 3, 3, 8), Outcome.QUEUE)
    assert r.deliver() == 1
    [(title, body)] = bodies(http)
    assert title.startswith("Échecs de prise de rendez-vous — Ain (01)")
    assert f"Échec de 100,0{NNBSP}% (20 sur 20) des tentatives" in body
    assert f"Causes{NBSP}: erreur du site ×12{NNBSP}; file d'attente ×8." in body
    r.close()


def test_targets_of_other_departments_are_routed_apart(store: Store, http: HttpReceiver) -> None:
    targets = [target(), target("paris-renouvellement", "75", "Paris", "Renouvellement")]
    routes = [sre(http, departments=["75"])]
    r = rig(store, config(routes, targets), paris(2025, 3, 3, 9))
    for step in range(3):
        r.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
        r.feed("paris-renouvellement", paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
    r.deliver()
    assert [t for t, _ in bodies(http)] == ["Site en panne — Paris (75) — Renouvellement"]
    assert len(Repo(store.engine).open_incidents()) == 2, "incidents exist without a route"
    r.close()


def test_assist_needed_asks_investigators_for_a_person_and_a_persons_pass_resolves_it(
    store: Store, http: HttpReceiver
) -> None:
    """Only an assisted journey asks; its message names the desk; quiet hours hold it."""
    assisted = {
        **target(),
        "platform": "rdv_prefecture",
        "options": {"captcha": "assisted"},
        "url": "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/1/",
    }
    plain = {
        **target("ain-autre"),
        "platform": "rdv_prefecture",
        "url": "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/2/",
    }
    route = {
        "id": "cimade-01",
        "audience": "investigator",
        "urls": [http.url()],
        "kinds": ["assist_needed"],
        "quiet_hours": "22:00-07:00",
    }
    cfg = config([route], targets=[assisted, plain])
    desk = AssistSettings(public_url="https://aide.example.org/assistance")
    cfg = cfg.model_copy(update={"assist": desk})
    r = rig(store, cfg, paris(2025, 3, 3, 20))
    for n in range(12):  # from 20:00 to 22:45: the twelfth comes within the quiet hours
        when = paris(2025, 3, 3, 20) + timedelta(minutes=15 * n)
        r.feed(AIN, when, Outcome.CAPTCHA, detail="captcha_wall")
        r.feed("ain-autre", when, Outcome.CAPTCHA, detail="captcha_wall")
    r.deliver()
    assert http.received == [], "quiet hours: the message waits"
    r.clock.set(paris(2025, 3, 4, 7, 1))
    r.deliver()
    [(title, body)] = bodies(http)
    assert title == "Une personne est attendue — Ain (01) — Première demande de titre de séjour"
    assert "12" in body and "https://aide.example.org/assistance" in body
    person = Env(software="t", captcha_solved_by="person", assisted_session="01J", since_solve_s=5)
    r.feed(AIN, paris(2025, 3, 4, 9), Outcome.NO_SLOT, env=person)
    r.deliver()
    assert len(http.received) == 2
    assert bodies(http)[1][0].startswith("Rétabli — Une personne est attendue")
    kinds = {(i.kind, i.target) for i in Repo(r.store.engine).incidents()}
    assert (IncidentKind.ASSIST_NEEDED, "ain-autre") not in kinds
    r.close()
