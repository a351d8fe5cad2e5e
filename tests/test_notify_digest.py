"""The weekly digest per département, on a known week of observations, delivered for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from notifyfix import HttpReceiver, config, observe, paris, receivers, rig, target

from watchdog.config.notifications import DigestSchedule
from watchdog.domain.models import Outcome
from watchdog.notify.digest import due_week
from watchdog.store import Store

NBSP, NNBSP = "\u00a0", "\u202f"
PD, RN, AIN = "seine-saint-denis-pd", "seine-saint-denis-rn", "ain-premiere-demande"
TARGETS = [
    target(PD, "93", "Seine-Saint-Denis", "Première demande"),
    target(RN, "93", "Seine-Saint-Denis", "Renouvellement"),
    target(AIN),
]


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def known_weeks(store: Store) -> None:
    """Week 2025-W10 (3–9 March) and the week before, as the docstrings of the asserts say."""
    for day in range(24, 31):  # 24 Feb – 2 Mar: one slot, one refusal a day, each target
        month, mday = (2, day) if day <= 28 else (3, day - 28)
        for tid in (PD, RN, AIN):
            observe(store, tid, paris(2025, month, mday, 9), Outcome.AVAILABLE, slots=1)
            observe(store, tid, paris(2025, month, mday, 15), Outcome.NO_SLOT)
    for mday in range(3, 10):
        for hour in (9, 11, 14, 16):
            pd = Outcome.AVAILABLE if (mday, hour) == (5, 9) else Outcome.NO_SLOT
            observe(store, PD, paris(2025, 3, mday, hour), pd, slots=1 if pd else None)
            rn = Outcome.AVAILABLE if mday in (3, 4) and hour < 12 else Outcome.NO_SLOT
            observe(store, RN, paris(2025, 3, mday, hour), rn)
        observe(store, RN, paris(2025, 3, mday, 18), Outcome.PROBE_ERROR)  # never counted


def test_weekly_digest_per_department_with_known_figures(store: Store, http: HttpReceiver) -> None:
    known_weeks(store)
    routes = [
        {"id": "cimade", "audience": "investigator", "urls": [http.url("json", "/fr")]},
        {"id": "observers", "audience": "investigator", "urls": [http.url("json", "/en")],
         "language": "en", "departments": ["93"]},
        {"id": "oncall", "audience": "sre", "urls": [http.url("json", "/sre")]},
    ]  # fmt: skip
    r = rig(store, config(routes, TARGETS), paris(2025, 3, 10, 8, 30))
    assert r.deliver() == 2, "93 for both routes; Ain had no attempt that week; no SRE digest"
    by_path = {x.path: x.json for x in http.received}
    fr, en = by_path["/fr"], by_path["/en"]
    assert fr["title"] == "Bilan hebdomadaire — Seine-Saint-Denis (93) — semaine 2025-S10"
    lines = fr["message"].split("\n")
    assert lines[:8] == [
        f"Semaine du lundi 3{NBSP}mars 2025 au dimanche 9{NBSP}mars 2025 (heure de Paris), "
        f"2{NBSP}démarches suivies.",
        f"Tentatives{NBSP}: 56.",
        f"Taux «{NBSP}aucun créneau{NBSP}»{NBSP}: 91,1{NNBSP}% (51 sur 56){NNBSP}; semaine "
        f"précédente{NBSP}: 50,0{NNBSP}% (14 sur 28){NNBSP}; tendance{NBSP}: +41,1{NBSP}pts, "
        "en hausse.",
        f"Taux d’échec{NBSP}: 91,1{NNBSP}% (51 sur 56).",
        f"Jours sans aucun créneau{NBSP}: 4 sur 7 — jeudi 6{NBSP}mars, vendredi 7{NBSP}mars, "
        f"samedi 8{NBSP}mars, dimanche 9{NBSP}mars.",
        f"Démarches les plus touchées{NBSP}:",
        f"1. Première demande ({PD}){NBSP}: aucun créneau 96,4{NNBSP}% (27 sur 28), échec "
        f"96,4{NNBSP}% (27 sur 28), 6{NBSP}jours sans créneau.",
        f"2. Renouvellement ({RN}){NBSP}: aucun créneau 85,7{NNBSP}% (24 sur 28), échec "
        f"85,7{NNBSP}% (24 sur 28), 5{NBSP}jours sans créneau.",
    ]
    assert lines[8].startswith(f"Capture encadrée (exemple){NBSP}: ")
    assert en["title"] == "Weekly digest — Seine-Saint-Denis (93) — week 2025-S10"
    assert (
        "No-slot rate: 91.1% (51 of 56); week before: 50.0% (14 of 28); trend: +41.1"
        in (en["message"])
    )
    assert "Days without any slot: 4 of 7 — Thursday 6\u00a0March" in en["message"]
    assert len(fr["attachments"]) == 1, "the worst journey's framed capture"
    restarted = rig(store, r.config, paris(2025, 3, 10, 11))  # a restart the same week
    assert restarted.deliver() == 0 and len(http.received) == 2
    r.close()
    restarted.close()


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (paris(2025, 3, 10, 7, 59), (2025, 9)),  # before Monday 08:00: last week's digest
        (paris(2025, 3, 10, 8, 0), (2025, 10)),
        (paris(2025, 3, 16, 23, 0), (2025, 10)),
        (paris(2026, 1, 5, 8, 0), (2026, 1)),  # ISO week 1 of 2026 starts on 29 Dec 2025
    ],
)
def test_the_digest_covers_the_iso_week_before_its_instant(now: datetime, week: tuple) -> None:
    assert due_week(now, DigestSchedule()) == week
