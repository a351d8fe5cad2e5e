"""Human durations in config ("90s", "15m", "1h", "2d") as timedeltas."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,9})?)\s*(ms|s|m|h|d)\s*$")
# Ten years: longer than any interval, timeout or back-off means a typo, and every duration
# can then be added to "now" without overflowing datetime.
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: object) -> timedelta:
    """Parse "15m"-style strings or plain numbers of seconds (0 to MAX_DURATION)."""
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 15m, 1h")
    if isinstance(value, int | float):
        return _bounded(value, value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return _bounded(float(match.group(1)) * _UNITS[match.group(2)], value)
    raise ValueError(
        f"invalid duration {_shown(value)}: expected a number and a unit (ms, s, m, h, d)"
    )


def _bounded(seconds: float, given: object) -> timedelta:
    # Compared before timedelta() sees it: inf, nan, 1e300 or 10**5000 would raise OverflowError.
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # also false for nan
        raise ValueError(f"duration {_shown(given)} is outside 0 to {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def _shown(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "(a number of more than 40 digits)"  # repr() refuses ints over 4300 digits
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def format_duration(value: timedelta) -> str:
    """The shortest exact rendering: 900 s -> "15m"."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
