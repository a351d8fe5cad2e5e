"""Full `verify` against `verify --since-checkpoint` on a large store (issue 20, item 5; no test).

    python -m bench.verify_bench                        # 300,000 observations, 20 targets
    python -m bench.verify_bench --observations 1000000 --new 2000

At the scale of issue 20 (10 M observations, 200 targets, a year), `python -m bench.scale`
times the same commands over `python -m bench.bigstore`'s store, built once and kept.

The store is report_bench's synthetic one (generated once into --data and reused; hash-chained,
columns matching, so `verify` accepts it). A checkpoint of it is written, then a full verify
runs (it records the checkpoint as verified); then `--new` observations are appended through
the store (two thousand is one round of national coverage, every journey once), and the
incremental verify runs. Both are timed in this process, wall and CPU seconds, with the load
average beside them: the ratio of the two is what to trust on a shared machine. The verified
mark is removed first, so that the full verify always runs from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report_bench import LAYOUT, generate, targets
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.store import Store
from watchdog.store import checkpoint as checkpoints
from watchdog.store.verify import VerifyReport, verify_store


def _timed(store: Store, since: bool) -> tuple[VerifyReport, dict[str, Any]]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    report = verify_store(store, since_checkpoint=since)
    figures = {
        "observations_read": report.observations, "blobs_hashed": report.blobs,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2), "load": round(load, 1), "ok": report.ok,
    }  # fmt: skip
    return report, figures


def run(data: Path, count: int, ids: list[str], new: int) -> dict[str, Any]:
    generate(data, count, ids, 90)
    (data / checkpoints.VERIFIED_FILE).unlink(missing_ok=True)
    with Store.open(data) as store:
        checkpoints.write(store, force=True)
        full_report, full = _timed(store, since=False)
        if not full_report.ok:
            raise SystemExit("bench: the generated store does not verify:\n" + full_report.render())
        now = datetime.now(UTC)
        store.append_many([
            Observation(
                id=f"verify-bench-{now:%H%M%S}-{n:06d}", target=ids[n % len(ids)],
                outcome=Outcome.NO_SLOT, detail="no_slot", started_at=now + timedelta(seconds=n),
                finished_at=now + timedelta(seconds=n + 1), duration_s=1.0,
                env=Env(software="verify-bench", simulated=True),
            )
            for n in range(new)
        ])  # fmt: skip
        checkpoints.write(store)
        _, incremental = _timed(store, since=True)
        total = store.count()
    return {
        "observations": total, "targets": len(ids), "new": new, "full": full,
        "incremental": incremental,
        "full_over_incremental_wall": round(full["wall_s"] / max(incremental["wall_s"], 1e-3), 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.verify_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--observations", type=int, default=300_000)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--new", type=int, default=2000, help="appended after the full verify")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    data = args.data or Path(f"/tmp/watchdog-verify-bench-{LAYOUT}-{args.observations}")
    result = run(data, args.observations, [t.id for t in targets(args.targets)], args.new)
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
