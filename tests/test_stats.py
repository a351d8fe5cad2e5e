"""Statistics against hand-computed fixtures (docs/design.md §2, Wilson 95 % intervals)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from reportdata import Spec, fill, paris

from watchdog.domain.models import Outcome
from watchdog.stats import Period, Proportion, compute, compute_total, difference, iso_week, wilson
from watchdog.stats.calendar import add_months
from watchdog.stats.intervals import weighted_quantile
from watchdog.store import Store

A = Outcome.AVAILABLE
N = Outcome.NO_SLOT
TWO_WEEKS = Period.from_dates(date(2026, 11, 2), date(2026, 11, 15))

# Two ISO weeks (45 and 46 of 2026), every attempt at a Paris wall time:
SPECS = [
    Spec(paris(2026, 11, 2, 9), N),  # Mon
    Spec(paris(2026, 11, 2, 10), N),
    Spec(paris(2026, 11, 3, 9), A, slots=3, earliest=datetime(2026, 11, 20, 14)),  # 413 h
    Spec(paris(2026, 11, 4, 9), Outcome.SITE_ERROR, detail="http_502"),
    Spec(paris(2026, 11, 5, 9), N, published_next=datetime(2026, 11, 9, 9)),  # announced
    Spec(paris(2026, 11, 9, 9), A, slots=1, earliest=datetime(2027, 1, 15, 9)),  # 67 days
    Spec(paris(2026, 11, 10, 9), Outcome.PROBE_ERROR, detail="planning_required"),
    Spec(paris(2026, 11, 11, 9), Outcome.UNRECOGNIZED),
    Spec(paris(2026, 11, 12, 9), Outcome.CAPTCHA),
    Spec(paris(2026, 11, 15, 18), N),  # Sun
    Spec(paris(2026, 11, 16, 9), A, slots=9, earliest=datetime(2026, 11, 17, 9)),  # after
    Spec(paris(2026, 11, 1, 23, 59), N),  # before the period
]


@pytest.fixture
def filled(store: Store) -> Store:
    fill(store, "t-a", SPECS)
    fill(store, "t-b", [Spec(paris(2026, 11, 6, 14), A, slots=2, earliest=None)])
    return store


def test_wilson_matches_published_values() -> None:
    assert wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(4, 6) == pytest.approx((0.3000, 0.9032), abs=1e-4)
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_difference_matches_newcombe_method_10() -> None:
    # Newcombe (1998), example (a): 56/70 − 48/80 = 0.200, 95 % CI 0.0524 to 0.3339.
    d = difference(Proportion(56, 70), Proportion(48, 80))
    assert d is not None
    assert (d.value, d.low, d.high) == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-4)
    assert difference(Proportion(1, 2), Proportion(0, 0)) is None


def test_weighted_quantile_is_nearest_rank() -> None:
    pairs = [(4.0, 1), (1.0, 1), (3.0, 1), (2.0, 1)]
    assert weighted_quantile(pairs, 0.5) == 2.0
    assert weighted_quantile(pairs, 0.75) == 3.0
    assert weighted_quantile([(10.0, 9), (99.0, 1)], 0.9) == 10.0
    assert weighted_quantile([(10.0, 9), (99.0, 1)], 1.0) == 99.0
    assert weighted_quantile([], 0.5) is None


def test_counts_and_rates(filled: Store) -> None:
    s = compute(filled, ["t-a"], TWO_WEEKS)["t-a"]
    assert (s.attempts, s.excluded, s.total) == (8, 2, 10)
    assert (s.no_slot_rate.k, s.no_slot_rate.n) == (4, 6)
    assert (s.failure_rate.k, s.failure_rate.n) == (6, 8)
    assert (s.opening_rate.k, s.opening_rate.n) == (2, 8)
    assert s.technical_error_rate == Proportion(1, 8)
    assert s.share(Outcome.CAPTCHA) == Proportion(1, 8)
    assert s.uptime == Proportion(7, 8)
    assert s.details[(Outcome.SITE_ERROR, "http_502")] == 1
    assert s.details[(Outcome.PROBE_ERROR, "planning_required")] == 1
    assert s.simulated == 0


def test_persistence_days_weeks_and_longest_run(filled: Store) -> None:
    s = compute(filled, ["t-a"], TWO_WEEKS)["t-a"]
    # Counted days: 2, 3, 4, 5, 9, 12, 15 Nov (10 and 11 hold only excluded outcomes).
    assert s.days_observed == 7
    assert s.days_with_failure == s.days_without_slot == 5
    weeks = s.weeks()
    assert {w: (c.attempts, c.slots) for w, c in weeks.items()} == {
        (2026, 45): (5, 1),
        (2026, 46): (3, 1),
    }
    assert (s.weeks_with_failure, s.weeks_without_slot) == (2, 0)
    assert s.first_attempt == paris(2026, 11, 2, 9)
    assert s.last_attempt == paris(2026, 11, 15, 18)
    run = s.longest_run
    assert run is not None
    assert (run.start, run.end, run.attempts) == (
        paris(2026, 11, 12, 9),
        paris(2026, 11, 15, 18),
        2,
    )
    assert run.duration == timedelta(days=3, hours=9)


def test_releases_lead_times_and_cimade_buckets(filled: Store) -> None:
    s = compute(filled, ["t-a"], TWO_WEEKS)["t-a"]
    # Slots appeared after failures on Tuesday 3 and Monday 9 November at 9 h.
    assert s.releases == {(1, 9): 1, (0, 9): 1}
    assert s.last_release == paris(2026, 11, 9, 9)
    assert s.lead_hours == {413: 1, 67 * 24: 1}
    assert s.lead_days(0.5) == pytest.approx(413 / 24)
    assert s.lead_max_days == 67
    assert s.lead_beyond(30) == Proportion(1, 2)
    # 3 slots within a month → bucket 1; first date beyond two months → 4; no_slot → 5.
    assert dict(s.buckets) == {1: 1, 4: 1, 5: 4}
    assert s.bucket_share(5) == Proportion(4, 6)
    assert s.announced == {paris(2026, 11, 9, 9): 1}  # read from the JSON on both backends


def test_heatmap_is_in_paris_time(filled: Store) -> None:
    s = compute(filled, ["t-a"], TWO_WEEKS)["t-a"]
    assert s.heat_cell(0, 9) == Proportion(1, 2)  # Mondays 9 h: 2 Nov no slot, 9 Nov slot
    assert s.heat_cell(0, 10) == Proportion(0, 1)
    assert s.heat_cell(1, 9) == Proportion(1, 1)
    assert s.heat_cell(6, 18) == Proportion(0, 1)
    assert s.heat_cell(2, 3) == Proportion(0, 0)


def test_total_merges_targets_and_empty_target_reads_no_data(filled: Store) -> None:
    series = compute(filled, ["t-a", "t-b", "t-none"], TWO_WEEKS)
    assert series["t-b"].attempts == 1 and series["t-b"].lead_count == 0
    assert series["t-none"].attempts == 0
    assert series["t-none"].no_slot_rate.value is None
    total = compute_total(series, TWO_WEEKS)
    assert (total.attempts, total.no_slot_rate) == (9, Proportion(4, 7))
    assert total.days_observed == 8  # Friday 6 November adds a day
    assert total.longest_run == series["t-a"].longest_run


def test_previous_period_is_the_same_length_before() -> None:
    previous = TWO_WEEKS.previous()
    assert previous.until == TWO_WEEKS.since
    assert previous.first_day == date(2026, 10, 19)
    assert previous.days == TWO_WEEKS.days == 14


def test_iso_weeks_around_year_end() -> None:
    assert iso_week(date(2026, 12, 28)) == (2026, 53)
    assert iso_week(date(2027, 1, 3)) == (2026, 53)
    assert iso_week(date(2027, 1, 4)) == (2027, 1)
    assert iso_week(date(2025, 12, 29)) == (2026, 1)  # a Monday in December, week 1 of 2026
    assert iso_week(date(2021, 1, 3)) == (2020, 53)


def test_weeks_follow_the_paris_calendar_across_the_year_end(store: Store) -> None:
    # 28 Dec 2026 00:30 in Paris is still Sunday 27 Dec in UTC (week 52 there, 53 here).
    fill(
        store,
        "t-y",
        [
            Spec(paris(2026, 12, 27, 23, 30), N),
            Spec(paris(2026, 12, 28, 0, 30), N),
            Spec(paris(2027, 1, 3, 23, 30), N),
            Spec(paris(2027, 1, 4, 0, 30), A, slots=1, earliest=datetime(2027, 1, 5, 9)),
        ],
    )
    period = Period.from_dates(date(2026, 12, 21), date(2027, 1, 10))
    s = compute(store, ["t-y"], period)["t-y"]
    weeks = {w: (c.attempts, c.slots) for w, c in s.weeks().items()}
    assert weeks == {(2026, 52): (1, 0), (2026, 53): (2, 0), (2027, 1): (1, 1)}
    assert (s.weeks_with_failure, s.weeks_without_slot) == (2, 2)
    assert s.heat_cell(0, 0) == Proportion(1, 2)  # Mondays 0 h, Paris time


def test_daylight_saving_hour_is_counted_twice_at_the_same_wall_time(store: Store) -> None:
    # On 25 October 2026 Paris falls back: 00:30 and 01:30 UTC are both 02:30 in Paris.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    fill(store, "t-d", [Spec(first, N), Spec(second, N)])
    s = compute(store, ["t-d"], Period.from_dates(date(2026, 10, 25), date(2026, 10, 25)))["t-d"]
    assert s.heat_cell(6, 2) == Proportion(0, 2)
    assert s.days_observed == 1


def test_add_months_clamps_to_the_end_of_month() -> None:
    assert add_months(datetime(2027, 1, 31, 9), 1) == datetime(2027, 2, 28, 9)
    assert add_months(datetime(2026, 11, 30), 2) == datetime(2027, 1, 30)
    assert add_months(datetime(2026, 12, 15), 1) == datetime(2027, 1, 15)
