"""One benchmark scenario in a process of its own (so its tree's CPU and memory are its own).

    python -m bench.worker --scenario browser --probes 20 --concurrency 1 --urls URL[,URL…]

Runs one warm-up probe per worker (browser launched, driver started), then `--probes`
probes split over `--concurrency` workers, each on its own target, through the real runner
and a real store (SQLite, evidence directory), as `watchdog run` does. Prints one JSON
object: throughput, wall times, the tree's CPU between the first and the last probe, the
peak memory of the whole process (Chromium included) from a cgroup of its own where one can
be made, PSS read twice (at half and nine tenths of the run: when every worker is
mid-journey), and the evidence bytes written per observation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import floor
from bench.procs import (
    MemoryCgroup,
    MemoryReading,
    become_subreaper,
    tree_cpu_seconds,
    tree_memory,
)
from bench.simhost import ENTRY_PATH, PLANNING
from watchdog.config.loader import Config
from watchdog.domain.models import Observation
from watchdog.domain.target import Target
from watchdog.engine import browser as browser_module
from watchdog.engine.runner import Runner
from watchdog.store import Store

ProbeOnce = Callable[[int], Awaitable[str]]  # worker index → outcome


@dataclass(frozen=True)
class Scenario:
    engine: str = "browser"  # browser | request | auto, or "floor" (baseline b)
    screenshots: str = "every"
    new_browser: bool = False  # baseline (a): a browser launched and closed per probe
    profile: str = "cleared"  # browser.profile: a kept page wiped clean, or a fresh context
    default_flags: bool = False  # Playwright's launch flags only, not watchdog/engine/browser.py's
    client: str = "playwright"  # browser.request_client: the request engine's HTTP client


SCENARIOS = {
    "naive": Scenario("browser", "every", new_browser=True, profile="fresh"),
    # The naive figure: a browser per probe as Playwright launches it by default.
    "naive_default": Scenario(
        "browser", "every", new_browser=True, profile="fresh", default_flags=True
    ),
    "browser_fresh": Scenario("browser", "every", profile="fresh"),
    "browser": Scenario("browser", "every"),
    "browser_on_change": Scenario("browser", "on_change"),
    # The request engine on Playwright's APIRequestContext (as before issue 20) and on aiohttp.
    "request_every": Scenario("request", "every"),
    "request_on_change": Scenario("request", "on_change"),
    "aiohttp_every": Scenario("request", "every", client="aiohttp"),
    "aiohttp_on_change": Scenario("request", "on_change", client="aiohttp"),
    "floor": Scenario("floor"),
}


def build_config(scenario: Scenario, urls: list[str], count: int, data_dir: Path) -> Config:
    config = Config.model_validate(
        {
            "watchdog": {"data_dir": str(data_dir), "allowed_hosts": ["127.0.0.1"],
                         "min_interval": "1s", "simulated": True},
            "browser": {"max_contexts": 64, "probe_timeout": "60s", "profile": scenario.profile,
                        "request_client": scenario.client},
            "probing": {"engine": "browser" if scenario.engine == "floor" else scenario.engine,
                        "screenshots": scenario.screenshots},
        }
    )  # fmt: skip
    config.targets = [
        bench_target(i, urls[i % len(urls)] + ENTRY_PATH, "1m", {"planning": PLANNING})
        for i in range(count)
    ]
    return config


def bench_target(
    index: int, url: str, interval: str, options: dict[str, Any] | None = None
) -> Target:
    """The `index`-th legacy booking target of a bench catalog."""
    return Target.model_validate(
        {
            "id": f"bench-{index}",
            "department": "93",
            "prefecture": "Bench",
            "procedure": "premiere_demande",
            "label": f"bench {index}",
            "platform": "legacy_booking",
            "url": url,
            "interval": interval,
            "options": options or {},
        }
    )


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Bench:
    """The probe function of a scenario, with what it needs opened and closed."""

    def __init__(self, scenario: Scenario, urls: list[str], count: int, data_dir: Path) -> None:
        if scenario.default_flags:
            browser_module.LAUNCH_ARGS = ()
        self.scenario = scenario
        self.urls = urls
        self.config = build_config(scenario, urls, count, data_dir)
        self.store = Store.open(data_dir)
        self.runner = Runner(self.config, self.store.blobs.put)
        self.clients = [floor.client() for _ in range(count)] if scenario.engine == "floor" else []
        self.observations: list[Observation] = []

    def stored_bytes(self, first: int) -> dict[str, Any]:
        """Bytes each observation from `first` on added to the store: new evidence blobs
        (content-addressed: a blob already stored costs nothing) plus its own document."""
        seen: set[str] = set()
        previous: dict[str, tuple[str, str | None]] = {}
        every, unchanged = [], []
        for n, obs in enumerate(self.observations):
            blobs = set(obs.evidence.blobs().values())
            new = sum(self.store.blobs.path(sha).stat().st_size for sha in blobs - seen)
            seen |= blobs
            page = (obs.outcome.value, obs.evidence.html)
            same = previous.get(obs.target) == page
            previous[obs.target] = page
            if n >= first:
                cost = new + len(obs.model_dump_json())
                every.append(cost)
                if same:
                    unchanged.append(cost)
        return {
            "stored_bytes_per_obs": round(statistics.fmean(every)) if every else None,
            "stored_bytes_per_unchanged_obs": round(statistics.fmean(unchanged))
            if unchanged
            else None,
            "unchanged_share": round(len(unchanged) / len(every), 3) if every else None,
        }

    async def probe(self, index: int) -> str:
        if self.clients:
            return await floor.probe(self.clients[index], self.config.targets[index].url)
        obs = await self.runner.probe(self.config.targets[index])
        self.observations.append(await asyncio.to_thread(self.store.append, obs))
        if self.scenario.new_browser:
            browser = self.runner.host.launched
            if browser is not None:
                await browser.close()  # the next probe launches a new one
        return f"{obs.outcome.value}/{obs.env.engine.value}"

    async def close(self) -> None:
        for session in self.clients:
            await session.close()
        await self.runner.close()
        self.store.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wd-bench-") as tmp:
        data_dir = Path(tmp)
        bench = Bench(SCENARIOS[args.scenario], args.urls.split(","), args.concurrency, data_dir)
        try:
            await asyncio.gather(*(bench.probe(i) for i in range(args.concurrency)))  # warm-up
            warm = len(bench.observations)
            evidence_before = dir_bytes(data_dir / "evidence")
            result = await measure(bench.probe, args.probes, args.concurrency)
            result["evidence_bytes_per_obs"] = round(
                (dir_bytes(data_dir / "evidence") - evidence_before) / args.probes
            )
            result |= bench.stored_bytes(warm)
        finally:
            await bench.close()
    return {"scenario": args.scenario, "concurrency": args.concurrency, **result}


async def measure(probe: ProbeOnce, total: int, workers: int) -> dict[str, Any]:
    walls: list[float] = []
    outcomes: Counter[str] = Counter()
    readings: list[MemoryReading] = []
    marks = {total // 2, total * 9 // 10}
    remaining = list(range(total))

    cpus: list[float] = []  # per probe, when one worker runs (overlapping probes cannot)
    reading_cost = [0.0]

    def cpu_now() -> float:
        started = time.thread_time()
        value = tree_cpu_seconds()
        reading_cost[0] += time.thread_time() - started
        return value

    async def worker(index: int) -> None:
        while remaining:
            n = remaining.pop()
            if n in marks:
                readings.append(await asyncio.to_thread(tree_memory))
            started, cpu_before = time.perf_counter(), cpu_now() if workers == 1 else 0.0
            outcomes[await probe(index)] += 1
            walls.append(time.perf_counter() - started)
            if workers == 1:
                cost = reading_cost[0]
                cpus.append(cpu_now() - cpu_before - (reading_cost[0] - cost))

    cpu0, t0 = cpu_now(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    cpu -= sum(r.cpu_cost_s for r in readings) + reading_cost[0]
    result = summary(walls, elapsed, cpu, readings, outcomes)
    result["cpu_s_per_probe_p50"] = round(statistics.median(cpus), 4) if cpus else None
    return result


def summary(
    walls: list[float],
    elapsed: float,
    cpu: float,
    readings: list[MemoryReading],
    outcomes: Counter[str],
) -> dict[str, Any]:
    cuts = statistics.quantiles(walls, n=20, method="inclusive") if len(walls) > 1 else walls * 19
    peak = max(readings, key=lambda r: r.pss_bytes) if readings else None
    return {
        "probes": len(walls),
        "elapsed_s": round(elapsed, 2),
        "probes_per_min": round(len(walls) / elapsed * 60, 1),
        "cpu_s_per_probe": round(cpu / len(walls), 4),
        "wall_p50_s": round(statistics.median(walls), 4),
        "wall_p95_s": round(cuts[18], 4),
        "memory_pss_mb": round(peak.pss_bytes / 2**20, 1) if peak else None,
        "memory_rss_sum_mb": round(peak.rss_bytes / 2**20, 1) if peak else None,
        "processes": peak.processes if peak else None,
        "outcomes": dict(outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--urls", required=True, help="simulator base URLs, comma-separated")
    args = parser.parse_args()
    become_subreaper()
    cgroup = MemoryCgroup.enter()  # before Playwright starts: Chromium is born inside it
    try:
        result = asyncio.run(run(args))
        peak = cgroup.peak_bytes() if cgroup is not None else None
    finally:
        if cgroup is not None:
            cgroup.leave()
    result["memory_cgroup_peak_mb"] = round(peak / 2**20, 1) if peak else None
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
