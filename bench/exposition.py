"""Cost of one /metrics scrape for a large catalog (issue 4 benchmark; not a test).

    python -m bench.exposition                    # 2,000 targets, 20 scrapes
    python -m bench.exposition --targets 5000 --scrapes 10

Every target is declared (all series pre-created) and observed a few times with varied
outcomes, then the full exposition (docs/design.md §3 metrics + the scheduler's) is rendered, as
`watchdog run` does for each scrape. Prints a JSON line: series, bytes, median and p90 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from probes import REGISTRY
from watchdog.daemon.listener import SchedulerMetrics
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.domain.target import Target
from watchdog.metrics.registry import Metrics

PLATFORMS = [p for p in REGISTRY if p != "steps"]
OUTCOMES = list(Outcome)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def targets(count: int) -> list[Target]:
    return [bench_target(i) for i in range(count)]


def bench_target(i: int) -> Target:
    return Target.model_validate(
        {"id": f"bench-{i}", "department": f"{i % 95 + 1:02d}" if i % 95 != 19 else "2A",
         "prefecture": f"Préfecture {i % 95}", "procedure": "premiere_demande",
         "label": f"Titre de séjour {i}", "platform": PLATFORMS[i % len(PLATFORMS)],
         "url": f"https://www.example.gouv.fr/booking/create/{i}/0"}
    )  # fmt: skip


def observation(target: Target, n: int) -> Observation:
    outcome = OUTCOMES[(int(target.id.rsplit("-", 1)[1]) + n) % len(OUTCOMES)]
    started = T0 + timedelta(minutes=15 * n)
    return Observation(
        id=f"{target.id}-{n}", target=target.id, outcome=outcome, detail="bench",
        started_at=started, finished_at=started + timedelta(seconds=3), duration_s=3.0 + n,
        slots=2 if outcome is Outcome.AVAILABLE else None,
        earliest_slot=started + timedelta(days=20) if outcome is Outcome.AVAILABLE else None,
        env=Env(software="bench"),
    )  # fmt: skip


def measure(args: argparse.Namespace) -> dict[str, Any]:
    catalog = targets(args.targets)
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    scheduler = SchedulerMetrics(metrics.registry)
    metrics.declare(catalog)
    scheduler.declare(catalog)
    for target in catalog:
        for n in range(args.observations):
            metrics.observe(observation(target, n), target)
    timings: list[float] = []
    body = b""
    for _ in range(args.scrapes):
        start = time.perf_counter()
        body = metrics.exposition()
        timings.append((time.perf_counter() - start) * 1000)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    timings.sort()
    return {
        "targets": args.targets,
        "series": series,
        "bytes": len(body),
        "median_ms": round(statistics.median(timings), 1),
        "p90_ms": round(timings[int(len(timings) * 0.9) - 1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=3, help="per target")
    parser.add_argument("--scrapes", type=int, default=20)
    print(json.dumps(measure(parser.parse_args())))


if __name__ == "__main__":
    main()
