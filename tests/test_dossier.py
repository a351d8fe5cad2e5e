"""The référé dossier: attempts grouped by ISO week, captures per day, and the warning when
the failed attempts span fewer weeks than the courts have accepted."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from reportdata import Spec, fill, paris, target

from watchdog.models import Outcome
from watchdog.report.dossier import DossierOptions, build_dossier
from watchdog.stats import Period
from watchdog.store import Store

T = target("seine-saint-denis-premiere", "93", "Seine-Saint-Denis")
ISSUED = paris(2026, 12, 1, 10)
WARNING = 'id="avertissement"'


def attempts(days: int, start: date = date(2026, 11, 2)) -> list[Spec]:
    """Two attempts a day (9 h and 16 h) for `days` days from Monday 2 November 2026."""
    specs = []
    for index in range(days):
        day = date.fromordinal(start.toordinal() + index)
        for hour in (9, 16):
            specs.append(Spec(paris(day.year, day.month, day.day, hour), Outcome.NO_SLOT))
    return specs


def dossier(store: Store, out: Path, days: int, **options: object) -> str:
    period = Period.from_dates(date(2026, 11, 2), date(2026, 11, 2 + days - 1))
    opts = DossierOptions(formats=("html",), generated_at=ISSUED, **options)  # type: ignore[arg-type]
    (path,) = build_dossier(
        store, T, since=period.since, until=period.until, out_dir=out, options=opts
    )
    return html.unescape(path.read_text("utf-8"))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "data") as store:
        yield store


def test_two_weeks_of_attempts_are_flagged_insufficient(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, attempts(14), captures=True)
    text = dossier(fresh, tmp_path / "out", 14)
    assert WARNING in text
    assert "Attention\u00a0: dossier insuffisant en l'état." in text
    assert "2\u00a0semaines ISO distinctes" in text
    assert "Semaine 2026-S45" in text and "Semaine 2026-S46" in text
    # One capture per day with a failure (14), numbered in time order.
    assert text.count('<figure id="P') == 14
    assert 'id="P1"' in text and 'id="P14"' in text and 'id="P15"' not in text
    assert text.count("<tr><td>") >= 28  # every attempt has its row


def test_four_weeks_of_attempts_are_not_flagged(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, attempts(28))
    text = dossier(fresh, tmp_path / "out", 28)
    assert WARNING not in text
    assert (
        "4\u00a0semaines ISO distinctes (56\u00a0échecs sur 28\u00a0jours)\u00a0: le critère du "
        "Conseil d'État"
    ) in text
    assert "CE, 10\u00a0juin 2020, n°\u00a0435594" in text


def test_summary_counts_days_weeks_and_slots_seen(fresh: Store, tmp_path: Path) -> None:
    specs = attempts(21)
    specs.append(Spec(paris(2026, 11, 10, 12), Outcome.AVAILABLE, 2, datetime(2026, 12, 1, 9)))
    specs.append(Spec(paris(2026, 11, 11, 12), Outcome.PROBE_ERROR, detail="planning_required"))
    fill(fresh, T.id, specs)
    text = dossier(fresh, tmp_path / "out", 21, captures="none")
    # 42 no-slot + 1 slot counted; the probe error is listed but set apart.
    assert ">43</td>" in text and ">42</td>" in text and ">21</td>" in text
    assert "(à part)" in text and "Listées à part, non imputables au demandeur" in text
    assert "l'administration pourra s'en prévaloir" in text
    assert "3\u00a0semaines ISO distinctes" in text and WARNING not in text
    assert '<figure id="P' not in text


def test_a_message_with_markup_stays_text(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, [Spec(paris(2026, 11, 2, 9), Outcome.NO_SLOT, message="<b>x</b><script>")])
    out = tmp_path / "out"
    dossier(fresh, out, 1)
    raw = next(out.glob("*.html")).read_text("utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;&lt;script&gt;" in raw and "<script" not in raw
    assert WARNING in raw
