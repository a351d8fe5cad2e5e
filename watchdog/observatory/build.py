"""`build_observatory`: gather the statistics, write the open data, then the pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from watchdog.domain.clock import PARIS
from watchdog.domain.target import Target
from watchdog.observatory.model import gather
from watchdog.observatory.site import DATA_DIR, BuildResult, build_site, clear
from watchdog.opendata.export import export_open_data
from watchdog.stats.calendar import Period
from watchdog.stats.compute import observed_window
from watchdog.store.db import Store
from watchdog.store.record import Selection

DEFAULT_WEEKS = 12  # without --from: the last twelve weeks of the record
DATA_FORMATS = ("csv", "parquet")

__all__ = ["BuildResult", "build_observatory", "default_period"]


def default_period(
    store: Store, targets: Sequence[Target], first: date | None, last: date | None
) -> Period | None:
    """The period asked, completed from the record: --to defaults to the day of the last
    observation, --from to twelve weeks before --to (never before the first observation).
    None when the record holds nothing to complete it from."""
    if first is not None and last is not None:
        return Period.from_dates(first, last)
    everything = Period.from_dates(date(2000, 1, 1), date(2100, 1, 1))
    found = observed_window(store, [t.id for t in targets], everything)
    if found is None:
        return None
    _count, seen_first, seen_last = found
    end = last or seen_last.astimezone(PARIS).date()
    start = first or max(
        seen_first.astimezone(PARIS).date(), end - timedelta(weeks=DEFAULT_WEEKS) + timedelta(1)
    )
    return Period.from_dates(start, end) if start <= end else None


def build_observatory(
    store: Store,
    targets: Sequence[Target],
    period: Period,
    out: Path,
    *,
    simulated: bool = False,
    advance: Callable[[int], None] | None = None,
) -> BuildResult:
    """Write the observatory of `targets` over `period` into `out` (pages of an earlier
    build there are replaced). `advance` is told how many steps are done, out of
    `steps(targets)`."""
    clear(out)
    data = gather(store, targets, period, simulated=simulated)
    if advance:
        advance(1)
    selection = Selection(tuple(t.id for t in targets), (), period.since, period.until)
    catalog = {t.id: t for t in targets}
    exported = export_open_data(store, selection, catalog, out / DATA_DIR, DATA_FORMATS)
    if advance:
        advance(2)
    result = build_site(
        store, data, out, exported.files, (lambda n: advance(2 + n)) if advance else None
    )
    result.observations = exported.rows
    return result


def steps(targets: Sequence[Target]) -> int:
    """How many steps `build_observatory` reports: the statistics, the open data, then each
    page (home, method, each département and journey, in two languages)."""
    departements = {t.department for t in targets}
    return 2 + 2 * (2 + len(departements) + len(targets))
