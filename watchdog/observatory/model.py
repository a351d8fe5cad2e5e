"""What the observatory shows, gathered once from the store through watchdog/stats.

Every rate is a `SeriesStats` property (docs/design.md §2): no-slot rate = no_slot /
(available + no_slot), failure rate = (attempts − available) / attempts, `probe_error` and
`unrecognized` outside every rate. Nothing here counts observations itself: the period, the
last seven days and each ISO week are `compute` calls over their own periods, and a
département or the nation is a merge (`compute_total`) of its journeys, or a sum of their
`Proportion`s for the no-slot rate, which only journeys that book have (ANEF books nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from watchdog.domain.departements import departements
from watchdog.domain.models import Observation
from watchdog.domain.rates import COUNTED
from watchdog.domain.target import Target
from watchdog.report import causes
from watchdog.report.examples import latest
from watchdog.stats.calendar import Period, iso_week, paris_midnight, week_label, week_monday
from watchdog.stats.compute import compute, compute_total
from watchdog.stats.intervals import Proportion
from watchdog.stats.series import SeriesStats
from watchdog.store.db import Store

RECENT_DAYS = 7  # the map's window: the last seven Paris days of the period
NONE = Proportion(0, 0)


@dataclass(frozen=True)
class Capture:
    """The latest framed capture of a journey (any outcome that counts in rates)."""

    observation: Observation
    framed_sha: str


@dataclass
class Journey:
    """One target: its statistics over the period, the last seven days and each week."""

    target: Target
    period: SeriesStats
    recent: SeriesStats
    weekly: list[tuple[str, SeriesStats]]
    capture: Capture | None = None

    @property
    def books(self) -> bool:
        return causes.books(self.target.platform)

    @property
    def recent_no_slot(self) -> Proportion:
        return self.recent.no_slot_rate if self.books else NONE

    @property
    def period_no_slot(self) -> Proportion:
        return self.period.no_slot_rate if self.books else NONE

    def weekly_no_slot(self) -> list[tuple[str, Proportion]]:
        return [(label, s.no_slot_rate if self.books else NONE) for label, s in self.weekly]


@dataclass
class Area:
    """Several journeys together: a département, or the nation (code "FR")."""

    code: str
    name: str
    journeys: list[Journey]
    period: SeriesStats
    recent: SeriesStats
    labels: list[str] = field(default_factory=list)  # the weeks, in order

    @property
    def booking(self) -> list[Journey]:
        return [j for j in self.journeys if j.books]

    @property
    def recent_no_slot(self) -> Proportion:
        return _sum(j.recent_no_slot for j in self.booking)

    @property
    def period_no_slot(self) -> Proportion:
        return _sum(j.period_no_slot for j in self.booking)

    def weekly_no_slot(self) -> list[tuple[str, Proportion]]:
        return [
            (label, _sum(j.weekly_no_slot()[i][1] for j in self.booking))
            for i, label in enumerate(self.labels)
        ]

    @property
    def simulated(self) -> int:
        return self.period.simulated


@dataclass
class Observatory:
    """The nation, its départements (those with a journey), the period and its recent window."""

    period: Period
    recent_period: Period
    nation: Area
    departements: list[Area]
    names: dict[str, str]  # every département code -> name (the map names them all)
    simulated_config: bool = False

    @property
    def simulated(self) -> bool:
        """Watermarked when the configuration says so or any observation was simulated."""
        return self.simulated_config or self.nation.simulated > 0

    @property
    def journeys(self) -> list[Journey]:
        return self.nation.journeys

    def worst(self, limit: int = 10) -> list[Journey]:
        """Journeys that reached a calendar in the last seven days, highest no-slot rate first
        (more attempts first among equal rates)."""
        reached = [j for j in self.journeys if j.recent_no_slot.n]
        return sorted(reached, key=lambda j: (-(j.recent_no_slot.value or 0.0), -j.recent_no_slot.n,
                                              j.target.id))[:limit]  # fmt: skip

    def departement(self, code: str) -> Area:
        return next(a for a in self.departements if a.code == code)


def weeks(period: Period) -> list[tuple[str, Period]]:
    """The ISO weeks the period touches, each cut to the period."""
    found: list[tuple[str, Period]] = []
    monday = week_monday(iso_week(period.first_day))
    while paris_midnight(monday) < period.until:
        start = max(period.since, paris_midnight(monday))
        end = min(period.until, paris_midnight(monday + timedelta(days=7)))
        found.append((week_label(iso_week(monday)), Period(start, end)))
        monday += timedelta(days=7)
    return found


def recent_window(period: Period) -> Period:
    """The last RECENT_DAYS Paris days of the period (the whole period when shorter)."""
    first = max(period.first_day, period.last_day - timedelta(days=RECENT_DAYS - 1))
    return Period(max(period.since, paris_midnight(first)), period.until)


def latest_capture(store: Store, target: str, period: Period) -> Capture | None:
    """The newest observation with a framed capture among the outcomes that count in rates
    (a capture of our own fault, probe_error, or of an unknown page is not the site's face)."""
    found = [latest(store, target, period, outcome) for outcome in COUNTED]
    seen = [o for o in found if o is not None and o.evidence.framed is not None]
    if not seen:
        return None
    newest = max(seen, key=lambda o: o.started_at)
    assert newest.evidence.framed is not None
    return Capture(newest, newest.evidence.framed)


def gather(
    store: Store, targets: Sequence[Target], period: Period, *, simulated: bool = False
) -> Observatory:
    """Everything the pages show, for `targets` over `period`."""
    ids = [t.id for t in targets]
    recent_period = recent_window(period)
    full = compute(store, ids, period)
    recent = compute(store, ids, recent_period, full=False)
    week_periods = weeks(period)
    per_week = [(label, compute(store, ids, p, full=False)) for label, p in week_periods]
    journeys = [
        Journey(
            t,
            full[t.id],
            recent[t.id],
            [(label, stats[t.id]) for label, stats in per_week],
            latest_capture(store, t.id, period),
        )
        for t in targets
    ]
    labels = [label for label, _ in week_periods]
    names = {d.code: d.name for d in departements()}
    nation = _area("FR", "France", journeys, period, recent_period, labels)
    areas = [
        _area(code, names.get(code, code), [j for j in journeys if j.target.department == code],
              period, recent_period, labels)
        for code in sorted({t.department for t in targets}, key=_code_order)
    ]  # fmt: skip
    return Observatory(period, recent_period, nation, areas, names, simulated)


def _area(
    code: str,
    name: str,
    journeys: list[Journey],
    period: Period,
    recent_period: Period,
    labels: list[str],
) -> Area:
    # The heat map and the counts of an area are those of its journeys that book: an ANEF
    # portal that works is `available` without a slot, and would read as one.
    booking = {j.target.id: j.period for j in journeys if j.books}
    recent = {j.target.id: j.recent for j in journeys if j.books}
    return Area(code, name, journeys, compute_total(booking, period),
                compute_total(recent, recent_period), labels)  # fmt: skip


def _sum(parts: Iterable[Proportion]) -> Proportion:
    return sum(parts, NONE)


def _code_order(code: str) -> tuple[int, str]:
    """01 … 19, 2A, 2B, 21 … 95, 971 …: the order of the official list."""
    if code in ("2A", "2B"):
        return 20, code
    return int(code), code
