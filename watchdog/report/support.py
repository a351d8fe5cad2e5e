"""When the data support a conclusion, and what it rests on (issue 12, item 1).

A report or a dossier states a conclusion about a series only when the statistics behind it
are there: enough attempts, spread over enough distinct ISO weeks, and — for a conclusion
about slots — attempts that reached the booking calendar. Otherwise it says plainly that
the observations do not allow one, and why. Every conclusion names its basis (attempts,
days, weeks) so a reader can weigh it.

Thresholds: 30 attempts is the volume the bundled recommendation rules already ask for; three
distinct ISO weeks is how lawyers describe the files interim-relief judges granted (« au moins
trois semaines », TA Cergy-Pontoise and TA Paris, 2020) — beyond the Conseil d'État's « pas la
même semaine » (CE 10 juin 2020, n° 435594). A high rate is judged on the lower bound of its
Wilson 95 % interval, the reading least favourable to the conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from watchdog.models import Outcome
from watchdog.report import causes
from watchdog.stats.intervals import Proportion
from watchdog.stats.series import SeriesStats

MIN_ATTEMPTS = 30
MIN_WEEKS = 3
HIGH_RATE = 0.5  # lower bound of the 95 % interval


class Kind(StrEnum):
    NO_SLOT = "no_slot"  # the calendar was reached and mostly showed no slot
    BARRIER = "barrier"  # the calendar was (almost) never reached: a barrier of the service
    PORTAL = "portal"  # ANEF: the portal was mostly unavailable


class Shortfall(StrEnum):
    """Why a series supports no conclusion."""

    NO_ATTEMPT = "no_attempt"
    FEW_ATTEMPTS = "few_attempts"  # fewer than MIN_ATTEMPTS relevant attempts
    FEW_WEEKS = "few_weeks"  # fewer than MIN_WEEKS distinct ISO weeks
    RATE_NOT_HIGH = "rate_not_high"  # the lower bound of the rate is under HIGH_RATE
    PROBE_SIDE = "probe_side"  # only attempts that say nothing of an applicant's access


@dataclass(frozen=True)
class Basis:
    """What a statement rests on."""

    attempts: int
    days: int
    weeks: int


@dataclass(frozen=True)
class Verdict:
    """Whether a series supports the conclusion `judged` was tested for; `kind` is that
    conclusion when it holds, None when a shortfall stands in the way."""

    judged: Kind | None
    basis: Basis
    rate: Proportion
    shortfalls: tuple[Shortfall, ...] = ()
    barriers: tuple[Outcome, ...] = ()  # the barriers met, most frequent first

    @property
    def kind(self) -> Kind | None:
        return None if self.shortfalls else self.judged

    @property
    def concludes(self) -> bool:
        return self.kind is not None


def weeks_observed(s: SeriesStats) -> int:
    return sum(1 for w in s.weeks().values() if w.attempts)


def basis(s: SeriesStats) -> Basis:
    return Basis(s.attempts, s.days_observed, weeks_observed(s))


def applicant_attempts(s: SeriesStats) -> int:
    """Counted attempts that say something of an applicant's access (not probe-side)."""
    return s.attempts - sum(s.outcomes[o] for o in causes.PROBE_SIDE)


def barrier_rate(s: SeriesStats) -> Proportion:
    """Barriers of the service over the attempts that say something of access."""
    return Proportion(sum(s.outcomes[o] for o in causes.BARRIERS), applicant_attempts(s))


def verdict(s: SeriesStats, books: bool) -> Verdict:
    """The conclusion `s` supports, if any (`books`: False for ANEF)."""
    base = basis(s)
    barriers = tuple(causes.dominant(s.outcomes, causes.BARRIERS))
    if not s.attempts:
        return Verdict(None, base, Proportion(0, 0), (Shortfall.NO_ATTEMPT,))
    if not applicant_attempts(s):
        return Verdict(None, base, Proportion(0, 0), (Shortfall.PROBE_SIDE,))
    if not books:
        return _judge(Kind.PORTAL, barrier_rate(s), base, barriers)
    reached = s.no_slot_rate
    barrier = barrier_rate(s)
    if reached.n >= MIN_ATTEMPTS or (barrier.value or 0.0) < HIGH_RATE:
        return _judge(Kind.NO_SLOT, reached, base, barriers)
    return _judge(Kind.BARRIER, barrier, base, barriers)


def _judge(kind: Kind, rate: Proportion, base: Basis, barriers: tuple[Outcome, ...]) -> Verdict:
    short: list[Shortfall] = []
    if rate.n < MIN_ATTEMPTS:
        short.append(Shortfall.FEW_ATTEMPTS)
    if base.weeks < MIN_WEEKS:
        short.append(Shortfall.FEW_WEEKS)
    if not short and (rate.low or 0.0) < HIGH_RATE:
        short.append(Shortfall.RATE_NOT_HIGH)
    return Verdict(kind, base, rate, tuple(short), barriers)
