"""Time in the domain: every local date and time of the record is Europe/Paris (docs/design.md §2).

Instants are stored in UTC; what a person reads (a site's dates, a report's days and weeks, a
frame's banner) is in this one zone.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
