"""Figures that need no browser: scheduler lateness, /metrics scrape (ingest: bench/ingest.py).

Each returns a flat dict; `python -m bench` runs them after the probe scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from bench import exposition, scheduler_lateness


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


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median of numeric fields over repeated runs (other fields from the first)."""
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = statistics.median(run[key] for run in runs)
    return merged
