"""Dates and times as the booking sites print them, read as Europe/Paris instants.

Every reading a probe takes (`earliest_slot`, `published_next`) is an aware datetime carrying
the Europe/Paris offset of that day: the sites show local wall-clock times, and an instant
without its offset cannot be compared with the observation's UTC times.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time

from watchdog.domain.clock import PARIS

MONTHS = (
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
)
_LONG = re.compile(r"\b(\d{1,2})(?:er)?\s+([a-zéûA-ZÉÛ]+)\s+(\d{4})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CLOCK = re.compile(r"\b(\d{1,2})\s*[h:H]\s*(\d{2})\b")


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def paris(day: date, at: time | None = None) -> datetime:
    """`day` at `at` (midnight if None), Europe/Paris."""
    return datetime.combine(day, at or time(0, 0), tzinfo=PARIS)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def long_date(text: str) -> date | None:
    """The first French long date in `text` ("lundi 27 avril 2020", "1er mars 2025")."""
    for match in _LONG.finditer(text):
        month = _plain(match.group(2))
        if month in MONTHS:
            return _valid(int(match.group(3)), MONTHS.index(month) + 1, int(match.group(1)))
    return None


def numeric_date(text: str) -> date | None:
    """The first DD/MM/YYYY (or YYYY-MM-DD) date in `text`."""
    match = _NUMERIC.search(text)
    if match is not None:
        return _valid(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    iso = _ISO.search(text)
    if iso is not None:
        return _valid(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    return None


def any_date(text: str) -> date | None:
    return numeric_date(text) or long_date(text)


def clock(text: str) -> time | None:
    """The first time of day in `text` ("09h30", "09:30", "A 09:45")."""
    match = _CLOCK.search(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    return time(hour, minute) if hour < 24 and minute < 60 else None
