"""The visible life of a slot (issue 19): how long each slot a page offered stayed on it.

Each observation that read the page's slots one by one (`slots_seen`; a no-slot page reads
none) is a *reading*. A slot, known by its identity (`SlotSeen.identity`: the site's key, else
day and time), is *seen* from the first reading that shows it to the last one in a row; the
first reading after that which does not show it closes the *episode* (a slot shown again later
opens another one). Readings only bound what happened between them:

- it appeared after the start of the reading before the first that showed it (`appeared_after`)
  and was on the page by the end of that first one (`first_seen`);
- it was still there at the start of the last reading that showed it (`last_seen`) and gone by
  the end of the reading after (`gone_by`).

So its visible lifetime is at least `last_seen − first_seen` (if it stayed between two readings
that both showed it) and at most `gone_by − appeared_after`; no exact time is ever claimed. A
slot seen in the very first reading has no upper bound (it may have been there long before), nor
has one still on the page at the last reading. Observations that read no slot list (a captcha,
an error, a later week shown) are not readings: bounds stretch over them.

A slot is counted as *after a publication* when the instant the site announced (« Prochaine mise
en ligne… », `published_next`, read in an earlier observation) lies between `appeared_after`
and `first_seen`. Only what the page showed is measured: the week the site opens on.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from watchdog.domain.models import Observation, Outcome, SlotSeen
from watchdog.stats import queries
from watchdog.stats.calendar import Period
from watchdog.store.db import Store

ANNOUNCED_KEPT = 32


@dataclass(frozen=True)
class Reading:
    """One observation as the lifetimes see it: when, which slots (None: not a reading) and
    the publication instant it announced."""

    started: datetime
    finished: datetime
    slots: tuple[SlotSeen, ...] | None
    published_next: datetime | None = None


@dataclass(frozen=True)
class Episode:
    """One slot's stay on the page, bounded by the readings around it."""

    identity: str
    slot: SlotSeen
    appeared_after: datetime | None  # None: it was on the first reading
    first_seen: datetime
    last_seen: datetime
    gone_by: datetime | None  # None: still on the page at the last reading
    readings: int  # how many readings showed it
    publication: datetime | None = None  # the announced instant it followed

    @property
    def lower_s(self) -> float:
        return max(0.0, (self.last_seen - self.first_seen).total_seconds())

    @property
    def upper_s(self) -> float | None:
        if self.appeared_after is None or self.gone_by is None:
            return None
        return (self.gone_by - self.appeared_after).total_seconds()

    @property
    def vanished(self) -> bool:
        return self.gone_by is not None


@dataclass
class _Open:
    slot: SlotSeen
    appeared_after: datetime | None
    first_seen: datetime
    last_seen: datetime
    readings: int
    publication: datetime | None


@dataclass
class SlotTracker:
    """Episodes of one target's slots, fed reading by reading in time order."""

    open: dict[str, _Open] = field(default_factory=dict)
    _previous: datetime | None = None  # start of the last reading
    # The latest instants announced (a daemon's tracker lives for months: bounded).
    _announced: deque[datetime] = field(default_factory=lambda: deque(maxlen=ANNOUNCED_KEPT))

    def feed(self, reading: Reading) -> list[Episode]:
        """Take the next observation; return the episodes it closes (slots gone from it)."""
        if reading.slots is None:
            self._announce(reading.published_next)
            return []
        shown = {s.identity: s for s in reading.slots}
        closed = [
            self._close(identity, state, reading.finished)
            for identity, state in self.open.items()
            if identity not in shown
        ]
        for episode in closed:
            del self.open[episode.identity]
        for identity, slot in shown.items():
            state = self.open.get(identity)
            if state is None:
                self.open[identity] = _Open(
                    slot,
                    self._previous,
                    reading.finished,
                    reading.started,
                    1,
                    self._publication(self._previous, reading.finished),
                )
            else:
                state.last_seen, state.readings = reading.started, state.readings + 1
        self._previous = reading.started
        self._announce(reading.published_next)
        return closed

    def still_open(self) -> list[Episode]:
        """Slots on the page at the last reading (no upper bound yet)."""
        return [self._close(identity, state, None) for identity, state in self.open.items()]

    def _announce(self, instant: datetime | None) -> None:
        if instant is not None and instant not in self._announced:
            self._announced.append(instant)

    def _publication(self, after: datetime | None, by: datetime) -> datetime | None:
        if after is None:
            return None
        return next((t for t in reversed(self._announced) if after <= t <= by), None)

    @staticmethod
    def _close(identity: str, state: _Open, gone_by: datetime | None) -> Episode:
        return Episode(
            identity,
            state.slot,
            state.appeared_after,
            state.first_seen,
            state.last_seen,
            gone_by,
            state.readings,
            state.publication,
        )


@dataclass(frozen=True)
class Lifetimes:
    """A target's slot episodes over a period, and the readings they rest on."""

    target: str
    episodes: list[Episode]  # vanished and still shown, in order of first sight
    reading_starts: list[datetime]  # every reading, in time order

    @property
    def readings(self) -> int:
        return len(self.reading_starts)

    @property
    def publications(self) -> list[Publication]:
        """The slots first seen after each announced instant, oldest first."""
        batches: dict[datetime, list[Episode]] = {}
        for episode in self.episodes:
            if episode.publication is not None:
                batches.setdefault(episode.publication, []).append(episode)
        return [Publication(t, eps, self._readings_over(eps)) for t, eps in sorted(batches.items())]

    def _readings_over(self, episodes: list[Episode]) -> int:
        """Readings from the one before the first sighting to the one that saw the last go."""
        first = min(e.appeared_after or e.first_seen for e in episodes)
        ends = [e.gone_by or e.last_seen for e in episodes]
        last = max(ends)
        return sum(1 for t in self.reading_starts if first <= t <= last)


@dataclass(frozen=True)
class Publication:
    """The slots first seen just after one announced publication instant."""

    instant: datetime
    episodes: list[Episode]
    readings: int  # the observations its bounds rest on

    @property
    def count(self) -> int:
        return len(self.episodes)

    @property
    def gone(self) -> int:
        return sum(1 for e in self.episodes if e.vanished)

    @property
    def gone_within_s(self) -> float | None:
        """The slots gone were all gone less than this many seconds after the announced
        instant (None: none gone yet)."""
        ends = [e.gone_by for e in self.episodes if e.gone_by is not None]
        return max((end - self.instant).total_seconds() for end in ends) if ends else None

    @property
    def gone_within(self) -> timedelta | None:
        """`gone_within_s` in whole seconds, rounded up (a « less than » stays true)."""
        seconds = self.gone_within_s
        return None if seconds is None else timedelta(seconds=math.ceil(seconds))


def track(readings: Iterable[Reading]) -> tuple[list[Episode], list[datetime]]:
    """Episodes of one target's readings (time order), and the starts of the readings."""
    tracker = SlotTracker()
    episodes: list[Episode] = []
    starts: list[datetime] = []
    for reading in readings:
        if reading.slots is not None:
            starts.append(reading.started)
        episodes.extend(tracker.feed(reading))
    episodes.extend(tracker.still_open())
    episodes.sort(key=lambda e: (e.first_seen, e.identity))
    return episodes, starts


def lifetimes(store: Store, targets: Sequence[str], period: Period) -> dict[str, Lifetimes]:
    """Slot episodes per target: one pass over the readings of the period (documents are read
    only for the observations that offered slots)."""
    per_target: dict[str, list[Reading]] = {t: [] for t in targets}
    if targets:
        for row in store.scan(queries.slot_readings(targets, period)):
            per_target[row.target].append(_reading(row))
    result = {}
    for target, readings in per_target.items():
        episodes, starts = track(readings)
        result[target] = Lifetimes(target, episodes, starts)
    return result


def reading_of(obs: Observation) -> Reading:
    """An observation as a reading: the slots it read (a no-slot page offers none; an
    observation that read no list, such as a captcha, is not a reading)."""
    slots: tuple[SlotSeen, ...] | None = None
    if obs.slots_seen is not None:
        slots = tuple(obs.slots_seen)
    elif obs.outcome is Outcome.NO_SLOT:
        slots = ()
    return Reading(obs.started_at, obs.finished_at, slots, obs.published_next)


def _reading(row: Any) -> Reading:
    started = datetime.fromisoformat(row.started_at)
    finished = datetime.fromisoformat(row.finished_at)
    announced = row.published_next
    upcoming = datetime.fromisoformat(announced) if announced else None
    slots: tuple[SlotSeen, ...] | None = None
    if row.outcome == queries.NO_SLOT:
        slots = ()
    elif row.doc is not None:
        listed = json.loads(row.doc).get("slots_seen")
        if isinstance(listed, list):
            slots = tuple(SlotSeen.model_validate(item) for item in listed)
    return Reading(started, finished, slots, upcoming)
