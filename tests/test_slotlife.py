"""The life of a slot from readings (watchdog/stats/slotlife.py): episodes, their bounds, and
what is not a reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watchdog.domain.models import SlotSeen
from watchdog.stats.slotlife import Reading, track

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
A = SlotSeen(key="1", day="2026-12-21", time="09:00")
B = SlotSeen(day="2026-12-22", time="10:30")  # no site key: known by day and time


def at(minute: int, slots: tuple[SlotSeen, ...] | None, announced: int | None = None) -> Reading:
    start = T0 + timedelta(minutes=minute)
    upcoming = T0 + timedelta(minutes=announced) if announced is not None else None
    return Reading(start, start + timedelta(seconds=20), slots, upcoming)


def test_bounds_stretch_over_observations_that_read_no_slot() -> None:
    episodes, starts = track(
        [at(0, (), announced=5), at(4, None), at(6, (A,)), at(8, (A,)), at(10, None), at(12, ())]
    )
    assert len(starts) == 4  # the two without a slot list are not readings
    [episode] = episodes
    assert episode.appeared_after == T0  # the captcha at 4 min says nothing
    assert episode.first_seen == T0 + timedelta(minutes=6, seconds=20)
    assert episode.last_seen == T0 + timedelta(minutes=8)
    assert episode.gone_by == T0 + timedelta(minutes=12, seconds=20)
    assert episode.lower_s == 100 and episode.upper_s == 740
    assert episode.publication == T0 + timedelta(minutes=5) and episode.readings == 2


def test_a_slot_shown_again_is_a_new_episode_and_edges_have_no_upper_bound() -> None:
    episodes, _ = track([at(0, (A, B)), at(2, (B,)), at(4, (A, B)), at(6, (A,))])
    by_key = sorted((e.identity, e.first_seen.minute, e.vanished, e.upper_s) for e in episodes)
    assert by_key == [
        ("1", 0, True, None),  # on the first reading: it may have been there long before
        ("1", 4, False, None),  # shown again, then still there at the last reading
        ("2026-12-22 10:30", 0, True, None),
    ]
    assert [e.publication for e in episodes] == [None, None, None]  # nothing was announced
