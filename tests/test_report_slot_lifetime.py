"""The report's slot-lifetime constat (issue 19): slots first seen after an announced
publication, how many, and a bound on when they were all gone, in French and English, with
the number of observations it rests on; nothing is said when nothing supports it."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from reportdata import Spec, observation, paris, target
from test_report import visible_text

from watchdog.domain.models import Observation, Outcome, SlotSeen
from watchdog.report import ReportOptions, build_report
from watchdog.stats import Period
from watchdog.store import Store

PERIOD = Period.from_dates(date(2026, 12, 7), date(2026, 12, 7))
RDV = target("val-de-marne-rdv", "94", "Val-de-Marne", "remise_titre", "rdv_prefecture")
A = SlotSeen(key="2612210900", day="2026-12-21", time="09:00")
B = SlotSeen(key="2612220900", day="2026-12-22", time="09:00")
NBSP = "\u00a0"
ANNOUNCED = paris(2026, 12, 7, 10)


def _reading(at: tuple[int, int, int], shown: list[SlotSeen], **extra: object) -> Observation:
    hour, minute, second = at
    when = paris(2026, 12, 7, hour, minute).replace(second=second)
    outcome = Outcome.AVAILABLE if shown else Outcome.NO_SLOT
    spec = Spec(when, outcome, len(shown), **extra)  # type: ignore[arg-type]
    return observation(RDV.id, spec).model_copy(update={"slots_seen": shown})


def _render(tmp_path: Path, readings: list[Observation], lang: str) -> str:
    with Store.open(tmp_path / "data") as store:
        store.append_many(readings)
        opts = ReportOptions(formats=("html",), generated_at=paris(2026, 12, 8, 10), lang=lang)
        (path,) = build_report(
            store, [RDV], since=PERIOD.since, until=PERIOD.until, out_dir=tmp_path / lang,
            options=opts,
        )  # fmt: skip
    return visible_text(path.read_text("utf-8"))


def _around_a_publication(last: list[SlotSeen]) -> list[Observation]:
    """A minute before the announced 10 h, 15 s after (A and B), a minute after (B only),
    five minutes after (`last`)."""
    return [
        _reading((9, 59, 0), [], published_next=ANNOUNCED),
        _reading((10, 0, 15), [A, B]),
        _reading((10, 1, 0), [B]),
        _reading((10, 5, 0), last),
    ]


def test_all_gone_in_french_and_english(tmp_path: Path) -> None:
    readings = _around_a_publication([])
    fr = _render(tmp_path / "fr", readings, "fr")
    expected = (
        f"Créneaux publiés le 7{NBSP}décembre 2026 à 10{NBSP}h{NBSP}00 (heure annoncée par le site"
    )
    assert expected in fr
    # B was last seen at 10:01 and was gone by the end of the 10:05 reading (3 s long).
    assert (
        f"{NBSP}: 2, tous disparus en moins de 5{NBSP}minutes 3{NBSP}secondes après l'heure "
        f"annoncée, d'après 4{NBSP}observations du dispositif." in fr
    )
    assert re.search(r"n'est pas mesurée à la seconde", fr)
    assert " :" not in fr.replace(f"{NBSP}:", "")  # French colons take a no-break space
    en = _render(tmp_path / "en", readings, "en")
    assert "Slots published on 7\u00a0December 2026, 10:00 (time announced by the site; " in en
    assert (
        "): 2, all gone less than 5\u00a0minutes 3\u00a0seconds after the announced time, "
        "from 4\u00a0observations by the system." in en
    )


def test_a_slot_still_shown_is_not_said_gone(tmp_path: Path) -> None:
    fr = _render(tmp_path, _around_a_publication([B]), "fr")
    assert f"{NBSP}: 2, dont 1 disparu en moins de 1{NBSP}minute 3{NBSP}secondes" in fr
    assert "tous disparus" not in fr


def test_no_announcement_no_constat(tmp_path: Path) -> None:
    readings = [_reading((9, 59, 0), []), _reading((10, 0, 15), [A]), _reading((10, 5, 0), [])]
    fr = _render(tmp_path, readings, "fr")
    assert "Créneaux publiés le" not in fr and "mesurée à la seconde" not in fr
