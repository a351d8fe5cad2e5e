"""Sustained probe rate under the real scheduler, politeness on, in a process of its own.

    python -m bench.scheduled --urls URL[,URL…] --targets 200 --interval 30 --seconds 60

`--targets` legacy targets spread over the simulator hosts, each due every `--interval`
seconds (± jitter) with a per-host token bucket and concurrency bound, run by the real
runner on `--scenario`'s engine and recorded in a real store with metrics, as `watchdog run`
does, after a restart over a store with history (each target's run already screenshotted).
Prints one JSON object: recorded probes per minute against the demand, scheduling lateness
p50/p99, the tree's CPU per probe, and the outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.procs import become_subreaper, tree_cpu_seconds, tree_memory
from bench.worker import SCENARIOS, build_config
from probes import REGISTRY
from watchdog.config.loader import Config
from watchdog.daemon.scheduler import Scheduler
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.evidence.policy import page_fingerprint
from watchdog.metrics.registry import Metrics
from watchdog.probe.session import Credentials
from watchdog.store import Store


async def run(args: argparse.Namespace) -> dict[str, Any]:
    scenario = SCENARIOS[args.scenario]
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="wd-sched-") as tmp:
        config = build_config(scenario, args.urls.split(","), args.targets, Path(tmp))
        config.politeness.per_host.requests_per_minute = args.rpm
        config.politeness.per_host.concurrent = args.concurrent
        config.browser.max_contexts = args.max_contexts
        config.scheduler.seed = 1
        for target in config.targets:
            target.interval = timedelta(seconds=args.interval)
        store = Store.open(Path(tmp))
        runner = Runner(config, store.blobs.put)
        await seed_memory(runner, config)
        metrics = Metrics()
        metrics.declare(config.targets)

        async def record(obs: Observation, target: Target) -> None:
            sealed = await asyncio.to_thread(store.append, obs)
            metrics.observe(sealed, target)
            outcomes[f"{obs.outcome.value}/{obs.env.engine.value}"] += 1

        scheduler = Scheduler(config, runner.probe, record)
        cpu0, started = tree_cpu_seconds(), time.monotonic()
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(args.seconds * 0.9)
        memory = await asyncio.to_thread(tree_memory)
        await asyncio.sleep(args.seconds * 0.1)
        scheduler.stop()
        await task
        await scheduler.drain(30)
        elapsed = time.monotonic() - started
        cpu = tree_cpu_seconds() - cpu0 - memory.cpu_cost_s
        await runner.close()
        store.close()
    recorded = sum(outcomes.values())
    late = sorted(scheduler.counters.lateness) or [0.0]
    cuts = statistics.quantiles(late, n=100) if len(late) > 1 else late * 99
    return {
        "scenario": args.scenario, "targets": args.targets,
        "hosts": len(args.urls.split(",")), "interval_s": args.interval,
        "per_host_rpm": args.rpm, "seconds": round(elapsed, 1), "recorded": recorded,
        "probes_per_min": round(recorded / elapsed * 60, 1),
        "demand_per_min": round(args.targets * 60 / args.interval, 1),
        "cpu_s_per_probe": round(cpu / max(recorded, 1), 4),
        "lateness_p50_s": round(cuts[49], 3), "lateness_p99_s": round(cuts[98], 3),
        "memory_pss_mb": round(memory.pss_bytes / 2**20, 1), "outcomes": dict(outcomes),
    }  # fmt: skip


async def seed_memory(runner: Runner, config: Config) -> None:
    """As after a restart over a store with history (`watchdog run` seeds from the store):
    each target is in a no-slot run that already has its screenshot."""
    target = config.targets[0]
    spec = REGISTRY[target.platform]
    for _ in range(20):
        attempt = await runner.requests.attempt(target, spec, Credentials())
        found = attempt.classification
        if attempt.state is not None and found is not None and found.outcome is Outcome.NO_SLOT:
            fingerprint, now = page_fingerprint(attempt.state.html), datetime.now(UTC)
            break
    else:
        raise SystemExit("bench: the simulator never answered 'no slot'")
    for each in config.targets:
        runner.memory.remember(each.id, Outcome.NO_SLOT, fingerprint, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", required=True)
    parser.add_argument("--scenario", default="request_on_change", choices=sorted(SCENARIOS))
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rpm", type=float, default=30.0, help="per-host probe starts/min")
    parser.add_argument("--concurrent", type=int, default=2, help="per host")
    parser.add_argument("--max-contexts", type=int, default=16)
    args = parser.parse_args()
    become_subreaper()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
