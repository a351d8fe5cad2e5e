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

from watchdog.domain.models import Outcome
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
    HIDDEN = "hidden"  # a captcha or a waiting room hid the calendar from the probe


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


def down_rate(s: SeriesStats) -> Proportion:
    """Barriers that make the service unusable for anyone (disabled page, maintenance, site
    error, no answer) over the attempts that say something of access."""
    return Proportion(sum(s.outcomes[o] for o in causes.DOWN), applicant_attempts(s))


def service_error_rate(s: SeriesStats) -> Proportion:
    """Site errors and unanswered attempts over the attempts that say something of access."""
    errors = s.outcomes[Outcome.SITE_ERROR] + s.outcomes[Outcome.TIMEOUT]
    return Proportion(errors, applicant_attempts(s))


def service_uptime(s: SeriesStats) -> Proportion:
    """Attempts where the service answered with a working page (not an error, no answer or
    maintenance), our own blocks and network errors left out."""
    down = sum(s.outcomes[o] for o in (Outcome.SITE_ERROR, Outcome.TIMEOUT, Outcome.MAINTENANCE))
    return Proportion(applicant_attempts(s) - down, applicant_attempts(s))


def hidden_rate(s: SeriesStats) -> Proportion:
    """Attempts a captcha or a waiting room stopped before the calendar."""
    return Proportion(sum(s.outcomes[o] for o in causes.HIDING), applicant_attempts(s))


def verdict(s: SeriesStats, books: bool) -> Verdict:
    """The conclusion `s` supports, if any (`books`: False for ANEF)."""
    base = basis(s)
    down_outcomes = tuple(causes.dominant(s.outcomes, causes.DOWN))
    if not s.attempts:
        return Verdict(None, base, Proportion(0, 0), (Shortfall.NO_ATTEMPT,))
    if not applicant_attempts(s):
        return Verdict(None, base, Proportion(0, 0), (Shortfall.PROBE_SIDE,))
    if not books:
        return _judge(Kind.PORTAL, down_rate(s), base, down_outcomes)
    reached, down, hidden = s.no_slot_rate, down_rate(s), hidden_rate(s)
    down_share, hidden_share = down.value or 0.0, hidden.value or 0.0
    if reached.n >= MIN_ATTEMPTS or max(down_share, hidden_share) < HIGH_RATE:
        return _judge(Kind.NO_SLOT, reached, base, down_outcomes)
    if down_share >= hidden_share:
        return _judge(Kind.BARRIER, down, base, down_outcomes)
    hiding = tuple(causes.dominant(s.outcomes, causes.HIDING))
    return Verdict(None, base, hidden, (Shortfall.HIDDEN,), hiding)


def _judge(kind: Kind, rate: Proportion, base: Basis, barriers: tuple[Outcome, ...]) -> Verdict:
    short: list[Shortfall] = []
    if rate.n < MIN_ATTEMPTS:
        short.append(Shortfall.FEW_ATTEMPTS)
    if base.weeks < MIN_WEEKS:
        short.append(Shortfall.FEW_WEEKS)
    if not short and (rate.low or 0.0) < HIGH_RATE:
        short.append(Shortfall.RATE_NOT_HIGH)
    return Verdict(kind, base, rate, tuple(short), barriers)
