"""Europe/Paris calendar arithmetic for the statistics: local days, ISO weeks, months.

The store keeps instants as canonical UTC text; the statistics group them by the hour
(`YYYY-MM-DDTHH`), and Europe/Paris offsets are whole hours, so each UTC hour is exactly
one local hour. Sites show naive local wall times (an earliest slot), read as Paris time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from watchdog.domain.clock import PARIS

HOUR_KEY_LEN = 13  # "YYYY-MM-DDTHH"


@dataclass(frozen=True)
class Period:
    """A half-open period [since, until) of aware instants."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        for value in (self.since, self.until):
            if value.tzinfo is None:
                raise ValueError(f"{value.isoformat()} has no timezone")
        if self.until <= self.since:
            raise ValueError("a period must end after it starts")

    @classmethod
    def from_dates(cls, first: date, last: date) -> Period:
        """Whole Paris days from `first` to `last`, both included."""
        return cls(paris_midnight(first), paris_midnight(last + timedelta(days=1)))

    @property
    def first_day(self) -> date:
        return self.since.astimezone(PARIS).date()

    @property
    def last_day(self) -> date:
        """The last Paris day the period touches."""
        return (self.until - timedelta(microseconds=1)).astimezone(PARIS).date()

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - (self.until - self.since), self.since)


def paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS)


@lru_cache(maxsize=65536)
def local_hour(utc_hour_key: str) -> datetime:
    """The Paris wall time (aware) of a UTC hour key `YYYY-MM-DDTHH`."""
    return datetime.fromisoformat(f"{utc_hour_key}:00:00+00:00").astimezone(PARIS)


@lru_cache(maxsize=65536)
def site_hour(naive_hour_key: str) -> datetime:
    """A site's naive local hour key `YYYY-MM-DDTHH`, as an aware Paris time."""
    return datetime.fromisoformat(f"{naive_hour_key}:00:00").replace(tzinfo=PARIS)


def iso_week(day: date) -> tuple[int, int]:
    """(ISO year, ISO week): 2026-12-28 … 2027-01-03 is week 53 of 2026."""
    year, week, _ = day.isocalendar()
    return year, week


def week_label(week: tuple[int, int]) -> str:
    return f"{week[0]}-S{week[1]:02d}"


def week_monday(week: tuple[int, int]) -> date:
    return date.fromisocalendar(week[0], week[1], 1)


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_instant(text: str) -> datetime:
    """Canonical store text `YYYY-MM-DDTHH:MM:SS.ffffffZ` → aware UTC datetime."""
    if not text.endswith("Z"):
        raise ValueError(f"not a canonical UTC instant: {text!r}")
    return datetime.fromisoformat(text)  # "Z" reads as UTC (Python 3.11), without a copy
