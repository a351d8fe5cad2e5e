"""The SQL aggregations equal a plain Python count over the observations themselves.

A seeded store of several hundred observations (eight outcomes, probe errors and unknown
pages included, simulated and announced values, two evidence policies and both engines,
the end of summer time inside the period) is read both ways: `compute` (SQL) and a reference
written from the definitions of docs/design.md §2 over `iter_observations` (one pydantic object per
row). Every figure of SeriesStats must agree, on SQLite and PostgreSQL: read from the counts kept
at ingest (schema version 5) and the rows at a period's edges, after appends one by one and in
batches, after retention, and after the upgrade from version 4.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from docfix import downgrade_to_v4
from reportdata import Spec, observation

from watchdog.config.schema import RetentionClass
from watchdog.domain.clock import PARIS
from watchdog.domain.models import Engine, Env, Observation, Outcome, Screenshots
from watchdog.stats import Period, compute, compute_total, queries
from watchdog.stats.calendar import add_months
from watchdog.stats.compute import observed_window
from watchdog.stats.series import CaptureMode, DayCount, Run, SeriesStats, Span
from watchdog.store import Store, retention, rollup
from watchdog.store.schema import observation_counts, observations
from watchdog.store.verify import verify_store

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
    solved = "person" if target != "sql-c" and rng.random() < 0.1 else None  # assisted reads
    return obs.env.model_copy(
        update={"engine": engine, "screenshots": policy, "captcha_solved_by": solved}
    )


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
        stats.assisted += obs.env.captcha_solved_by == "person"
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
    "capture_modes", "assisted",
)  # fmt: skip


def _assert_equal_to_reference(store: Store, period: Period) -> dict[str, SeriesStats]:
    series = compute(store, list(TARGETS), period)
    for target in TARGETS:
        expected = reference(store, target, period)
        got = series[target]
        assert expected.attempts > 40 and expected.excluded > 5  # a non-trivial store
        for name in FIELDS:
            assert getattr(got, name) == getattr(expected, name), (target, name)
    return series


def test_sql_statistics_equal_a_count_of_the_observations(seeded: Store) -> None:
    series = _assert_equal_to_reference(seeded, PERIOD)
    assert sum(s.attempts for s in series.values()) > 300
    total = compute_total(series, PERIOD)
    assert total.simulated > 0 and total.announced and total.longest_run is not None
    assert total.assisted > 0 and series["sql-c"].assisted == 0
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


# -- the counts kept at ingest (schema version 5, watchdog/store/rollup.py) --------------


def test_a_period_cut_inside_hours_reads_its_edges_from_the_rows(seeded: Store) -> None:
    """Whole hours come from the counts, the partial hours at either edge from the rows: the
    figures are those of the observations one by one all the same."""
    cut = Period(
        datetime(2026, 10, 14, 7, 17, 3, tzinfo=UTC), datetime(2026, 11, 5, 15, 42, tzinfo=UTC)
    )
    hours, edges = queries.split(cut)
    assert hours == ("2026-10-14T08", "2026-11-05T15") and len(edges) == 2
    _assert_equal_to_reference(seeded, cut)
    inside = Period(
        datetime(2026, 10, 14, 7, 5, tzinfo=UTC), datetime(2026, 10, 14, 7, 55, tzinfo=UTC)
    )
    assert queries.split(inside) == (None, [inside])
    light = compute(seeded, list(TARGETS), cut, full=False)
    full = compute(seeded, list(TARGETS), cut)
    assert all(light[t].outcomes == full[t].outcomes for t in TARGETS)


def _counts_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        compared, problems = rollup.check(conn)
    assert compared > 100 and problems == []


def test_the_counts_follow_appends_one_by_one_and_in_batches(store: Store) -> None:
    """Single appends and batches add to the same counts (UPSERT), first and last kept."""
    rng = random.Random(11)
    for target in TARGETS:
        built = _observations(target, rng)
        store.append_many(built[:100])
        for obs in built[100:140]:
            store.append(obs)
        store.append_many(built[140:])
    _counts_agree(store)
    _assert_equal_to_reference(store, PERIOD)


def test_the_counts_follow_retention(seeded: Store) -> None:
    """A prune deletes rows and counts their hours again in its transaction: the figures of
    what is left equal a count of what is left, and verify finds the counts right."""
    now = datetime(2026, 10, 30, 12, 17, tzinfo=UTC)  # the cut falls inside an hour
    classes = {t: RetentionClass(timedelta(days=10)) for t in TARGETS}
    before = seeded.count()
    done = retention.apply(seeded, retention.plan(seeded, classes, now, float("inf")), now)
    assert done.summaries and seeded.count() < before
    _counts_agree(seeded)
    _assert_equal_to_reference(seeded, Period.from_dates(date(2026, 10, 19), date(2026, 11, 8)))
    report = verify_store(seeded)
    assert report.ok and report.counts > 100, report.render()


@pytest.mark.parametrize("batch", [None, 7], ids=["one-page", "pages-of-7"])
def test_the_upgrade_to_version_5_counts_the_rows_and_copies_the_mark(
    data_dir: Path,
    database_url: str | None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    batch: int | None,
) -> None:
    """A version 4 store (no `captcha_solved_by`, no counts; documents compressed and text)
    is upgraded on open: the mark copied from every document, read a page at a time (a
    store's documents do not fit in memory), the counts made from the rows, with progress;
    the figures are the rows' one by one, and verify finds it all."""
    if batch is not None:
        monkeypatch.setattr(rollup, "MIGRATION_BATCH", batch)
    rng = random.Random(7)
    with Store.open(data_dir, database_url) as store:
        for target in TARGETS:
            store.append_many(_observations(target, rng))
        downgrade_to_v4(store)
    with caplog.at_level(logging.INFO, logger=rollup.__name__):
        store = Store.open(data_dir, database_url)
    with store:
        marked = store.scan(
            sa.select(sa.func.count()).where(observations.c.captcha_solved_by == "person")
        )
        assert (
            next(marked)[0]
            == sum(
                o.env.captcha_solved_by == "person"
                for t in TARGETS
                for o in store.iter_observations(t)
            )
            > 0
        )
        _counts_agree(store)
        series = _assert_equal_to_reference(store, PERIOD)
        assert sum(s.assisted for s in series.values()) > 0
        report = verify_store(store)
        assert report.ok, report.render()
    said = [r.getMessage() for r in caplog.records]
    assert any("document(s) read" in m for m in said)
    assert "schema upgrade to version 5: 3 of 3 chain(s) counted" in said


def test_verify_names_a_count_that_disagrees_with_its_rows(seeded: Store) -> None:
    """A report is evidence: a count edited alone is named, with its target and hour."""
    c = observation_counts.c
    with seeded.engine.begin() as conn:
        row = conn.execute(
            sa.select(observation_counts).where(c.target == "sql-b").order_by(c.hour).limit(1)
        ).one()
        conn.execute(
            sa.update(observation_counts)
            .where(*[c[k] == row._mapping[k] for k in rollup.KEYS])
            .values(n=row.n + 1)
        )
    report = verify_store(seeded)
    assert not report.ok and len(report.count_problems) == 1
    assert f"the counts of sql-b at hour {row.hour}" in report.render()
    assert f"say {row.n + 1} observation(s)" in report.render()
