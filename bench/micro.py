"""Figures that need no browser: scheduler lateness, /metrics scrape, store ingest.

Each returns a flat dict; `python -m bench` runs them after the probe scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import exposition, scheduler_lateness
from watchdog.domain.models import Env, Observation, Outcome, Step
from watchdog.store import Store

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MESSAGE = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)


def lateness(targets: int, interval: float, seconds: float) -> dict[str, Any]:
    """The scheduler alone (probes are 0.3–1.5 s sleeps) with many targets, compressed."""
    args = argparse.Namespace(
        browser=False, targets=targets, hosts=max(targets // 5, 1), interval=interval,
        seconds=seconds, max_contexts=64, rpm=60.0, concurrent=4,
    )  # fmt: skip
    result = asyncio.run(scheduler_lateness.run(args))
    keep = ("targets", "interval_s", "seconds", "recorded", "probes_per_minute",
            "demand_per_minute", "lateness_p50_s", "lateness_p99_s", "lateness_max_s")  # fmt: skip
    return {key: result[key] for key in keep}


def scrape(targets: int, scrapes: int) -> dict[str, Any]:
    """One /metrics exposition for a catalog of `targets` (every series pre-created)."""
    args = argparse.Namespace(targets=targets, observations=3, scrapes=scrapes)
    return exposition.measure(args)


def observation(n: int, targets: int) -> Observation:
    started = T0 + timedelta(seconds=n)
    target = f"ingest-{n % targets}"
    return Observation(
        id=f"{target}-{n:08d}", target=target, outcome=Outcome.NO_SLOT, detail="no_free_slot",
        message=MESSAGE, started_at=started, finished_at=started + timedelta(seconds=1.2),
        duration_s=1.2, final_url="https://www.example.gouv.fr/booking/create/1/2",
        http_status=200,
        steps=[Step(name="conditions", url="https://www.example.gouv.fr/booking/create/1/0",
                    status=200, ms=300)],
        env=Env(software="bench", browser="chromium", browser_version="156"),
    )  # fmt: skip


def ingest(count: int, batch: int, targets: int = 100) -> dict[str, Any]:
    """Observations per second sealed and stored by `Store.append_many` (SQLite, WAL).

    Per second of wall time and of this process's CPU time: on a shared machine the CPU
    figures stay put while the wall-clock ones follow the load of other processes.
    """
    observations = [observation(n, targets) for n in range(count)]
    singles = [observation(count + n, targets) for n in range(min(count // 10, 1000))]
    with tempfile.TemporaryDirectory(prefix="wd-ingest-") as tmp:
        store = Store.open(Path(tmp))

        def append_batches() -> None:  # sealed copies are dropped, as a caller would
            for i in range(0, count, batch):
                store.append_many(observations[i : i + batch])

        def append_singles() -> None:
            for obs in singles:
                store.append(obs)

        try:
            batched, single = _timed(append_batches), _timed(append_singles)
        finally:
            store.close()
    return {
        "observations": count,
        "batch": batch,
        "per_second_batched": round(count / batched[0]),
        "per_second_one_by_one": round(len(singles) / single[0]),
        "cpu_per_second_batched": round(count / batched[1]),
        "cpu_per_second_one_by_one": round(len(singles) / single[1]),
    }


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that `work` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median of numeric fields over repeated runs (other fields from the first)."""
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = statistics.median(run[key] for run in runs)
    return merged
