"""The SQL aggregations equal a plain Python count over the observations themselves.

A seeded store of several hundred observations (eight outcomes, probe errors and unknown
pages included, simulated and announced values, two evidence policies and both engines,
the end of summer time inside the period) is read both ways: `compute` (SQL) and a reference
written from the definitions of docs/design.md §2 over `iter_observations` (one pydantic object per
row). Every figure of SeriesStats must agree, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from reportdata import Spec, observation

from watchdog.domain.clock import PARIS
from watchdog.domain.models import Engine, Env, Observation, Outcome, Screenshots
from watchdog.stats import Period, compute, compute_total
from watchdog.stats.calendar import add_months
from watchdog.stats.compute import observed_window
from watchdog.stats.series import CaptureMode, DayCount, Run, SeriesStats, Span
from watchdog.store import Store

TARGETS = ("sql-a", "sql-b", "sql-c")
START = datetime(2026, 10, 10, 6, 0, tzinfo=UTC)
# Inside the generated data on both sides; 25 October 2026 (end of summer time) within.
PERIOD = Period.from_dates(date(2026, 10, 12), date(2026, 11, 8))
POLICY_CHANGE = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)
WEIGHTS = {
    Outcome.NO_SLOT: 40,
    Outcome.AVAILABLE: 14,
    Outcome.SITE_ERROR: 6,
    Outcome.CAPTCHA: 4,
    Outcome.TIMEOUT: 3,
    Outcome.CLOSED: 2,
    Outcome.PROBE_ERROR: 5,
    Outcome.UNRECOGNIZED: 4,
}


def _observations(target: str, rng: random.Random) -> list[Observation]:
    built = []
    at = START
    for _ in range(260):
        at += timedelta(minutes=rng.choice((5, 20, 45, 90, 180, 420, 900)), seconds=rng.random())
        outcome = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
        slots = earliest = None
        if outcome is Outcome.AVAILABLE:
            slots = rng.randint(1, 4)
            if rng.random() < 0.85:
                local = at.astimezone(PARIS).replace(tzinfo=None)
                earliest = local + timedelta(days=rng.randint(0, 95), minutes=rng.randint(0, 900))
        announced = None
        if outcome is Outcome.NO_SLOT and rng.random() < 0.1:
            announced = datetime(2026, 11, rng.randint(1, 3), 9, 0)
        detail = rng.choice(("http_502", "http_503")) if outcome is Outcome.SITE_ERROR else None
        spec = Spec(at, outcome, slots, earliest, detail=detail, published_next=announced)
        obs = observation(target, spec, simulated=target == "sql-b" and rng.random() < 0.3)
        built.append(obs.model_copy(update={"env": _env(obs, target, at, rng)}))
    return built


def _env(obs: Observation, target: str, at: datetime, rng: random.Random) -> Env:
    engine = Engine.REQUEST if target == "sql-c" and rng.random() < 0.7 else Engine.BROWSER
    policy: Screenshots | None = Screenshots.ON_CHANGE if at < POLICY_CHANGE else Screenshots.EVERY
    if target == "sql-a" and at < START + timedelta(days=4):
        policy = None  # recorded before the policy was
    return obs.env.model_copy(update={"engine": engine, "screenshots": policy})


@pytest.fixture
def seeded(store: Store) -> Store:
    rng = random.Random(7)
    for target in TARGETS:
        store.append_many(_observations(target, rng))
    return store


def reference(store: Store, target: str, period: Period) -> SeriesStats:
    """The statistics from their definitions, one observation at a time."""
    stats = SeriesStats(target, period)
    every = list(store.iter_observations(target, period.since, period.until))
    for obs in every:
        mode = CaptureMode(obs.env.screenshots, obs.env.engine)
        stats.capture_modes.setdefault(mode, Span()).add(Span(1, obs.started_at, obs.started_at))
    for obs in every:
        stats.outcomes[obs.outcome] += 1
        stats.details[(obs.outcome, obs.detail)] += 1
        stats.simulated += obs.env.simulated
        if obs.published_next is not None:
            stats.announced[obs.published_next.replace(tzinfo=PARIS)] += 1
        if obs.outcome.counts_in_rates:
            _count_attempt(stats, obs)
    attempts = [o for o in every if o.outcome.counts_in_rates]
    if attempts:
        stats.first_attempt = attempts[0].started_at
        stats.last_attempt = attempts[-1].started_at
    _runs(stats, attempts)
    return stats


def _count_attempt(stats: SeriesStats, obs: Observation) -> None:
    hour = obs.started_at.replace(minute=0, second=0, microsecond=0).astimezone(PARIS)
    slot = obs.outcome is Outcome.AVAILABLE
    day = stats.days.setdefault(hour.date(), DayCount())
    day.attempts += 1
    day.slots += slot
    stats.heat[(hour.weekday(), hour.hour, slot)] += 1
    if obs.outcome is Outcome.NO_SLOT:
        stats.buckets[5] += 1
    if slot and obs.earliest_slot is not None:
        earliest = obs.earliest_slot.replace(minute=0, second=0, microsecond=0, tzinfo=PARIS)
        stats.lead_hours[max(0, round((earliest - hour).total_seconds() / 3600))] += 1
        if earliest < add_months(hour, 1):
            bucket = 1 if (obs.slots or 0) >= 2 else 2
        else:
            bucket = 3 if earliest < add_months(hour, 2) else 4
        stats.buckets[bucket] += 1


def _runs(stats: SeriesStats, attempts: Sequence[Observation]) -> None:
    failures: list[Observation] = []
    for obs in [*attempts, None]:
        if obs is not None and obs.outcome is not Outcome.AVAILABLE:
            failures.append(obs)
            continue
        if failures:
            run = Run(failures[0].started_at, failures[-1].started_at, len(failures))
            if stats.longest_run is None or run.duration > stats.longest_run.duration:
                stats.longest_run = run
            if obs is not None:
                local = obs.started_at.astimezone(PARIS)
                stats.releases[(local.weekday(), local.hour)] += 1
                stats.last_release = obs.started_at
        failures = []


FIELDS = (
    "outcomes", "details", "simulated", "days", "heat", "first_attempt", "last_attempt",
    "longest_run", "releases", "last_release", "lead_hours", "buckets", "announced",
    "capture_modes",
)  # fmt: skip


def test_sql_statistics_equal_a_count_of_the_observations(seeded: Store) -> None:
    series = compute(seeded, list(TARGETS), PERIOD)
    for target in TARGETS:
        expected = reference(seeded, target, PERIOD)
        got = series[target]
        assert expected.attempts > 100 and expected.excluded > 10  # a non-trivial store
        for name in FIELDS:
            assert getattr(got, name) == getattr(expected, name), (target, name)
    total = compute_total(series, PERIOD)
    assert total.simulated > 0 and total.announced and total.longest_run is not None
    assert total.releases and total.lead_hours and total.buckets[4]
    assert {m.screenshots for m in total.capture_modes} == {
        None,
        Screenshots.ON_CHANGE,
        Screenshots.EVERY,
    }
    assert {m.engine for m in total.capture_modes} == {Engine.BROWSER, Engine.REQUEST}


def test_probe_errors_and_unknown_pages_stay_out_of_every_rate(seeded: Store) -> None:
    s = compute(seeded, ["sql-a"], PERIOD)["sql-a"]
    excluded = s.outcomes[Outcome.PROBE_ERROR] + s.outcomes[Outcome.UNRECOGNIZED]
    assert excluded == s.excluded > 0
    assert s.attempts == s.total - excluded
    assert s.failure_rate.n == s.opening_rate.n == s.uptime.n == s.attempts
    assert sum(d.attempts for d in s.days.values()) == s.attempts
    assert sum(s.heat.values()) == s.attempts


def test_previous_period_line_reads_the_index_only(seeded: Store) -> None:
    full = compute(seeded, list(TARGETS), PERIOD)
    light = compute(seeded, list(TARGETS), PERIOD, full=False)
    for target in TARGETS:
        a, b = full[target], light[target]
        assert (a.outcomes, a.days, a.heat) == (b.outcomes, b.days, b.heat)
        assert (a.first_attempt, a.last_attempt) == (b.first_attempt, b.last_attempt)
        assert (a.no_slot_rate, a.failure_rate) == (b.no_slot_rate, b.failure_rate)
        assert not b.details and not b.capture_modes and b.longest_run is None


def test_observed_window_counts_every_observation_of_the_period(seeded: Store) -> None:
    """`watchdog report` states the observed window from one count over the index: the
    count, first and last of every observation in the period, excluded outcomes included,
    as one row at a time gives them; nothing for a period or a target without any."""
    every = [o for t in TARGETS for o in seeded.iter_observations(t, PERIOD.since, PERIOD.until)]
    assert any(not o.outcome.counts_in_rates for o in every)
    starts = [o.started_at for o in every]
    assert observed_window(seeded, list(TARGETS), PERIOD) == (len(every), min(starts), max(starts))
    one = [o.started_at for o in seeded.iter_observations("sql-b", PERIOD.since, PERIOD.until)]
    assert observed_window(seeded, ["sql-b"], PERIOD) == (len(one), min(one), max(one))
    before = Period.from_dates(date(2026, 9, 1), date(2026, 9, 30))
    assert observed_window(seeded, list(TARGETS), before) is None
    assert observed_window(seeded, ["nobody"], PERIOD) is None
    assert observed_window(seeded, [], PERIOD) is None
