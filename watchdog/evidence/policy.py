"""When a screenshot is kept: the evidence policy (`screenshots: every|on_change|hourly|daily`).

The DOM and the hashes are kept for every observation whatever the policy. A screenshot is
kept for the first observation of each outcome run (the first `no_slot` after an
`available`, the first observation after a restart), and then:

- `every`: always;
- `on_change`: when the page differs from the previous observation's page, once volatile
  tokens (session ids, CSRF tokens, nonces) are set aside (`page_fingerprint`, the SHA-256
  of the page's skeleton: watchdog/evidence/volatile.py holds the one definition of "volatile");
- `hourly` / `daily`: when the target's last screenshot is at least that old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watchdog.domain.errors import EvidenceMissing
from watchdog.domain.models import Observation, Outcome, Screenshots
from watchdog.evidence.volatile import page_fingerprint

__all__ = ["EvidenceMemory", "Seen", "page_fingerprint"]

PERIODS = {Screenshots.HOURLY: timedelta(hours=1), Screenshots.DAILY: timedelta(days=1)}


def _fingerprint(obs: Observation, read_blob: Callable[[str], bytes]) -> str | None:
    if obs.evidence.html is None:
        return None
    if obs.evidence.html_sha256 is not None:
        return obs.evidence.html  # the skeleton's blob: named by the page's fingerprint
    try:  # from before the split: the blob is the whole page
        return page_fingerprint(read_blob(obs.evidence.html).decode("utf-8", "replace"))
    except EvidenceMissing:
        return None


@dataclass(frozen=True)
class Seen:
    """What the policy remembers of a target's previous observation."""

    outcome: Outcome
    fingerprint: str | None
    last_shot: datetime | None
    run_shot: bool  # the current outcome run has a screenshot


class EvidenceMemory:
    """Per-target memory for the policy (in the process: a restart starts a new run)."""

    def __init__(self) -> None:
        self._seen: dict[str, Seen] = {}

    def seed(self, last: Iterable[Observation], read_blob: Callable[[str], bytes]) -> None:
        """Carry each target's outcome run across a restart, from its last stored observation.

        A restart is not a new run: without this, every target would take a screenshot on
        its first probe after a restart (thousands of renders at once on a large catalog).
        """
        for obs in last:
            if obs.target in self._seen:
                continue
            fingerprint = _fingerprint(obs, read_blob)
            shot = obs.finished_at if obs.evidence.screenshot else None
            # The policy gave the run its screenshot when it started: the run has one.
            self._seen[obs.target] = Seen(obs.outcome, fingerprint, shot, run_shot=True)

    def last_outcome(self, target_id: str) -> Outcome | None:
        """The outcome of the target's previous observation (None: none remembered)."""
        seen = self._seen.get(target_id)
        return None if seen is None else seen.outcome

    def wants_screenshot(
        self,
        target_id: str,
        policy: Screenshots,
        outcome: Outcome,
        fingerprint: str | None,
        now: datetime,
    ) -> bool:
        seen = self._seen.get(target_id)
        if seen is None or seen.outcome is not outcome or not seen.run_shot:
            return True
        if policy is Screenshots.EVERY:
            return True
        if policy is Screenshots.ON_CHANGE:
            return fingerprint != seen.fingerprint
        return seen.last_shot is None or now - seen.last_shot >= PERIODS[policy]

    def remember(
        self, target_id: str, outcome: Outcome, fingerprint: str | None, shot_at: datetime | None
    ) -> None:
        """Note an observation; `shot_at` is when its screenshot was taken, None if none."""
        previous = self._seen.get(target_id)
        same_run = previous is not None and previous.outcome is outcome
        last_shot = shot_at or (previous.last_shot if previous is not None else None)
        run_shot = shot_at is not None or (same_run and previous is not None and previous.run_shot)
        self._seen[target_id] = Seen(outcome, fingerprint, last_shot, run_shot)
