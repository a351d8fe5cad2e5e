"""What a journey sees: the rule drawn when it starts, and the slots on offer at a given time.

All dates are Europe/Paris wall time, computed from the injected clock so tests are exact.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from watchdog.domain.clock import PARIS
from watchdog.simulator.scenario import DEFAULT_STATE, Fault, Publish, Rule, State, Target

# Start times offered in a day, in order: the earliest slot is always at 09:00.
SLOT_TIMES = (
    time(9, 0),
    time(9, 30),
    time(10, 0),
    time(10, 30),
    time(11, 0),
    time(11, 30),
    time(14, 0),
    time(14, 30),
)


def to_paris(moment: datetime) -> datetime:
    """Europe/Paris wall time; a naive datetime is taken as already local."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=PARIS)
    return moment.astimezone(PARIS)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Draw:
    """The rule chosen when a journey starts; kept for the whole session."""

    rule: Rule | None
    state: State
    fault: Fault | None

    @property
    def variant(self) -> str | None:
        return self.rule.variant if self.rule else None


def draw(target: Target, now: datetime, rng: random.Random) -> Draw:
    """First rule whose time window contains `now` and whose probability draw succeeds."""
    for rule in target.behaviour:
        if not _in_window(rule, now):
            continue
        if rule.probability < 1.0 and rng.random() >= rule.probability:
            continue
        state = rule.state or (State.SLOTS if rule.publish else DEFAULT_STATE[target.platform])
        return Draw(rule, state, rule.fault)
    return Draw(None, DEFAULT_STATE[target.platform], None)


def _in_window(rule: Rule, now: datetime) -> bool:
    if rule.weekdays is not None and now.weekday() not in rule.weekdays:
        return False
    if rule.hours is None:
        return True
    minute = now.hour * 60 + now.minute
    return any(lo <= minute < hi for lo, hi in rule.hours)


@dataclass(frozen=True)
class Availability:
    """Slots on offer right now, with the publication instants around `now` when published."""

    state: State
    slots: tuple[datetime, ...] = ()
    last_publication: datetime | None = None
    next_publication: datetime | None = None
    first_slot_in_days: int = 0

    @property
    def earliest(self) -> datetime | None:
        return self.slots[0] if self.slots else None

    def week_of(self, publication: datetime) -> date:
        """Monday of the week a publication releases."""
        return monday_of(publication.date() + timedelta(days=self.first_slot_in_days))


def availability(journey_draw: Draw, now: datetime) -> Availability:
    """What the slot page shows at `now` for a journey's draw."""
    rule = journey_draw.rule
    if rule is not None and rule.publish is not None:
        return published(rule.publish, now)
    if journey_draw.state is State.SLOTS and rule is not None:
        slots = make_slots(now.date(), rule.slots, rule.first_slot_in_days)
        return Availability(State.SLOTS, slots, first_slot_in_days=rule.first_slot_in_days)
    return Availability(journey_draw.state)


def make_slots(today: date, count: int, first_slot_in_days: int) -> tuple[datetime, ...]:
    """`count` slots from today + N days at 09:00, spread over the rest of that week."""
    first = today + timedelta(days=first_slot_in_days)
    days_left = 7 - first.weekday()
    per_day = min(len(SLOT_TIMES), math.ceil(count / days_left))
    slots: list[datetime] = []
    day = first
    while len(slots) < count:
        for start in SLOT_TIMES[: min(per_day, count - len(slots))]:
            slots.append(datetime.combine(day, start, tzinfo=PARIS))
        day += timedelta(days=1)
    return tuple(slots)


def published(publish: Publish, now: datetime) -> Availability:
    """Slots within `lifetime` after the last publication instant (the `taken` share within
    `taken.after`), else none."""
    last, nxt = publication_instants(publish, now)
    days = publish.first_slot_in_days
    if last is not None:
        age = (now - last).total_seconds()
        slots = tuple(s for s, life in released(publish, last) if age < life)
        if slots:
            return Availability(State.SLOTS, slots, last, nxt, days)
    return Availability(State.NO_SLOT, (), last, nxt, days)


def released(publish: Publish, instant: datetime) -> list[tuple[datetime, float]]:
    """Each slot a publication at `instant` releases, with its seconds on the page."""
    slots = make_slots(instant.date(), publish.slots, publish.first_slot_in_days)
    quick = round(publish.taken.share * len(slots)) if publish.taken is not None else 0
    return [
        (slot, publish.taken.after if publish.taken is not None and i < quick else publish.lifetime)
        for i, slot in enumerate(slots)
    ]


def publication_instants(publish: Publish, now: datetime) -> tuple[datetime | None, datetime]:
    """The last publication at or before `now` and the next one after it."""
    candidates = [
        _at(now.date() + timedelta(days=d), m) for d in (-1, 0, 1) for m in publish.at_minutes
    ]
    if publish.every:
        midnight = datetime.combine(now.date(), time(0), tzinfo=PARIS)
        since = (now - midnight).total_seconds() - publish.offset
        k = math.floor(since / publish.every)
        base = midnight + timedelta(seconds=publish.offset)
        candidates += [base + timedelta(seconds=publish.every * (k + i)) for i in (0, 1)]
    past = [c for c in candidates if c <= now]
    future = [c for c in candidates if c > now]
    return (max(past) if past else None), min(future)


def _at(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=PARIS)
