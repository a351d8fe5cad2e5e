"""Fill the series statistics from the store's SQL aggregations (see queries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from watchdog.models import Outcome
from watchdog.stats import queries
from watchdog.stats.calendar import (
    PARIS,
    Period,
    add_months,
    local_hour,
    parse_instant,
    site_hour,
)
from watchdog.stats.series import DayCount, Run, SeriesStats, merge
from watchdog.store.db import Store

HOUR_S = 3600


def compute(
    store: Store, targets: Sequence[str], period: Period, *, full: bool = True
) -> dict[str, SeriesStats]:
    """Statistics per target id (every requested target, even without observations).

    `full=False` computes only the counts and rates (enough for a previous-period line).
    """
    series = {t: SeriesStats(t, period) for t in targets}
    if not targets:
        return series
    dialect = store.engine.dialect.name
    _fill_hourly(series, store.scan(queries.hourly(targets, period)))
    _fill_details(series, store.scan(queries.details(targets, period, dialect)))
    if full:
        _fill_runs(series, store.scan(queries.runs(targets, period)))
        _fill_leads(series, store.scan(queries.lead_times(targets, period)))
    return series


def compute_total(series: dict[str, SeriesStats], period: Period) -> SeriesStats:
    """All selected targets together."""
    return merge("*", series.values(), period)


def _outcome(value: str) -> Outcome | None:
    try:
        return Outcome(value)
    except ValueError:
        return None  # a value from a newer watchdog: not ours to count


def _fill_hourly(series: dict[str, SeriesStats], rows: Any) -> None:
    for row in rows:
        outcome = _outcome(row.outcome)
        if outcome is None:
            continue
        stats = series[row.target]
        stats.outcomes[outcome] += row.n
        if not outcome.counts_in_rates:
            continue
        local = local_hour(row.hour)
        day = stats.days.setdefault(local.date(), DayCount())
        day.attempts += row.n
        slot = outcome is Outcome.AVAILABLE
        if slot:
            day.slots += row.n
        stats.heat[(local.weekday(), local.hour, slot)] += row.n
        if outcome is Outcome.NO_SLOT:
            stats.buckets[5] += row.n


def _fill_details(series: dict[str, SeriesStats], rows: Any) -> None:
    for row in rows:
        outcome = _outcome(row.outcome)
        if outcome is None:
            continue
        stats = series[row.target]
        stats.details[(outcome, row.detail)] += row.n
        stats.simulated += int(row.simulated or 0)
        if row.announced:
            announced = datetime.fromisoformat(str(row.announced)).replace(tzinfo=PARIS)
            stats.announced[announced] += row.n


def _fill_runs(series: dict[str, SeriesStats], rows: Any) -> None:
    before: tuple[str | None, int] = (None, 0)  # target and failures of the previous group
    for row in rows:
        stats = series[row.target]
        for text in (row.slot_at, row.first_fail, row.last_fail):
            if text is not None:
                _note_attempt(stats, parse_instant(text))
        if row.fails:
            run = Run(parse_instant(row.first_fail), parse_instant(row.last_fail), int(row.fails))
            if stats.longest_run is None or run.duration > stats.longest_run.duration:
                stats.longest_run = run
        if row.slot_at is not None and before[0] == row.target and before[1]:
            _note_release(stats, parse_instant(row.slot_at))
        before = (row.target, int(row.fails or 0))


def _note_attempt(stats: SeriesStats, moment: datetime) -> None:
    if stats.first_attempt is None or moment < stats.first_attempt:
        stats.first_attempt = moment
    if stats.last_attempt is None or moment > stats.last_attempt:
        stats.last_attempt = moment


def _note_release(stats: SeriesStats, moment: datetime) -> None:
    """A slot seen right after attempts without any: when slots appear."""
    local = moment.astimezone(PARIS)
    stats.releases[(local.weekday(), local.hour)] += 1
    if stats.last_release is None or moment > stats.last_release:
        stats.last_release = moment


def _fill_leads(series: dict[str, SeriesStats], rows: Any) -> None:
    for row in rows:
        stats = series[row.target]
        start = local_hour(row.start)
        earliest = site_hour(row.earliest)
        hours = max(0, round((earliest - start).total_seconds() / HOUR_S))
        stats.lead_hours[hours] += row.n
        stats.buckets[_bucket(start, earliest, bool(row.several))] += row.n


def _bucket(start: datetime, earliest: datetime, several: bool) -> int:
    """Cimade bucket of an attempt with a readable first date (5, "no date", is no_slot)."""
    if earliest < add_months(start, 1):
        return 1 if several else 2
    if earliest < add_months(start, 2):
        return 3
    return 4
