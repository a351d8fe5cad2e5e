"""The référé dossier: attempts grouped by ISO week, captures per day, and the warning when
the failed attempts span fewer weeks than the courts have accepted."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from reportdata import Spec, fill, paris, target

from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import Outcome
from watchdog.report.applicant import load_applicant
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


APPLICANT = """\
place: Bobigny
issuer: {name: Jeanne Martin, role: juriste, organisation: Association d'aide aux étrangers}
situation: {request: premiere_demande, oqtf: false, circumstances: Promesse d'embauche}
attempts:
  - {date: 2026-11-04, channel: en ligne, description: Tentative depuis son téléphone,
     attachments: [capture.png]}
correspondence:
  - {date: 2026-11-09, channel: lettre recommandée, reference: 1A 234 567 8901 2,
     description: Demande de rendez-vous, answer: Sans réponse,
     attachments: [{file: absent.pdf, sha256: "%s"}]}
"""


def test_the_applicants_own_steps_questions_and_signature(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, attempts(14))
    folder = tmp_path / "asso"
    folder.mkdir()
    (folder / "capture.png").write_bytes(b"the applicant's own screenshot")
    given = "ab" * 32
    (folder / "dossier.yaml").write_text(APPLICANT % given, encoding="utf-8")
    applicant = load_applicant(folder / "dossier.yaml")
    text = dossier(fresh, tmp_path / "out", 14, applicant=applicant)
    own = hashlib.sha256(b"the applicant's own screenshot").hexdigest()
    assert f"capture.png\u00a0: {own}" in text and f"absent.pdf\u00a0: {given}" in text
    assert "Tentative depuis son téléphone" in text and "1A 234 567 8901 2" in text
    assert "Réponse\u00a0:</em> Sans réponse" in text
    assert "Réponse\u00a0: non, première demande" in text
    assert "Réponse\u00a0: Promesse d'embauche" in text and "Réponse\u00a0: non</span>" in text
    assert "Fait à Bobigny, le 1er\u00a0décembre 2026" in text
    assert "Jeanne Martin</p>" not in text and "Jeanne Martin, juriste" in text
    assert "Association d'aide aux étrangers" in text
    assert 'id="declaration-automatisee"' in text and "indépendamment du demandeur" in text
    # A hash given for a file that is there must be that file's.
    (folder / "dossier.yaml").write_text(
        APPLICANT.replace("absent.pdf", "capture.png") % given, encoding="utf-8"
    )
    with pytest.raises(WatchdogError, match="SHA-256 is"):
        load_applicant(folder / "dossier.yaml")


def test_the_applicants_steps_from_a_csv(tmp_path: Path) -> None:
    (tmp_path / "ar.pdf").write_bytes(b"%PDF accuse de reception")
    (tmp_path / "steps.csv").write_text(
        "kind,date,channel,reference,description,attachments\n"
        "correspondence,2026-11-09,lettre recommandée,1A 2,Demande,ar.pdf\n"
        "attempt,2026-11-03,guichet,,Refus oral au guichet,\n",
        encoding="utf-8",
    )
    applicant = load_applicant(tmp_path / "steps.csv")
    assert [s.step.channel for s in applicant.attempts] == ["guichet"]
    (letter,) = applicant.correspondence
    assert letter.attachments[0].sha256 == hashlib.sha256(b"%PDF accuse de reception").hexdigest()
    (tmp_path / "bad.csv").write_text("kind,date,channel\nphone,2026-11-03,x\n", encoding="utf-8")
    with pytest.raises(WatchdogError, match="kind must be attempt or correspondence"):
        load_applicant(tmp_path / "bad.csv")


def test_without_steps_the_dossier_says_what_is_missing(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, attempts(3))
    text = dossier(fresh, tmp_path / "out", 3)
    assert 'id="tentatives-demandeur-aucune"' in text and 'id="courriers-aucune"' in text
    assert "Fait à ………………, le 1er\u00a0décembre 2026" in text
    assert "Réponse\u00a0: ……… (la série observée concerne une démarche de type" in text


def test_without_a_failure_the_dossier_establishes_nothing(fresh: Store, tmp_path: Path) -> None:
    fill(fresh, T.id, [Spec(paris(2026, 11, 2, h), Outcome.AVAILABLE, 2) for h in (9, 15)])
    text = dossier(fresh, tmp_path / "out", 1)
    assert "Aucune tentative retenue n'a échoué sur la période\u00a0: ce dossier n'établit" in text
    assert "s'étendent sur 0" not in text
