"""Report over a synthetic store of 1 M observations: time and peak memory (issue 6; not a test).

    python -m bench.report_bench                       # 1 000 000 observations, 20 targets, 90 days
    python -m bench.report_bench --observations 200000 --pdf

The store is generated once into --data (default /tmp/watchdog-report-bench) with direct
batched inserts: documents are hash-chained and their column copies match (so `watchdog
verify` accepts them), but they are sorted-key JSON rather than RFC 8785 text, which only
differs on floats. The report then runs in a child process, so its peak RSS is its own.
CPU seconds are printed beside wall seconds: on a shared machine the wall time mostly
measures the other processes (the load average is printed too). The report's own CPU time
excludes Chromium's, which prints the PDF in its own processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchdog.chain import format_datetime
from watchdog.config import Target
from watchdog.store import Store
from watchdog.store.schema import chain_heads, observations

BATCH = 5000
START = datetime(2026, 9, 1, tzinfo=UTC)
# Share of each outcome, roughly what a saturated prefecture looks like.
OUTCOMES = (
    ("no_slot", 0.70), ("available", 0.12), ("site_error", 0.08), ("captcha", 0.04),
    ("timeout", 0.02), ("maintenance", 0.01), ("closed", 0.01), ("probe_error", 0.01),
    ("unrecognized", 0.01),
)  # fmt: skip


def targets(count: int) -> list[Target]:
    return [
        Target.model_validate(
            {
                "id": f"bench-{i:02d}",
                "department": f"{(i % 95) + 1:02d}" if (i % 95) + 1 not in (20,) else "21",
                "prefecture": f"Préfecture {i:02d}",
                "procedure": ("premiere_demande", "renouvellement", "etudiant")[i % 3],
                "label": "Titre de séjour",
                "platform": "legacy_booking",
                "url": f"https://www.bench-{i:02d}.gouv.fr/booking/create/{i}/0",
            }
        )
        for i in range(count)
    ]


def _document(
    target: str, n: int, at: datetime, rng: random.Random, prev: str | None
) -> dict[str, Any]:
    outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    slots = earliest = None
    if outcome == "available":
        slots = rng.randint(1, 6)
        local = at + timedelta(hours=1, days=rng.randint(3, 100))
        earliest = format_datetime(local.replace(tzinfo=None, minute=0, second=0, microsecond=0))
    started = format_datetime(at)
    return {
        "id": f"{target}-{n:08d}", "target": target, "outcome": outcome, "detail": outcome,
        "message": "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous."
        if outcome == "no_slot" else None,
        "slots": slots, "earliest_slot": earliest, "published_next": None,
        "started_at": started, "finished_at": format_datetime(at + timedelta(seconds=4)),
        "duration_s": 4, "steps": [], "final_url": f"https://www.{target}.gouv.fr/booking/create/1/2",
        "http_status": 200,
        "evidence": {"screenshot": None, "framed": None, "html": None, "har": None, "trace": None},
        "env": {"software": "prefecture-watchdog 0.1.0", "engine": "browser", "browser": "chromium",
                "simulated": True},
        "vantage": "default", "tags": [], "prev_hash": prev,
    }  # fmt: skip


def generate(data: Path, count: int, ids: list[str], days: int) -> None:
    store = Store.open(data)
    if store.count() >= count:
        print(f"store at {data} already holds {store.count():,} observations")
        store.close()
        return
    rng = random.Random(6)
    per_target = count // len(ids)
    step = timedelta(days=days) / per_target
    started = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(sa.insert(chain_heads), [{"target": t, "seq": 0, "hash": None} for t in ids])
    for target in ids:
        prev: str | None = None
        rows: list[dict[str, Any]] = []
        for n in range(per_target):
            doc = _document(target, n, START + step * n, rng, prev)
            text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            prev = hashlib.sha256(text.encode()).hexdigest()
            rows.append({**{k: doc[k] for k in ("id", "target", "started_at", "finished_at",
                          "outcome", "detail", "slots", "earliest_slot", "prev_hash")},
                         "tags": "[]", "seq": n + 1, "hash": prev, "doc": text})  # fmt: skip
            if len(rows) == BATCH:
                _flush(store, rows)
        _flush(store, rows)
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(chain_heads)
                .where(chain_heads.c.target == target)
                .values(seq=per_target, hash=prev)
            )
    print(
        f"generated {per_target * len(ids):,} observations in {time.perf_counter() - started:.1f} s"
    )
    store.close()


def _flush(store: Store, rows: list[dict[str, Any]]) -> None:
    if rows:
        with store.engine.begin() as conn:
            conn.execute(sa.insert(observations), rows)
        rows.clear()


def report_child(data: Path, count: int, days: int, pdf: bool) -> None:
    """Runs in its own process: the figures printed are the report's alone."""
    from watchdog.report import ReportOptions, build_report
    from watchdog.stats import Period, compute

    chosen = targets(count)
    period = Period(START, START + timedelta(days=days))
    with Store.open(data) as store:
        started, cpu = time.perf_counter(), time.process_time()
        compute(store, [t.id for t in chosen], period)
        stats_s, stats_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        formats = ("html", "pdf") if pdf else ("html",)
        options = ReportOptions(formats=formats)
        paths = build_report(
            store, chosen, since=period.since, until=period.until, out_dir=data / "report",
            options=options,
        )  # fmt: skip
        report_s, report_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "statistics_s": round(stats_s, 2), "statistics_cpu_s": round(stats_cpu, 2),
        "report_s": round(report_s, 2), "report_cpu_s": round(report_cpu, 2),
        "load_average": [round(x, 1) for x in os.getloadavg()],
"peak_rss_mb": round(rss_mb, 1),
        "files": [str(p) for p in paths], "sizes": [p.stat().st_size for p in paths],
    }, indent=2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--data", type=Path, default=Path("/tmp/watchdog-report-bench"))
    parser.add_argument("--pdf", action="store_true", help="also print the PDF (Chromium)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report_child(args.data, args.targets, args.days, args.pdf)
        return
    ids = [t.id for t in targets(args.targets)]
    generate(args.data, args.observations, ids, args.days)
    command = [sys.executable, "-m", "bench.report_bench", "--child", "--data", str(args.data),
               "--targets", str(args.targets), "--days", str(args.days)]  # fmt: skip
    if args.pdf:
        command.append("--pdf")
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"report process wall time {time.perf_counter() - started:.1f} s (Python start included)")
    print(f"date {date.today().isoformat()}")


if __name__ == "__main__":
    main()
