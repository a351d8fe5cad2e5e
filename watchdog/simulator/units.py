"""Units of the scenario format: durations, times of day, hour windows, ids."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
_CLOCK = re.compile(r"^([01]?\d|2[0-3])(?::([0-5]\d))?$")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "90s", "5m", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())) and any(m.groups()):
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    else:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_clock(text: str) -> int:
    """Minutes after midnight from "9", "09:30" or "24" (end of day)."""
    if text.strip() == "24":
        return 24 * 60
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"expected a time of day such as 9 or 09:30, got {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2) or 0)


def parse_hours(value: object) -> tuple[tuple[int, int], ...] | None:
    """Half-open local windows in minutes from "8-10" or "8-10,14:30-16"."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple((int(a), int(b)) for a, b in value)
    if not isinstance(value, str):
        raise ValueError('expected hours such as "8-10" or "8-10,14:30-16"')
    windows = []
    for part in value.split(","):
        start, sep, end = part.partition("-")
        if not sep:
            raise ValueError(f"expected a range such as 8-10, got {part!r}")
        lo, hi = parse_clock(start), parse_clock(end)
        if lo >= hi:
            raise ValueError(f"empty hour range {part!r}")
        windows.append((lo, hi))
    return tuple(windows)


def _as_str(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
IdStr = Annotated[str, BeforeValidator(_as_str)]
HourWindows = Annotated[tuple[tuple[int, int], ...] | None, BeforeValidator(parse_hours)]
