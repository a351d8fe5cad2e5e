"""Where a report's time goes: each statistics query, one after the other (issue 20; no test).

    python -m bench.report_phases --data /work/bench-10m/store-2-10000000-200-365 \\
        --targets 200 --from 2025-11-01 --to 2026-10-31

Runs, in this process and in sequence (no thread), the queries `watchdog report` runs and the
Python that folds each one's rows into the statistics, with wall and CPU seconds and the rows
each returned; then the slot lifetimes and the rendering are left out (their own lines in
bench.scale's profile). CPU seconds here are this process's: the database's work is in them
(SQLite runs in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import watchdog.stats.compute  # noqa: F401  (the module, not the function of that name)
from bench import bigstore
from watchdog.stats import queries
from watchdog.stats.calendar import Period
from watchdog.stats.series import SeriesStats
from watchdog.store import Store

fill = sys.modules["watchdog.stats.compute"]
Fill = Callable[[dict[str, SeriesStats], Iterable[Any]], None]
Rows = Callable[[Store, list[str], Period], Iterable[Any]]


def _rows(query: Callable[..., Any]) -> Rows:
    return lambda store, targets, period: store.scan(query(targets, period))


def _counted(from_counts: Callable[..., Any], from_rows: Callable[..., Any]) -> Rows:
    """Whole hours from the counts kept at ingest, partial edge hours from the rows, as
    `compute` reads them (schema version 5)."""
    return lambda store, targets, period: fill._Counted(store, targets, period).rows(
        from_counts, from_rows
    )


PHASES: tuple[tuple[str, Rows, Fill], ...] = (
    ("window (observed, CLI)", _rows(queries.window), lambda _s, rows: _drain(rows)),
    ("facts (counts)", _counted(queries.facts_counts, queries.facts), fill._fill_facts),
    ("hourly (counts)", _counted(queries.hourly_counts, queries.hourly), fill._fill_hourly),
    ("attempts (runs)", _rows(queries.attempts), fill._fill_runs),
    ("lead_times (counts)", _counted(queries.lead_counts, queries.lead_times), fill._fill_leads),
    ("captcha_offers (documents)", _rows(queries.captcha_offers), fill._fill_captcha),
    ("assisted (counts)", _counted(queries.assisted_counts, queries.assisted), fill._fill_assisted),
)
# What the report read before schema version 5: every row grouped (--rows).
ROW_PHASES: tuple[tuple[str, Rows, Fill], ...] = (
    ("facts (rows)", _rows(queries.facts), fill._fill_facts),
    ("hourly (rows)", _rows(queries.hourly), fill._fill_hourly),
    ("lead_times (rows)", _rows(queries.lead_times), fill._fill_leads),
    ("assisted (rows, column)", _rows(queries.assisted), fill._fill_assisted),
)


def _drain(rows: Iterable[Any]) -> None:
    for _ in rows:
        pass


def run(
    data: Path, targets: list[str], period: Period, *, rows_too: bool = False
) -> list[dict[str, Any]]:
    figures = []
    with Store.open(data) as store:
        for name, query, folder in PHASES + (ROW_PHASES if rows_too else ()):
            series = {t: SeriesStats(t, period) for t in targets}
            load = os.getloadavg()[0]
            wall, cpu = time.perf_counter(), time.process_time()
            rows = 0

            def counted(stream: Iterable[Any]) -> Iterable[Any]:
                nonlocal rows
                for row in stream:
                    rows += 1
                    yield row

            folder(series, counted(query(store, targets, period)))
            figures.append({
                "phase": name, "rows": rows, "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(time.process_time() - cpu, 2), "load": round(load, 1),
            })  # fmt: skip
            print(json.dumps(figures[-1]), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report_phases", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    parser.add_argument("--rows", action="store_true", help="also the row-grouping passes")
    args = parser.parse_args()
    period = Period.from_dates(args.first, args.last)
    run(args.data, bigstore.target_ids(args.targets), period, rows_too=args.rows)


if __name__ == "__main__":
    main()
