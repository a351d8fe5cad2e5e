"""The statistics of one series (a target over a period), per docs/design.md §2 definitions.

The rates and the outcomes they count are watchdog/domain/rates.py's: `probe_error` and
`unrecognized` are counted apart (probe health) and never enter a denominator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

from watchdog.domain import rates
from watchdog.domain.models import (
    DOWN_OUTCOMES,
    Audit,
    AuditProfile,
    Engine,
    Outcome,
    Screenshots,
    SubstituteCheck,
)
from watchdog.stats.calendar import Period, iso_week
from watchdog.stats.intervals import Proportion, weighted_quantile

TECHNICAL = (Outcome.SITE_ERROR, Outcome.TIMEOUT, Outcome.NETWORK_ERROR)
# Cimade buckets (docs/design.md §2), 1-based as published.
BUCKETS = (1, 2, 3, 4, 5)
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class Session:
    """An assisted session of the period (its record, issue 16): why it ended, seconds from
    the person's solve to the end (None: never solved), and how many reads it made."""

    end: str
    lifetime_s: float | None
    reads: int


@dataclass(frozen=True)
class Run:
    """Consecutive counted attempts without any slot: first and last of them, and how many."""

    start: datetime
    end: datetime
    attempts: int

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class CaptureMode:
    """How evidence was captured: env.screenshots (None: not recorded) and env.engine."""

    screenshots: Screenshots | None
    engine: Engine


@dataclass
class Span:
    """How many observations, and the first and last of them."""

    observations: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, other: Span) -> None:
        self.observations += other.observations
        self.first = _extreme(min, self.first, other.first)
        self.last = _extreme(max, self.last, other.last)

    @property
    def order(self) -> tuple[datetime, datetime]:
        """Sort key: by first, then last observation (an empty span last)."""
        far = datetime.max.replace(tzinfo=UTC)
        return (self.first or far, self.last or far)


@dataclass
class DayCount:
    attempts: int = 0
    slots: int = 0  # attempts that found at least one slot

    @property
    def failed(self) -> int:
        return self.attempts - self.slots


@dataclass(frozen=True)
class ProfileRun:
    """A target's last audit run under a profile (mobile, slow-3g) in the period."""

    audit: Audit
    at: datetime
    observation_id: str


@dataclass
class SeriesStats:
    """Counts gathered for one target (or a merge of several) over one period."""

    target: str
    period: Period
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    details: Counter[tuple[Outcome, str]] = field(default_factory=Counter)
    simulated: int = 0
    days: dict[date, DayCount] = field(default_factory=dict)
    heat: Counter[tuple[int, int, bool]] = field(default_factory=Counter)  # weekday, hour, slot
    first_attempt: datetime | None = None
    last_attempt: datetime | None = None
    longest_run: Run | None = None
    releases: Counter[tuple[int, int]] = field(default_factory=Counter)  # weekday, hour
    last_release: datetime | None = None
    lead_hours: Counter[int] = field(default_factory=Counter)
    buckets: Counter[int] = field(default_factory=Counter)
    announced: Counter[datetime] = field(default_factory=Counter)
    # Captcha pages whose captcha rendered, and those of them that offered no alternative to
    # the image (RGAA 1.5; watchdog/probe/captcha.py). Observations without the record: unknown.
    captcha_rendered: int = 0
    # Reads made after a person answered the captcha (assisted sessions): env.captcha_solved_by.
    assisted: int = 0
    sessions: list[Session] = field(default_factory=list)  # assisted sessions that ended
    captcha_without_alternative: int = 0
    # The last accessibility audit of the target in the period (its own chain, issue 18): a
    # finding on the pages as served that day, never a rate; None when none was run.
    audit: Audit | None = None
    audited_at: datetime | None = None
    audit_id: str | None = None
    # The last mobile and slow-network runs (issue 18 item 3), by profile: each step's load.
    profile_runs: dict[AuditProfile, ProfileRun] = field(default_factory=dict)
    # The last substitute channel check of the target in the period (its own chain, issue 18):
    # what its prefecture's pages published that day; None when none was run.
    substitute: SubstituteCheck | None = None
    substituted_at: datetime | None = None
    substitute_id: str | None = None
    # Every observation, whatever its outcome: the evidence policy applies to all of them.
    capture_modes: dict[CaptureMode, Span] = field(default_factory=dict)

    # -- counts and rates -----------------------------------------------------------------

    @property
    def session_lifetime(self) -> timedelta | None:
        """The median time from a person's solve to the end of an assisted session (solved
        sessions only; None: none was solved)."""
        lives = [s.lifetime_s for s in self.sessions if s.lifetime_s is not None]
        return timedelta(seconds=round(median(lives))) if lives else None

    @property
    def sessions_solved(self) -> int:
        return sum(1 for s in self.sessions if s.lifetime_s is not None)

    @property
    def session_reads(self) -> int:
        return sum(s.reads for s in self.sessions)

    @property
    def session_reads_median(self) -> float | None:
        return median(s.reads for s in self.sessions) if self.sessions else None

    @property
    def session_ends(self) -> list[tuple[str, int]]:
        """Why the sessions ended, the most frequent first (then by name)."""
        ends = Counter(s.end for s in self.sessions)
        return sorted(ends.items(), key=lambda e: (-e[1], e[0]))

    @property
    def attempts(self) -> int:
        """Attempts that count in rates (docs/design.md §2)."""
        return rates.attempts(self.outcomes)

    @property
    def excluded(self) -> int:
        return rates.excluded(self.outcomes)

    @property
    def total(self) -> int:
        return self.attempts + self.excluded

    def share(self, *outcomes: Outcome) -> Proportion:
        """Share of counted attempts whose outcome is one of `outcomes`."""
        return Proportion(*rates.share(self.outcomes, *outcomes))

    @property
    def no_slot_rate(self) -> Proportion:
        """no_slot / (available + no_slot), as watchdog/domain/rates.py defines it."""
        return Proportion(*rates.no_slot_rate(self.outcomes))

    @property
    def failure_rate(self) -> Proportion:
        """(attempts − available) / attempts, as watchdog/domain/rates.py defines it."""
        return Proportion(*rates.failure_rate(self.outcomes))

    @property
    def opening_rate(self) -> Proportion:
        """Cimade's "taux d'ouverture": attempts that found at least one slot."""
        return self.share(Outcome.AVAILABLE)

    @property
    def technical_error_rate(self) -> Proportion:
        return self.share(*TECHNICAL)

    @property
    def uptime(self) -> Proportion:
        """Attempts where the site answered with a working page (not down)."""
        down = sum(self.outcomes[o] for o in DOWN_OUTCOMES)
        return Proportion(self.attempts - down, self.attempts)

    # -- persistence ----------------------------------------------------------------------

    @property
    def days_observed(self) -> int:
        return sum(1 for d in self.days.values() if d.attempts)

    @property
    def days_with_failure(self) -> int:
        return sum(1 for d in self.days.values() if d.failed)

    @property
    def days_without_slot(self) -> int:
        return sum(1 for d in self.days.values() if d.attempts and not d.slots)

    def weeks(self) -> dict[tuple[int, int], DayCount]:
        """Counts per ISO week (of the Paris calendar)."""
        weeks: dict[tuple[int, int], DayCount] = {}
        for day, count in sorted(self.days.items()):
            week = weeks.setdefault(iso_week(day), DayCount())
            week.attempts += count.attempts
            week.slots += count.slots
        return weeks

    @property
    def weeks_with_failure(self) -> int:
        """Distinct ISO weeks with at least one failed attempt (CE: "pas la même semaine")."""
        return sum(1 for w in self.weeks().values() if w.failed)

    @property
    def weeks_without_slot(self) -> int:
        return sum(1 for w in self.weeks().values() if w.attempts and not w.slots)

    # -- lead time ------------------------------------------------------------------------

    @property
    def lead_count(self) -> int:
        return sum(self.lead_hours.values())

    def lead_days(self, q: float) -> float | None:
        """Quantile of the lead time to the earliest slot, in days (hour precision)."""
        hours = weighted_quantile(self.lead_hours.items(), q)
        return None if hours is None else hours / HOURS_PER_DAY

    @property
    def lead_max_days(self) -> float | None:
        return max(self.lead_hours) / HOURS_PER_DAY if self.lead_hours else None

    def lead_beyond(self, days: int) -> Proportion:
        """Share of attempts with a readable first date more than `days` days away."""
        beyond = sum(n for h, n in self.lead_hours.items() if h > days * HOURS_PER_DAY)
        return Proportion(beyond, self.lead_count)

    @property
    def bucket_total(self) -> int:
        return sum(self.buckets[b] for b in BUCKETS)

    def bucket_share(self, bucket: int) -> Proportion:
        return Proportion(self.buckets[bucket], self.bucket_total)

    def capture_history(self) -> list[tuple[CaptureMode, Span]]:
        """The capture modes in force, in the order they were first used."""
        return sorted(self.capture_modes.items(), key=lambda item: item[1].order)

    # -- hour × weekday -------------------------------------------------------------------

    def heat_cell(self, weekday: int, hour: int) -> Proportion:
        """Share of attempts with a slot at this Paris weekday (0 = Monday) and hour."""
        slots = self.heat[(weekday, hour, True)]
        return Proportion(slots, slots + self.heat[(weekday, hour, False)])


def merge(target: str, parts: Iterable[SeriesStats], period: Period) -> SeriesStats:
    """The union of several series (an "ensemble" line): counts add up, extremes are kept."""
    total = SeriesStats(target, period)
    for part in parts:
        for name in ("outcomes", "details", "heat", "releases", "lead_hours", "buckets"):
            getattr(total, name).update(getattr(part, name))
        total.announced.update(part.announced)
        for mode, span in part.capture_modes.items():
            total.capture_modes.setdefault(mode, Span()).add(span)
        total.simulated += part.simulated
        total.captcha_rendered += part.captcha_rendered
        total.assisted += part.assisted
        total.sessions.extend(part.sessions)
        total.captcha_without_alternative += part.captcha_without_alternative
        for day, count in part.days.items():
            mine = total.days.setdefault(day, DayCount())
            mine.attempts += count.attempts
            mine.slots += count.slots
        total.first_attempt = _extreme(min, total.first_attempt, part.first_attempt)
        total.last_attempt = _extreme(max, total.last_attempt, part.last_attempt)
        total.last_release = _extreme(max, total.last_release, part.last_release)
        if part.longest_run and (
            total.longest_run is None or part.longest_run.duration > total.longest_run.duration
        ):
            total.longest_run = part.longest_run
    return total


def _extreme(
    pick: Callable[[list[datetime]], datetime], a: datetime | None, b: datetime | None
) -> datetime | None:
    values = [v for v in (a, b) if v is not None]
    return pick(values) if values else None
