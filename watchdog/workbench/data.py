"""What the workbench pages show, read from a read-only store (watchdog/store/record.py) and the
statistics of the reports (watchdog/stats/: the rates of docs/design.md §2, where
`probe_error` and `unrecognized` stay out of every rate).

Nothing here writes. Text the sites wrote (messages, URLs, pages) is passed on as text and
escaped by the templates; URLs and pages are shown without their volatile values
(watchdog/evidence/volatile.py), so a site's session id never reaches a page of the workbench.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from watchdog.config.loader import Config
from watchdog.domain.clock import PARIS
from watchdog.domain.departements import departements
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.evidence.volatile import split
from watchdog.notify.repo import Incident, recorded_incidents
from watchdog.stats.calendar import Period
from watchdog.stats.compute import compute
from watchdog.stats.series import SeriesStats
from watchdog.store import Store
from watchdog.store.record import Entry, Selection, last_entry, select

DEFAULT_DAYS = 7
MAX_DAYS = 3660  # ten years: beyond, a typo rather than a period
LISTED = 200  # observations listed on a target page (the newest of the period)
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


class BadRequest(ValueError):
    """A query the workbench refuses (a date that is none, a period backwards): HTTP 400."""


def parse_day(text: str, name: str) -> date:
    if len(text) != len("YYYY-MM-DD"):
        raise BadRequest(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None


def choose_period(first: str | None, last: str | None, newest: date) -> Period:
    """The period asked (Paris days, both included), or the DEFAULT_DAYS up to `newest`."""
    end = parse_day(last, "to") if last else newest
    start = parse_day(first, "from") if first else end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise BadRequest("the period ends before it starts (to < from)")
    if (end - start).days >= MAX_DAYS:
        raise BadRequest(f"a period of at most {MAX_DAYS} days, please")
    if start.year < 2000 or end.year > 9998:
        raise BadRequest("a date between the years 2000 and 9998, please")
    return Period.from_dates(start, end)


def safe_id(text: str) -> bool:
    """A plausible target or observation id (anything else is not looked up)."""
    return bool(SAFE_ID.match(text))


def inert(text: str | None) -> str | None:
    """Scraped text without its volatile values (session ids, CSRF tokens…)."""
    return None if text is None else split(text)[0]


@dataclass(frozen=True)
class TargetRow:
    """One target of the catalog, its last observation and its rates over the period."""

    target: Target
    last: Observation | None
    stats: SeriesStats


@cache
def department_names() -> dict[str, str]:
    """Code -> name of every département (the open data's and the dashboards' list)."""
    return {d.code: d.name for d in departements()}


@dataclass(frozen=True)
class Department:
    code: str
    rows: list[TargetRow]

    @property
    def name(self) -> str:
        return department_names().get(self.code, "")

    @property
    def stats(self) -> list[SeriesStats]:
        return [r.stats for r in self.rows]


def newest_day(store: Store, catalog: Sequence[Target]) -> date:
    """The Paris day of the newest observation of the catalog (today when there is none)."""
    lasts = [e.observation.started_at for t in catalog if (e := last_entry(store, t.id))]
    moment = max(lasts) if lasts else datetime.now(PARIS)
    return moment.astimezone(PARIS).date()


def target_rows(store: Store, targets: Sequence[Target], period: Period) -> list[TargetRow]:
    """Each target with its latest observation and its counts over `period` (index only)."""
    series = compute(store, [t.id for t in targets], period, full=False)
    rows = []
    for target in targets:
        entry = last_entry(store, target.id)
        rows.append(TargetRow(target, entry.observation if entry else None, series[target.id]))
    return rows


def departments(rows: Sequence[TargetRow]) -> list[Department]:
    grouped: dict[str, list[TargetRow]] = {}
    for row in rows:
        grouped.setdefault(row.target.department, []).append(row)
    return [Department(code, grouped[code]) for code in sorted(grouped)]


@dataclass
class Timeline:
    """The observations of one target over a period: every outcome's instant, the newest
    LISTED in full (newest first), and how many there were."""

    period: Period
    points: list[tuple[datetime, Outcome]] = field(default_factory=list)
    newest: list[Entry] = field(default_factory=list)
    counts: Counter[Outcome] = field(default_factory=Counter)


def timeline(store: Store, target: Target, period: Period) -> Timeline:
    found = Timeline(period)
    kept: deque[Entry] = deque(maxlen=LISTED)
    chosen = Selection(targets=(target.id,), since=period.since, until=period.until)
    for entry in select(store, chosen):
        obs = entry.observation
        found.points.append((obs.started_at, obs.outcome))
        found.counts[obs.outcome] += 1
        kept.append(entry)
    found.newest = list(reversed(kept))
    return found


def incidents(store: Store, targets: Sequence[str], period: Period) -> list[Incident]:
    """Incidents of `targets` open at some time of `period`, newest first."""
    found = recorded_incidents(store.engine, period.since, targets)
    return sorted(
        (i for i in found if i.opened_at < period.until), key=lambda i: i.opened_at, reverse=True
    )


def catalog_of(config: Config) -> dict[str, Target]:
    return {t.id: t for t in config.targets}
