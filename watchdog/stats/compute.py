"""Fill the series statistics from the store's SQL aggregations (see queries.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa

from watchdog.domain import rates
from watchdog.domain.clock import PARIS
from watchdog.domain.models import CaptchaSeen, Engine, Observation, Outcome, Screenshots
from watchdog.stats import queries
from watchdog.stats.calendar import (
    HOUR_KEY_LEN,
    Period,
    add_months,
    local_hour,
    parse_instant,
    site_hour,
)
from watchdog.stats.series import (
    CaptureMode,
    DayCount,
    ProfileRun,
    Run,
    SeriesStats,
    Session,
    Span,
    merge,
)
from watchdog.store.db import Store

HOUR_S = 3600
_Mode = TypeVar("_Mode", Screenshots, Engine)


def compute(
    store: Store, targets: Sequence[str], period: Period, *, full: bool = True
) -> dict[str, SeriesStats]:
    """Statistics per target id (every requested target, even without observations).

    `full=False` computes only the counts and rates, days, heat map and first and last
    attempts, from the index alone (enough for a previous-period line): no detail codes,
    simulated marks, announcements, capture modes, runs or lead times.
    """
    series = {t: SeriesStats(t, period) for t in targets}
    if not targets:
        return series
    counted = _Counted(store, targets, period)
    if not full:
        _fill_hourly(series, counted.rows(queries.hourly_counts, queries.hourly))
        return series
    facts = counted.rows(queries.facts_counts, queries.facts)
    # The facts' pass and the two that read documents run in threads of their own, each
    # query on its own connection (the drivers release the GIL while the database works,
    # and the document scans are mostly the database's reading), and each fills only fields
    # no other query touches; the runs, the one pass that is Python's work, run meanwhile.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stats") as pool:
        grouped = pool.submit(_fill_facts, series, facts)
        documents = pool.submit(_fill_documents, store, series, targets, period)
        _fill_hourly(series, counted.rows(queries.hourly_counts, queries.hourly))
        _fill_assisted(series, counted.rows(queries.assisted_counts, queries.assisted))
        _fill_runs(series, store.scan(queries.attempts(targets, period)))
        _fill_leads(series, counted.rows(queries.lead_counts, queries.lead_times))
        _fill_sessions(series, store.scan(queries.assist_sessions(targets, period)))
        _fill_audits(series, store.scan(queries.audits(targets, period)))
        _fill_substitute(series, store.scan(queries.substitute_checks(targets, period)))
        grouped.result()
        documents.result()
    return series


def _fill_documents(
    store: Store, series: dict[str, SeriesStats], targets: Sequence[str], period: Period
) -> None:
    """The one count that reads documents (of captcha pages only): what captchas offered."""
    _fill_captcha(series, store.scan(queries.captcha_offers(targets, period)))


Query = Callable[[Sequence[str], Any], sa.Select[Any]]


@dataclass(frozen=True)
class _Counted:
    """A statistic's rows: its whole hours from the counts kept at ingest
    (watchdog/store/rollup.py), its partial hours at the period's edges from the rows."""

    store: Store
    targets: Sequence[str]
    period: Period

    def rows(self, from_counts: Query, from_rows: Query) -> Iterator[Any]:
        hours, edges = queries.split(self.period)
        if hours is not None:
            yield from self.store.scan(from_counts(self.targets, hours))
        for edge in edges:
            yield from self.store.scan(from_rows(self.targets, edge))


def compute_total(series: dict[str, SeriesStats], period: Period) -> SeriesStats:
    """All selected targets together."""
    return merge("*", series.values(), period)


def capture_modes(store: Store, targets: Sequence[str], period: Period) -> dict[CaptureMode, Span]:
    """The screenshot policies and engines in force for `targets` (the facts' pass of
    `compute` alone), with how many observations and the first and last of them."""
    series = {t: SeriesStats(t, period) for t in targets}
    if targets:
        _fill_facts(
            series, _Counted(store, targets, period).rows(queries.facts_counts, queries.facts)
        )
    return merge("*", series.values(), period).capture_modes


def observed_window(
    store: Store, targets: Sequence[str], period: Period
) -> tuple[int, datetime, datetime] | None:
    """How many observations `targets` have in `period`, and the first and last of them
    (whatever their outcome); None when there is none. One count over the time index: the
    same figures as the capture modes' spans, without their grouping."""
    if not targets:
        return None
    with closing(store.scan(queries.window(targets, period))) as rows:
        count, first, last = tuple(next(rows))
    if not count or first is None or last is None:
        return None
    return int(count), parse_instant(first), parse_instant(last)


def daily_counts(store: Store, target: str, first: date, last: date) -> dict[date, Counter[str]]:
    """Outcome counts (by stored value) per Paris day of `target`, from `first` to `last` (both
    included): what the daily-rate incident rules read (watchdog/notify/evaluate.py)."""
    days: dict[date, Counter[str]] = {}
    counted = _Counted(store, [target], Period.from_dates(first, last))
    for row in counted.rows(queries.hourly_counts, queries.hourly):
        days.setdefault(local_hour(row.hour).date(), Counter())[row.outcome] += row.n
    return days


# By stored value: a value from a newer watchdog is not ours to count (absent here).
_OUTCOMES = {o.value: o for o in Outcome}
_COUNTED = frozenset(rates.COUNTED)
# Outside the rates; an unknown value is an attempt for runs and first and last attempts.
_EXCLUDED = frozenset(queries.EXCLUDED)


def _fill_hourly(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    attempts: dict[str, tuple[str, str]] = {}  # first and last attempt, as stored text
    for target, hour, value, n, first, last in rows:
        stats = series[target]
        if value not in _EXCLUDED:
            seen = attempts.get(target)
            attempts[target] = (first, last) if seen is None else _widen(seen, first, last)
        outcome = _OUTCOMES.get(value)
        if outcome is None:
            continue
        stats.outcomes[outcome] += n
        if outcome not in _COUNTED:
            continue
        local = local_hour(hour)
        day = stats.days.get(local.date())
        if day is None:
            day = stats.days[local.date()] = DayCount()
        day.attempts += n
        slot = outcome is Outcome.AVAILABLE
        if slot:
            day.slots += n
        stats.heat[(local.weekday(), local.hour, slot)] += n
        if outcome is Outcome.NO_SLOT:
            stats.buckets[5] += n
    for target, (first, last) in attempts.items():
        series[target].first_attempt = parse_instant(first)
        series[target].last_attempt = parse_instant(last)


def _widen(seen: tuple[str, str], first: str, last: str) -> tuple[str, str]:
    return min(seen[0], first), max(seen[1], last)  # canonical text sorts as time


def _fill_facts(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    for target, value, detail, simulated, shots, engine, announced, n, first, last in rows:
        stats = series[target]
        # A document without `engine` predates the request engine: the browser made it.
        mode = CaptureMode(_member(Screenshots, shots), _member(Engine, engine) or Engine.BROWSER)
        span = Span(n, parse_instant(first), parse_instant(last))
        stats.capture_modes.setdefault(mode, Span()).add(span)
        outcome = _OUTCOMES.get(value)
        if outcome is None:
            continue
        stats.details[(outcome, detail)] += n
        if simulated:
            stats.simulated += n
        if announced:
            moment = datetime.fromisoformat(str(announced)).replace(tzinfo=PARIS)
            stats.announced[moment] += n


def _member(kind: type[_Mode], value: str | None) -> _Mode | None:
    return None if value is None else kind(value)


def _fill_runs(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """Longest run without any slot, and releases, from `queries.attempts` (time order)."""
    run = _OpenRun()
    for target, started_at, outcome in rows:
        if target != run.target:
            run.close(series)
            run = _OpenRun(target)
        if outcome != queries.AVAILABLE:
            run.fail(started_at)
        elif run.fails:
            run.close(series)
            _note_release(series[target], started_at)
            run = _OpenRun(target)
    run.close(series)


@dataclass
class _OpenRun:
    """The failures since a target's last slot, as stored text (parsed once, when closed)."""

    target: str | None = None
    first: str = ""
    last: str = ""
    fails: int = 0

    def fail(self, started_at: str) -> None:
        if not self.fails:
            self.first = started_at
        self.last = started_at
        self.fails += 1

    def close(self, series: dict[str, SeriesStats]) -> None:
        if self.target is None or not self.fails:
            return
        stats = series[self.target]
        run = Run(parse_instant(self.first), parse_instant(self.last), self.fails)
        if stats.longest_run is None or run.duration > stats.longest_run.duration:
            stats.longest_run = run  # the first of equally long runs stays


def _note_release(stats: SeriesStats, slot_at: str) -> None:
    """A slot seen right after attempts without any: when slots appear."""
    local = local_hour(slot_at[:HOUR_KEY_LEN])  # Paris offsets are whole hours
    stats.releases[(local.weekday(), local.hour)] += 1
    moment = parse_instant(slot_at)
    if stats.last_release is None or moment > stats.last_release:
        stats.last_release = moment


def _fill_captcha(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """What each rendered captcha offered besides its image (`Observation.captcha`)."""
    for target, doc in rows:
        seen = CaptchaSeen.model_validate(json.loads(doc)["captcha"])
        if seen.alternative is None:
            continue
        stats = series[target]
        stats.captcha_rendered += 1
        stats.captcha_without_alternative += not seen.alternative


def _fill_audits(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """The last accessibility audit of each target, and its last run under each profile
    (mobile, slow-3g), rows in chain order."""
    for _chain, doc in rows:
        audit = Observation.model_validate_json(doc)
        stats = series.get(audit.audit.target) if audit.audit is not None else None
        if stats is None or audit.audit is None:
            continue
        if audit.audit.axe_ran:
            stats.audit, stats.audited_at, stats.audit_id = audit.audit, audit.started_at, audit.id
        else:
            run = ProfileRun(audit.audit, audit.started_at, audit.id)
            stats.profile_runs[audit.audit.profile] = run


def _fill_assisted(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """How many reads of each target came after a person answered the captcha."""
    for target, n in rows:
        series[target].assisted += int(n)


def _fill_sessions(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """Each assisted session's end, lifetime after the solve and reads, from its record."""
    for _chain, doc in rows:
        record = Observation.model_validate_json(doc)
        assist = record.assist
        stats = series.get(assist.target) if assist is not None else None
        if stats is None or assist is None:
            continue
        solved = assist.solved_after_s
        lifetime = None if solved is None else max(0.0, record.duration_s - solved)
        stats.sessions.append(Session(assist.end, lifetime, len(assist.reads)))


def _fill_substitute(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    """The last substitute channel check of each target (rows in chain order)."""
    for target, obs, check in _side_records(rows, "substitute"):
        if (stats := series.get(target)) is not None:
            stats.substitute, stats.substituted_at, stats.substitute_id = (
                check,
                obs.started_at,
                obs.id,
            )


def _side_records(rows: Iterable[Any], field: str) -> Iterator[tuple[str, Observation, Any]]:
    """(target id, observation, its `field` record) of each row of a side chain (audits,
    substitute channel checks) that holds one; the record names its target."""
    for _chain, doc in rows:
        obs = Observation.model_validate_json(doc)
        record = getattr(obs, field)
        if record is not None:
            yield record.target, obs, record


def _fill_leads(series: dict[str, SeriesStats], rows: Iterable[Any]) -> None:
    for target, start_key, earliest_key, several, n in rows:
        stats = series[target]
        start, one_month, two_months = _month_marks(start_key)
        earliest = site_hour(earliest_key)
        hours = max(0, round((earliest - start).total_seconds() / HOUR_S))
        stats.lead_hours[hours] += n
        stats.buckets[_bucket(earliest, one_month, two_months, bool(several))] += n


@lru_cache(maxsize=65536)
def _month_marks(start_key: str) -> tuple[datetime, datetime, datetime]:
    """The Paris time of a UTC start hour, and the same one and two months later."""
    start = local_hour(start_key)
    return start, add_months(start, 1), add_months(start, 2)


def _bucket(earliest: datetime, one_month: datetime, two_months: datetime, several: bool) -> int:
    """Cimade bucket of an attempt with a readable first date (5, "no date", is no_slot)."""
    if earliest < one_month:
        return 1 if several else 2
    if earliest < two_months:
        return 3
    return 4
