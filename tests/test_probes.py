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

from watchdog.models import Observation
from watchdog.store import Store

NO_SLOT_LEGACY = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)


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
]  # fmt: skip


def _run(sim: Sim, tmp_path: Path, case: Case) -> Observation:
    url = sim.entry_url(case.key)
    config = write_config(tmp_path, [target("t", case.platform, url, case.options)])
    return probe_and_store(sim, config, "t")


def _assert_evidence(obs: Observation, data_dir: Path) -> None:
    store = Store.open(data_dir)
    try:
        kinds = {k: v for k, v in obs.evidence.model_dump().items() if v}
        for sha in kinds.values():
            assert hashlib.sha256(store.blobs.get(sha)).hexdigest() == sha
    finally:
        store.close()
    if obs.outcome.value not in ("timeout", "network_error"):
        assert {"screenshot", "framed", "html"} <= kinds.keys(), kinds
    if obs.outcome.value in ("unrecognized", "probe_error"):
        assert "trace" in kinds


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.key)
def test_probe_case(sim: Sim, tmp_path: Path, case: Case) -> None:
    before = len(sim.requests())
    obs = _run(sim, tmp_path, case)
    assert (obs.outcome.value, obs.detail) == (case.outcome, case.detail or obs.detail), obs
    if case.message is not None:
        assert obs.message == case.message
    assert obs.slots == case.slots
    if case.earliest_in_days is not None:
        assert obs.earliest_slot is not None
        assert obs.earliest_slot.date() == (SIM_NOW + timedelta(days=case.earliest_in_days)).date()
    _assert_evidence(obs, tmp_path / "data")
    booking = [r for r in sim.requests()[before:] if r.get("flags") or r.get("flag")]
    assert booking == [], booking
    assert obs.env.fresh_context and obs.env.browser_version
    assert obs.hash and obs.steps
