"""Scheduling lateness and sustained probe rate (issue 3 benchmark; not a test).

    python -m bench.scheduler_lateness                       # 500 targets, fake 0.3–1.5 s probes
    python -m bench.scheduler_lateness --browser --targets 60 --interval 60 --seconds 180

`fake` measures the scheduler itself on the real clock (probes are sleeps). `--browser` runs
the real runner (headless Chromium, evidence, store) against simulators on loopback, one
simulator per host (host:port is the budget key). Lateness is actual minus planned start:
with a budget that fits, it is the scheduler's own delay; otherwise it shows the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.worker import bench_target
from watchdog.config.loader import Config
from watchdog.daemon.scheduler import Scheduler
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.testing import running
from watchdog.store import Store

SCENARIO = {"targets": [{"key": "quiet", "platform": "legacy_booking", "id": 9001}]}


def build_config(args: argparse.Namespace, bases: list[str], data_dir: Path) -> Config:
    config = Config.model_validate(
        {
            "watchdog": {"data_dir": str(data_dir), "allowed_hosts": ["127.0.0.1"],
                         "min_interval": "1s", "simulated": True},
            "browser": {"max_contexts": args.max_contexts, "probe_timeout": "30s"},
            "politeness": {"jitter": 0.1, "per_host": {"requests_per_minute": args.rpm,
                                                        "concurrent": args.concurrent}},
            "scheduler": {"seed": 1},
        }
    )  # fmt: skip
    config.targets = [
        bench_target(i, f"{bases[i % len(bases)]}/booking/create/9001/0", f"{args.interval}s")
        for i in range(args.targets)
    ]
    return config


def fake_probe(rng: random.Random) -> Any:
    async def probe(target: Target) -> Observation:
        started = datetime.now(UTC)
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        finished = datetime.now(UTC)
        return Observation(
            id=f"{target.id}-{started.timestamp()}", target=target.id, outcome=Outcome.NO_SLOT,
            detail="bench", started_at=started, finished_at=finished,
            duration_s=(finished - started).total_seconds(), env=Env(software="bench"),
        )  # fmt: skip

    return probe


@asynccontextmanager
async def simulators(count: int) -> AsyncIterator[list[str]]:
    scenario = Scenario.model_validate(SCENARIO)
    async with AsyncExitStack() as stack:
        sims = [await stack.enter_async_context(running(scenario)) for _ in range(count)]
        yield [sim.base_url for sim in sims]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    recorded = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with simulators(args.hosts if args.browser else 0) as bases:
            if not args.browser:
                bases = [f"http://127.0.0.1:{9000 + h}" for h in range(args.hosts)]
            config = build_config(args, bases, Path(tmp))
            store = Store.open(Path(tmp))
            runner = Runner(config, store.blobs.put)

            async def record(obs: Observation, target: Target) -> None:
                nonlocal recorded
                if args.browser:
                    await asyncio.to_thread(store.append, obs)
                recorded += 1

            probe = runner.probe if args.browser else fake_probe(random.Random(2))
            scheduler = Scheduler(config, probe, record)
            started = time.monotonic()
            task = asyncio.create_task(scheduler.run())
            await asyncio.sleep(args.seconds)
            scheduler.stop()
            await task
            await scheduler.drain(30)
            elapsed = time.monotonic() - started
            await runner.close()
            store.close()
    return summary(args, scheduler, recorded, elapsed)


def summary(
    args: argparse.Namespace, scheduler: Scheduler, recorded: int, elapsed: float
) -> dict[str, Any]:
    lateness = sorted(scheduler.counters.lateness)
    cuts = statistics.quantiles(lateness, n=100) if len(lateness) > 1 else [0.0] * 99
    return {
        "mode": "browser" if args.browser else "fake",
        "targets": args.targets,
        "hosts": args.hosts,
        "interval_s": args.interval,
        "max_contexts": args.max_contexts,
        "per_host_rpm": args.rpm,
        "seconds": round(elapsed, 1),
        "probes_started": scheduler.counters.started,
        "recorded": recorded,
        "probes_per_minute": round(recorded / elapsed * 60, 1),
        "demand_per_minute": round(args.targets * 60 / args.interval, 1),
        "lateness_p50_s": round(cuts[49], 4),
        "lateness_p99_s": round(cuts[98], 4),
        "lateness_max_s": round(lateness[-1], 4) if lateness else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="real Chromium on simulators")
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long to run")
    parser.add_argument("--max-contexts", type=int, default=16)
    parser.add_argument("--rpm", type=float, default=60.0, help="per-host requests per minute")
    parser.add_argument("--concurrent", type=int, default=2, help="per-host concurrent probes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<20} {value}")


if __name__ == "__main__":
    main()
