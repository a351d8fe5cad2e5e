"""Announced maintenance windows, per target and per host (issue 3, item 3).

A probe inside a window still runs and is recorded — announced maintenance is evidence too —
but its observation carries the tag `maintenance_window` so alerting can leave it aside.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from watchdog.config.loader import Config
from watchdog.domain.clock import PARIS
from watchdog.domain.target import MaintenanceWindow, Target, clock_minutes, in_paris

MAINTENANCE_TAG = "maintenance_window"
DAY_MINUTES = 24 * 60


def in_window(window: MaintenanceWindow, instant: datetime) -> bool:
    """Whether the aware `instant` falls inside `window`."""
    if window.start is not None and window.end is not None:
        return in_paris(window.start) <= instant < in_paris(window.end)
    local = instant.astimezone(PARIS)
    if window.hours is None:
        return window.weekdays is None or local.weekday() in window.weekdays
    first, last = (clock_minutes(part) for part in window.hours.split("-"))
    minute = local.hour * 60 + local.minute
    if first < last:
        day = local.weekday()
        inside = first <= minute < last
    else:  # crosses midnight: the late part belongs to the day the window opened
        inside = minute >= first or minute < last
        day = local.weekday() if minute >= first else (local.weekday() - 1) % 7
    return inside and (window.weekdays is None or day in window.weekdays)


def windows_for(config: Config, target: Target) -> list[MaintenanceWindow]:
    """The target's own windows and those of its host (by host name or host:port)."""
    host_windows: list[MaintenanceWindow] = []
    for key, windows in config.maintenance.items():
        if key.lower() in (target.host, target.netloc):
            host_windows.extend(windows)
    return [*target.maintenance, *host_windows]


def in_maintenance(windows: Iterable[MaintenanceWindow], *instants: datetime) -> bool:
    """Whether any of `instants` (e.g. a probe's start and finish) is inside a window."""
    return any(in_window(w, t) for w in windows for t in instants)


def tagged(tags: list[str], maintenance: bool) -> list[str]:
    """`tags` with the maintenance tag added (once) when `maintenance` holds."""
    if maintenance and MAINTENANCE_TAG not in tags:
        return [*tags, MAINTENANCE_TAG]
    return tags
