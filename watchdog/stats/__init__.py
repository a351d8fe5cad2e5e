"""Statistics of the reports (DESIGN §2 definitions; research/evidence.md §6)."""

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
