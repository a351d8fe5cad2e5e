"""Incident kinds, audiences and the per-kind reading of an observation (issue 5).

The string values are a public contract (config keys, `watchdog incidents --json`).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from watchdog.domain.models import Observation, Outcome


class Audience(StrEnum):
    SRE = "sre"  # minutes: is the service up?
    INVESTIGATOR = "investigator"  # days: can people book?


class IncidentKind(StrEnum):
    SITE_DOWN = "site_down"
    CAPTCHA_WALL = "captcha_wall"
    PAGE_CLOSED = "page_closed"
    BLOCKED = "blocked"
    HIGH_NO_SLOT_RATE = "high_no_slot_rate"
    HIGH_FAILURE_RATE = "high_failure_rate"
    ASSIST_NEEDED = "assist_needed"  # an assisted journey has met only its captcha for a while


class Event(StrEnum):
    """What a notification says about its subject."""

    OPENED = "opened"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    DIGEST = "digest"
    TEST = "test"
    ALERTMANAGER = "alertmanager"


class Reading(IntEnum):
    """How one observation counts towards a streak kind."""

    NEUTRAL = 0
    BAD = 1
    GOOD = 2


AUDIENCE_KINDS: dict[Audience, frozenset[IncidentKind]] = {
    Audience.SRE: frozenset({IncidentKind.SITE_DOWN}),
    Audience.INVESTIGATOR: frozenset(
        {
            IncidentKind.CAPTCHA_WALL,
            IncidentKind.PAGE_CLOSED,
            IncidentKind.BLOCKED,
            IncidentKind.HIGH_NO_SLOT_RATE,
            IncidentKind.HIGH_FAILURE_RATE,
            IncidentKind.ASSIST_NEEDED,
        }
    ),
}
STREAK_KINDS = (
    IncidentKind.SITE_DOWN,
    IncidentKind.CAPTCHA_WALL,
    IncidentKind.PAGE_CLOSED,
    IncidentKind.BLOCKED,
)
# watchdog.daemon.maintenance.MAINTENANCE_TAG (not imported: notify stays below the daemon).
MAINTENANCE_TAG = "maintenance_window"
RATE_KINDS = (IncidentKind.HIGH_NO_SLOT_RATE, IncidentKind.HIGH_FAILURE_RATE)
# Only for journeys in `captcha: assisted` mode: their probes met the captcha and no person has
# answered one since (BAD); an assisted read, a person's pass, resolves it (GOOD).
ASSIST_KINDS = (IncidentKind.ASSIST_NEEDED,)

# The site failed to serve a working page (blocked is its own kind: aimed at us, not an outage).
DOWN = frozenset({Outcome.SITE_ERROR, Outcome.TIMEOUT, Outcome.NETWORK_ERROR, Outcome.MAINTENANCE})
# The booking page itself was shown (past any captcha): proof the journey is open.
PAGE_SHOWN = frozenset({Outcome.AVAILABLE, Outcome.NO_SLOT})
UNREACHED = frozenset({Outcome.TIMEOUT, Outcome.NETWORK_ERROR})


def reading(kind: IncidentKind, obs: Observation) -> Reading:
    """BAD, GOOD or NEUTRAL for `kind`; our own faults and unknown pages are always neutral."""
    outcome = obs.outcome
    if not outcome.counts_in_rates:
        return Reading.NEUTRAL
    if kind is IncidentKind.SITE_DOWN:
        if MAINTENANCE_TAG in obs.tags or outcome is Outcome.BLOCKED:
            return Reading.NEUTRAL  # announced maintenance is not an outage
        return Reading.BAD if outcome in DOWN else Reading.GOOD
    if kind is IncidentKind.ASSIST_NEEDED:
        if obs.env.captcha_solved_by is not None:
            return Reading.GOOD
        return Reading.BAD if outcome is Outcome.CAPTCHA else Reading.NEUTRAL
    if kind is IncidentKind.CAPTCHA_WALL:
        if obs.env.captcha_solved_by is not None:
            return Reading.NEUTRAL  # a person got past the wall: it still stands for everyone
        return _bad_good(outcome is Outcome.CAPTCHA, outcome in PAGE_SHOWN)
    if kind is IncidentKind.PAGE_CLOSED:
        return _bad_good(outcome is Outcome.CLOSED, outcome in PAGE_SHOWN | {Outcome.CAPTCHA})
    if kind is IncidentKind.BLOCKED:
        return _bad_good(outcome is Outcome.BLOCKED, outcome not in UNREACHED)
    raise ValueError(f"{kind} is not a streak kind")


def _bad_good(bad: bool, good: bool) -> Reading:
    if bad:
        return Reading.BAD
    return Reading.GOOD if good else Reading.NEUTRAL
