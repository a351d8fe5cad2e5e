"""Every platform × scenario through the real runner, real Chromium and the simulator.

One table, one harness: each case asserts outcome, detail, message, slots and earliest
date, that the evidence blobs exist and hash right, and that the simulator saw no
request that would book.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SIM_NOW
from harness import Sim, probe_and_store, target, write_config

from watchdog.domain.models import Observation, Profile
from watchdog.store import Store

NO_SLOT_LEGACY = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)


EAPP_ALERT = (
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné."
)
OPERATOR = {"captcha": "operator", "operator_headers": {"X-Operator-Token": "op-secret-token"}}


@dataclass(frozen=True)
class Case:
    key: str
    platform: str
    outcome: str
    detail: str | None = None
    message: str | None = None
    slots: int | None = None
    earliest_in_days: int | None = None
    options: dict[str, Any] | None = None


CASES = [
    Case("legacy-no-slot", "legacy_booking", "no_slot", "no_free_slot", NO_SLOT_LEGACY),
    Case("legacy-slots", "legacy_booking", "available", "step_4", None, 3, 12),
    Case("legacy-slots-step4", "legacy_booking", "available", "step_4", None, 5, 6),
    Case("legacy-guichets", "legacy_booking", "available", "step_4", None, 2, 20,
         {"planning": "14806"}),
    Case("legacy-closed", "legacy_booking", "closed", "closed_banner",
         "Attention : Cette page n'est pas disponible pour le moment !"),
    Case("legacy-retired", "legacy_booking", "closed", "retired",
         "Ce lien a été désactivé définitivement"),
    Case("legacy-http-502", "legacy_booking", "site_error", "http_502", "502 Bad Gateway"),
    Case("legacy-http-503", "legacy_booking", "site_error", "http_503"),
    Case("legacy-http-504", "legacy_booking", "site_error", "http_504", "504 Gateway Timeout"),
    Case("legacy-overloaded", "legacy_booking", "site_error", "overloaded"),
    Case("legacy-overloaded-200", "legacy_booking", "site_error", "overloaded"),
    Case("legacy-slow", "legacy_booking", "no_slot", "no_free_slot", NO_SLOT_LEGACY),
    Case("legacy-reset", "legacy_booking", "network_error"),
    Case("legacy-retired-403", "legacy_booking", "closed", "retired"),
    Case("legacy-blocked", "legacy_booking", "blocked", "http_403"),
    Case("legacy-redesign", "legacy_booking", "unrecognized", "no_rule_matched"),
    Case("legacy-502-at-step-2", "legacy_booking", "site_error"),
    Case("rdv-no-slot", "rdv_prefecture", "captcha", "captcha_wall",
         "Pour continuer, recopiez le code de sécurité affiché dans l'image."),
    Case("rdv-no-slot-last-week", "rdv_prefecture", "no_slot", "no_slot_last_week",
         "Aucun créneau disponible à partir de cette date.", 0, None, OPERATOR),
    Case("rdv-slots", "rdv_prefecture", "captcha", "captcha_wall"),
    Case("rdv-slots", "rdv_prefecture", "available", "slots", None, 4, 9, OPERATOR),
    Case("rdv-no-slot", "rdv_prefecture", "no_slot", "no_slot_week", None, 0, None, OPERATOR),
    Case("rdv-session-expired", "rdv_prefecture", "captcha", "session_expired", None, None, None,
         OPERATOR),
    Case("rdv-502-at-creneau", "rdv_prefecture", "site_error", "http_502", None, None, None,
         OPERATOR),
    Case("eapp-no-slot", "eappointment", "no_slot", "js_alert", EAPP_ALERT, None, None,
         {"postal_code": "94000", "motives": ["20"]}),
    Case("eapp-slots", "eappointment", "available", "calendar", None, 5, 8,
         {"postal_code": "94120", "motives": ["20"]}),
    Case("eapp-error", "eappointment", "site_error", None, None, None, None,
         {"postal_code": "94110"}),
    Case("anef-up", "anef", "available", "portal_up"),
    Case("anef-maintenance", "anef", "maintenance", "maintenance_page", "Site en maintenance"),
    Case("anef-maintenance-200", "anef", "maintenance", "maintenance_page", "Site en maintenance"),
    Case("anef-error", "anef", "site_error", "http_500"),
    Case("anef-error-spa", "anef", "site_error", "error_text", "Une erreur est survenue"),
    Case("anef-login-wall", "anef", "available", "login_wall"),
    Case("anef-redesign", "anef", "unrecognized", "no_rule_matched"),
]  # fmt: skip


def _run(sim: Sim, tmp_path: Path, case: Case) -> Observation:
    url = sim.entry_url(case.key)
    config = write_config(tmp_path, [target("t", case.platform, url, case.options)])
    return probe_and_store(sim, config, "t")


def _assert_evidence(obs: Observation, data_dir: Path) -> None:
    store = Store.open(data_dir)
    try:
        kinds = obs.evidence.blobs()  # html_sha256 names the page as served, not a blob
        for sha in kinds.values():
            assert hashlib.sha256(store.blobs.get(sha)).hexdigest() == sha
    finally:
        store.close()
    if obs.outcome.value not in ("timeout", "network_error"):
        assert {"screenshot", "framed", "html"} <= kinds.keys(), kinds
    if obs.outcome.value in ("unrecognized", "probe_error"):
        assert "trace" in kinds


def _case_id(case: Case) -> str:
    mode = (case.options or {}).get("captcha")
    return f"{case.key}-{mode}" if mode else case.key


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_probe_case(sim: Sim, tmp_path: Path, case: Case) -> None:
    before = len(sim.requests())
    obs = _run(sim, tmp_path, case)
    assert (obs.outcome.value, obs.detail) == (case.outcome, case.detail or obs.detail), (
        obs.message,
        obs.steps,
    )
    if case.message is not None:
        assert obs.message == case.message
    assert obs.slots == case.slots
    if case.earliest_in_days is not None:
        assert obs.earliest_slot is not None
        assert obs.earliest_slot.date() == (SIM_NOW + timedelta(days=case.earliest_in_days)).date()
    _assert_evidence(obs, tmp_path / "data")
    seen = sim.requests()[before:]
    assert seen and all("flagged" in r for r in seen)
    booking = [r for r in seen if r["flagged"]]
    assert booking == [], booking
    # Operator credentials never enter a kept page: those probes get a fresh profile.
    operator = (case.options or {}).get("captcha") == "operator"
    assert obs.env.profile is (Profile.FRESH if operator else Profile.CLEARED)
    assert obs.env.fresh_context is operator and obs.env.browser_version
    assert obs.env.browser == "chromium-headless-shell"  # the build that rendered the page
    assert obs.hash and obs.steps
