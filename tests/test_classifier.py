"""Golden-page classifier tests: stored pages per platform and state, no browser needed.

The simulator's pages come from scripts/refresh_golden.py; `steps/` and `generic/` hold
hand-written pages for wordings and protection pages seen in the field (docs/readings.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from probes import REGISTRY
from watchdog.domain.models import Platform
from watchdog.probe.classify import classify
from watchdog.probe.session import PageState

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
SIM_NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PAGES = sorted(GOLDEN.glob("*/*.json"))


def _load(meta_path: Path) -> tuple[Platform, PageState, dict[str, Any], dict[str, Any]]:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    folder = meta_path.parent.name
    platform = str(meta.get("platform", folder))
    state = PageState(
        url=meta["url"],
        status=meta["status"],
        html=meta_path.with_suffix(".html").read_text(encoding="utf-8"),
        dialogs=tuple(meta["dialogs"]),
        redirects=tuple(meta["redirects"]),
    )
    return platform, state, meta["options"], meta["expected"]


@pytest.mark.parametrize("meta_path", PAGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_page(meta_path: Path) -> None:
    platform, state, raw_options, expected = _load(meta_path)
    spec = REGISTRY[platform]
    options = spec.options.model_validate(raw_options)
    found = classify(state, spec.classify, options)
    assert found.outcome.value == expected["outcome"], found
    if expected["detail"] is not None:
        assert found.detail == expected["detail"], found
    if expected["message"] is not None:
        assert found.message == expected["message"], found
    assert found.slots == expected["slots"], found
    if expected["earliest_in_days"] is not None:
        assert found.earliest_slot is not None
        want = (SIM_NOW + timedelta(days=expected["earliest_in_days"])).date()
        assert found.earliest_slot.date() == want


def test_every_platform_has_golden_pages() -> None:
    folders = {p.parent.name for p in PAGES}
    assert set(REGISTRY) <= folders


def test_every_platform_has_a_catalog_example() -> None:
    catalog = (Path(__file__).parent.parent / "config/examples/catalog.yaml").read_text()
    for platform in REGISTRY:
        assert f"platform: {platform}" in catalog, platform


def test_publication_notice_is_read() -> None:
    html = (
        "<p>Veuillez réessayer ultérieurement.</p>"
        "<p><span>Prochaine mise en ligne de nouveaux rendez-vous : le 04/12/2026 à 11:58</span>"
        ' <span>pour des créneaux de la semaine du 14/12/2026</span></p><script>var d = {"critere":'
        ' {"datePremiereDispo": "", "dateMin": "23/11/2026", "dateMax": "20/12/2026"}}</script>'
    )
    state = PageState(url="https://x.gouv.fr/rdvpref/reservation/demarche/1/creneau/",
                      status=200, html=html)  # fmt: skip
    spec = REGISTRY["rdv_prefecture"]
    found = classify(state, spec.classify, spec.options.model_validate({}))
    assert (found.outcome.value, found.message) == ("no_slot", "Veuillez réessayer ultérieurement.")
    assert found.published_next == datetime(2026, 12, 4, 11, 58, tzinfo=ZoneInfo("Europe/Paris"))


def test_a_slot_page_without_its_sentence_is_not_no_slot() -> None:
    """Empty `critere` but no sentence shown yet: the chooser has not rendered; no reading."""
    html = (
        '<script>var d = {"critere": {"datePremiereDispo": "", "dateMin": "23/11/2026"}}</script>'
    )
    state = PageState(url="https://x.gouv.fr/rdvpref/reservation/demarche/1/creneau/",
                      status=200, html=html)  # fmt: skip
    spec = REGISTRY["rdv_prefecture"]
    found = classify(state, spec.classify, spec.options.model_validate({}))
    assert (found.outcome.value, found.detail) == ("unrecognized", "slots_not_rendered")


def test_a_legacy_calendar_not_loaded_is_not_no_slot() -> None:
    """Step 4 whose week table has not arrived (XHR after load): no reading, never no_slot."""
    html = (
        '<h2>Choix d\'une plage horaire</h2><form id="FormBookingCreate"><div id="c"></div>'
        '<p class="legende">Légende : <span class="status-1 free">libre</span></p></form>'
    )
    state = PageState(url="https://x.gouv.fr/booking/create/948/4", status=200, html=html)
    spec = REGISTRY["legacy_booking"]
    found = classify(state, spec.classify, spec.options.model_validate({}))
    assert (found.outcome.value, found.detail, found.message) == (
        "unrecognized",
        "calendar_not_loaded",
        None,
    )


def test_unknown_page_is_unrecognized_not_guessed() -> None:
    state = PageState(url="https://x.gouv.fr/", status=200, html="<h1>Bienvenue</h1>")
    spec = REGISTRY["legacy_booking"]
    found = classify(state, spec.classify, spec.options.model_validate({}))
    assert (found.outcome.value, found.detail) == ("unrecognized", "no_rule_matched")
