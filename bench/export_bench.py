"""Open-data export over a synthetic store of 1 M observations: time and peak memory (issue 15).

    python -m bench.export_bench                       # 1 000 000 observations, 20 targets
    python -m bench.export_bench --observations 200000 --format csv

The store is the report bench's (bench/report_bench.py, generated once and reused). The
export then runs in a child process, so its peak RSS is its own; the target is < 30 s and
< 500 MB for CSV and Parquet together. Figures are printed, never asserted (a shared machine
is noisy: CPU seconds are printed beside wall seconds, with the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.report_bench import LAYOUT, START, generate, targets
from watchdog.store.record import Selection, open_read_only


def export_child(data: Path, count: int, days: int, formats: tuple[str, ...]) -> None:
    """Runs in its own process: the figures printed are the export's alone."""
    from watchdog.opendata.export import export_open_data

    catalog = {t.id: t for t in targets(count)}
    selection = Selection(None, (), START, START + timedelta(days=days))
    out = data / "open-data"
    with open_read_only(data, None) as store:
        started, cpu = time.perf_counter(), time.process_time()
        result = export_open_data(store, selection, catalog, out, formats)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sizes = {name: (out / name).stat().st_size for name in result.files}
    print(json.dumps({
        "rows": result.rows, "export_s": round(wall, 2), "export_cpu_s": round(cpu, 2),
        "peak_rss_mb": round(rss_mb, 1), "load_average": [round(x, 1) for x in os.getloadavg()],
        "sizes": sizes,
    }, indent=2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--format", default="csv,parquet")
    parser.add_argument("--data", type=Path, default=Path(f"/tmp/watchdog-report-bench-{LAYOUT}"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    formats = tuple(args.format.split(","))
    if args.child:
        export_child(args.data, args.targets, args.days, formats)
        return
    generate(args.data, args.observations, [t.id for t in targets(args.targets)], args.days)
    command = [sys.executable, "-m", "bench.export_bench", "--child", "--data", str(args.data),
               "--targets", str(args.targets), "--days", str(args.days),
               "--format", args.format]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"export process wall time {time.perf_counter() - started:.1f} s (Python start included)")


if __name__ == "__main__":
    main()
