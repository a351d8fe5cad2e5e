"""Statistics of the reports (docs/design.md §2 definitions; docs/design.md §9)."""

from watchdog.stats.calendar import Period, iso_week
from watchdog.stats.compute import compute, compute_total
from watchdog.stats.intervals import Difference, Proportion, difference, wilson
from watchdog.stats.series import Run, SeriesStats

__all__ = [
    "Difference",
    "Period",
    "Proportion",
    "Run",
    "SeriesStats",
    "compute",
    "compute_total",
    "difference",
    "iso_week",
    "wilson",
]
