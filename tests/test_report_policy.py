"""The report and the dossier say which evidence policy and engine were in force (issue 7)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from reportdata import Spec, observation, paris, target
from test_report import visible_text

from watchdog.domain.models import Engine, Observation, Outcome, Screenshots
from watchdog.report import ReportOptions, build_report
from watchdog.report.dossier import DossierOptions, build_dossier
from watchdog.report.policy import describe
from watchdog.report.typo import NBSP, NNBSP, Typo
from watchdog.stats import Period
from watchdog.stats.series import CaptureMode, Span
from watchdog.store import Store

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 15))
ISSUED = paris(2026, 11, 16, 10)
T1 = target("policy-93", "93", "Seine-Saint-Denis")
T2 = target("policy-01", "01", "Ain", "renouvellement")
ON_CHANGE_FR = (
    f"«{NBSP}Au changement de la page{NBSP}»{NBSP}: les captures d'écran ne sont conservées "
    "qu'au changement de la page (et à la première observation de chaque nouvelle issue)"
    f"{NNBSP}; le DOM et les empreintes sont conservés pour chaque observation."
)
REQUEST_FR = (
    f"«{NBSP}Requête HTTP{NBSP}»{NBSP}: page lue sans moteur de rendu{NNBSP}; les captures "
    "sont des rendus ultérieurs de la page capturée."
)


def _made(target_id: str, day: int, policy: Screenshots, engine: Engine) -> Observation:
    obs = observation(target_id, Spec(paris(2026, 11, day, 9), Outcome.NO_SLOT))
    env = obs.env.model_copy(update={"screenshots": policy, "engine": engine})
    return obs.model_copy(update={"env": env})


@pytest.fixture
def two_policies(store: Store) -> Store:
    """On change from 2 to 8 November, at every observation from 9 to 15; T2 by request."""
    for target_id, engine in ((T1.id, Engine.BROWSER), (T2.id, Engine.REQUEST)):
        store.append_many(
            [
                _made(
                    target_id, day, Screenshots.ON_CHANGE if day < 9 else Screenshots.EVERY, engine
                )
                for day in range(2, 16)
            ]
        )
    return store


def test_report_names_both_policies_with_their_dates_and_both_engines(
    two_policies: Store, tmp_path: Path
) -> None:
    options = ReportOptions(formats=("html",), generated_at=ISSUED)
    (path,) = build_report(
        two_policies,
        [T1, T2],
        since=PERIOD.since,
        until=PERIOD.until,
        out_dir=tmp_path,
        options=options,
    )
    text = visible_text(path.read_text("utf-8"))
    assert (
        f"Politique de conservation des captures d'écran{NBSP}: «{NBSP}au changement de la "
        f"page{NBSP}» du 2{NBSP}novembre 2026 au 8{NBSP}novembre 2026 (14{NBSP}observations)"
        f"{NNBSP}; «{NBSP}à chaque observation{NBSP}» du 9{NBSP}novembre 2026 au "
        f"15{NBSP}novembre 2026 (14{NBSP}observations)."
    ) in text
    assert ON_CHANGE_FR in text
    assert "une capture d'écran est conservée pour chaque observation." in text
    assert f"Moteur{NBSP}: «{NBSP}navigateur{NBSP}» du 2{NBSP}novembre 2026" in text
    assert REQUEST_FR in text
    # The reference block, and the protocol no longer claims a screenshot per attempt.
    html = path.read_text("utf-8")
    assert (
        "<td>Conservation des preuves</td><td>au changement de la page, puis à chaque "
        f"observation{NNBSP}; navigateur et requête HTTP (voir la section 3.2)</td>"
    ) in html
    assert "sont conservés : selon la politique ci-dessus, la capture" in text.replace(NBSP, " ")
    assert "ou, pour les pages lues par requête HTTP, sans moteur de rendu" in text


def test_report_in_english_says_it_too(two_policies: Store, tmp_path: Path) -> None:
    options = ReportOptions(formats=("html",), generated_at=ISSUED, lang="en")
    (path,) = build_report(
        two_policies,
        [T1, T2],
        since=PERIOD.since,
        until=PERIOD.until,
        out_dir=tmp_path,
        options=options,
    )
    text = visible_text(path.read_text("utf-8"))
    assert "Screenshot policy: “when the page changes” from 2\u00a0November 2026" in text
    assert "screenshots are later renderings of the captured page" in text


def test_dossier_names_the_policy_of_its_target(two_policies: Store, tmp_path: Path) -> None:
    options = DossierOptions(formats=("html",), generated_at=ISSUED, captures="none")
    (path,) = build_dossier(
        two_policies, T2, since=PERIOD.since, until=PERIOD.until, out_dir=tmp_path, options=options
    )
    text = visible_text(path.read_text("utf-8"))
    assert ON_CHANGE_FR in text
    assert (
        f"Moteur{NBSP}: «{NBSP}requête HTTP{NBSP}» (toute la période, 14{NBSP}observations). "
        + REQUEST_FR
    ) in text
    assert "navigateur" not in text.split("Résumé")[0].split("Conservation des preuves")[1]


def test_a_single_policy_is_said_for_the_whole_period() -> None:
    when = datetime(2026, 11, 3, 8, tzinfo=UTC)
    modes = {CaptureMode(None, Engine.BROWSER): Span(3, when, when)}
    text = describe(modes, Typo("fr"))
    assert text is not None
    assert text.screenshots.startswith(
        f"Politique de conservation des captures d'écran{NBSP}: «{NBSP}non enregistrée{NBSP}» "
        f"(toute la période, 3{NBSP}observations)."
    )
    assert text.every_screenshot and not text.uses_request
    assert describe({}, Typo("fr")) is None


def test_policies_in_force_side_by_side_are_not_said_to_follow() -> None:
    early, late = datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 9, 8, tzinfo=UTC)
    modes = {
        CaptureMode(Screenshots.EVERY, Engine.BROWSER): Span(5, early, late),
        CaptureMode(Screenshots.DAILY, Engine.BROWSER): Span(2, early, late),
    }
    text = describe(modes, Typo("fr"))
    assert text is not None
    assert text.summary.startswith("à chaque observation et au plus une par jour")
    assert not text.every_screenshot
