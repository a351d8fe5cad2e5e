"""`python -m bench` (`make bench`): the performance figures of issue 7, with baselines.

    python -m bench                 # full: every scenario 3 times, medians (≈ 15 min)
    python -m bench --quick         # one short run of each (≈ 3 min)
    python -m bench --only browser,floor --repeats 5
    python -m bench --render bench/results/bench-….json   # a saved run's table again
    python -m bench soak --minutes 120   # the demo for two hours, memory and processes sampled

It starts the simulator (its own process, not counted), runs each probe scenario in a fresh
process for a fixed number of probes, then the request engine under the real scheduler
across many simulated hosts, then the figures that need no browser, last a short soak of
the demo (bench/soak.py). It prints one table and saves everything as JSON under
bench/results/. Figures are never asserted in tests: on a shared machine they are noisy;
trust medians and the ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import ingest, micro, soak, startup, storage, table

RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable


@dataclass(frozen=True)
class Run:
    scenario: str
    concurrency: int
    probes: int
    latency_ms: int = 0  # added before each page by a proxy (bench/simhost.py)


LATENCY_MS = 300  # a slow-ish real site; loopback alone answers in milliseconds
QUICK = [
    Run("naive_default", 1, 3), Run("naive", 1, 3), Run("browser_fresh", 1, 5),
    Run("browser", 1, 5), Run("browser", 4, 8),
    Run("browser_on_change", 1, 5), Run("request_every", 1, 5),
    Run("request_on_change", 1, 40), Run("request_on_change", 8, 80),
    Run("aiohttp_every", 1, 5), Run("aiohttp_on_change", 1, 40), Run("aiohttp_on_change", 8, 80),
    Run("floor", 1, 40), Run("floor", 8, 80),
    Run("browser", 1, 3, LATENCY_MS), Run("browser_on_change", 1, 3, LATENCY_MS),
    Run("request_on_change", 1, 5, LATENCY_MS), Run("aiohttp_on_change", 1, 5, LATENCY_MS),
    Run("floor", 1, 5, LATENCY_MS),
]  # fmt: skip
FULL = [
    Run("naive_default", 1, 12), Run("naive", 1, 12), Run("browser_fresh", 1, 20),
    Run("browser", 1, 20), Run("browser", 4, 40),
    Run("browser_on_change", 1, 20), Run("request_every", 1, 20),
    Run("request_on_change", 1, 200), Run("request_on_change", 8, 400),
    Run("aiohttp_every", 1, 20), Run("aiohttp_on_change", 1, 200),
    Run("aiohttp_on_change", 8, 400),
    Run("floor", 1, 200), Run("floor", 8, 400),
    Run("browser", 1, 10, LATENCY_MS), Run("browser_on_change", 1, 10, LATENCY_MS),
    Run("request_on_change", 1, 20, LATENCY_MS), Run("aiohttp_on_change", 1, 20, LATENCY_MS),
    Run("floor", 1, 20, LATENCY_MS),
]  # fmt: skip
# The request engine under the scheduler: demand = targets × 60 / interval probes/min, spread
# over the first `hosts` simulated hosts, each under its own budget of `rpm` probe starts per
# minute (politeness on). Issue 7's load on both clients, then issue 20's (≥ 1,500/min asked:
# 2,000/min over 150 hosts at 12 starts/min each, a ceiling of 1,800/min; 64 probes in
# flight, not 16, which bound the rate before the engine does) on each.
Row = tuple[str, str, dict[str, str]]


def _both_clients(label: str, params: dict[str, str]) -> list[Row]:
    """The same scheduler row on each request client: Playwright's, then aiohttp."""
    return [(label, "request_on_change", params), (f"{label} aiohttp", "aiohttp_on_change", params)]


SCHEDULED: dict[str, list[Row]] = {
    "quick": [
        *_both_clients("scheduled", {"targets": "100", "interval": "20", "seconds": "40",
                                     "rpm": "20", "hosts": "25"}),
        *_both_clients("scheduled 2,000/min", {"targets": "1000", "interval": "30",
                                               "seconds": "60", "rpm": "12", "hosts": "150",
                                               "max-contexts": "64"}),
    ],
    "full": [
        *_both_clients("scheduled", {"targets": "240", "interval": "30", "seconds": "120",
                                     "rpm": "12", "hosts": "60"}),
        *_both_clients("scheduled 2,000/min", {"targets": "1000", "interval": "30",
                                               "seconds": "120", "rpm": "12", "hosts": "150",
                                               "max-contexts": "64"}),
    ],
}  # fmt: skip
HOSTS = 150


@contextmanager
def simulator(hosts: int, log: Any, latency_ms: int = 0) -> Iterator[list[str]]:
    """The bench simulator on `hosts` loopback ports, in its own process."""
    process = subprocess.Popen(
        [PYTHON, "-m", "bench.simhost", "--hosts", str(hosts), "--latency-ms", str(latency_ms)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the hosts listen
        if not line:
            raise SystemExit("bench: the simulator did not start (see the log)")
        yield list(json.loads(line))
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the simulator exits when its stdin closes
        process.wait(30)


def run_child(module: str, args: list[str], log: Any, timeout: float = 1800) -> dict[str, Any]:
    """Run `python -m module args`; its last stdout line is its JSON result."""
    done = subprocess.run(
        [PYTHON, "-m", module, *args], stdout=subprocess.PIPE, stderr=log, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"bench: {module} {' '.join(args)} failed (rc {done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def probe_runs(
    plan: list[Run], urls: dict[int, str], repeats: int, log: Any
) -> list[dict[str, Any]]:
    """Every run of the plan `repeats` times (interleaved); the median of each."""
    runs: dict[Run, list[dict[str, Any]]] = {run: [] for run in plan}
    for repeat in range(repeats):
        for run in plan:
            print(f"  [{repeat + 1}/{repeats}] {run.scenario} C={run.concurrency} "
                  f"× {run.probes} +{run.latency_ms} ms", file=sys.stderr, flush=True)  # fmt: skip
            args = ["--scenario", run.scenario, "--probes", str(run.probes), "--concurrency",
                    str(run.concurrency), "--urls", urls[run.latency_ms]]  # fmt: skip
            runs[run].append(run_child("bench.worker", args, log) | {"latency_ms": run.latency_ms})
    return [{**micro.median_of(results), "runs": results} for results in runs.values()]


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor() or "unknown CPU",
    )  # fmt: skip
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    chromium = subprocess.run(
        ["/usr/lib/chromium/chromium", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip() if Path("/usr/lib/chromium/chromium").exists() else "unknown"  # fmt: skip
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(pages / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(),
        "playwright": version("playwright"),
        "chromium": chromium.removeprefix("Chromium ").split()[0] if chromium else "unknown",
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }  # fmt: skip


def micro_figures(quick: bool, repeats: int) -> dict[str, Any]:
    lateness = (500, 20.0, 20.0) if quick else (2000, 60.0, 120.0)
    return {
        "scheduler lateness (fake probes)": micro.lateness(*lateness),
        "scrape": micro.median_of([micro.scrape(2000, 10 if quick else 20)
                                   for _ in range(repeats)]),
        **ingest.figures(5000 if quick else 50_000, 500, repeats),
        # bytes on disk per unchanged observation, text vs compressed (issue 20, item 1)
        **{f"storage ({name})": values for name, values in
           storage.run(10 if quick else 40, 30 if quick else 105, repeats).items()},
        "startup": startup.startup(5 if quick else 21),
    }  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["soak"]:  # `python -m bench soak …`: bench/soak.py
        soak.main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run of each scenario")
    parser.add_argument("--repeats", type=int, help="runs per scenario (default 3, quick 1)")
    parser.add_argument("--only", help="comma-separated scenarios (naive, browser, floor, …)")
    parser.add_argument("--no-scheduled", action="store_true", help="skip the scheduler run")
    parser.add_argument("--no-micro", action="store_true", help="skip lateness/scrape/ingest")
    parser.add_argument("--no-soak", action="store_true", help="skip the short soak of the demo")
    parser.add_argument("--render", metavar="JSON", help="print the table of a saved result")
    args = parser.parse_args()
    if args.render:
        print(table.render(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return
    mode = "quick" if args.quick else "full"
    repeats = args.repeats or (1 if args.quick else 3)
    plan = QUICK if args.quick else FULL
    if args.only:
        plan = [run for run in plan if run.scenario in args.only.split(",")]
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                              "mode": mode, "repeats": repeats, "machine": machine()}  # fmt: skip
    started = time.monotonic()
    with (
        (RESULTS / f"bench-{stamp}.log").open("w") as log,
        simulator(HOSTS, log) as urls,
        simulator(1, log, LATENCY_MS) as slow,
    ):
        result["probes"] = probe_runs(plan, {0: urls[0], LATENCY_MS: slow[0]}, repeats, log)
        if not args.no_scheduled:
            for name, scenario, settings in SCHEDULED[mode]:
                if args.only and scenario not in args.only.split(","):
                    continue
                print(f"  {name}: request engine across hosts", file=sys.stderr, flush=True)
                hosts = int(settings["hosts"])
                params = [x for k, v in settings.items() if k != "hosts" for x in (f"--{k}", v)]
                result[name] = run_child("bench.scheduled", [
                    "--urls", ",".join(urls[:hosts]), "--scenario", scenario, *params
                ], log)  # fmt: skip
    if not args.no_micro:
        print("  screenshot and framing formats", file=sys.stderr, flush=True)
        with (RESULTS / f"bench-{stamp}.log").open("a") as log:
            result["capture"] = run_child("bench.capture", [], log)
        print("  lateness, /metrics, store ingest and size", file=sys.stderr, flush=True)
        result["micro"] = micro_figures(args.quick, repeats)
    if not args.no_soak:  # the long one: `python -m bench soak --minutes 120`
        minutes = 2.0 if args.quick else 5.0
        print(f"  soak: the demo for {minutes:g} min", file=sys.stderr, flush=True)
        result["soak"] = soak.run(minutes, 30.0, minutes / 4)
    result["machine"]["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    result["elapsed_s"] = round(time.monotonic() - started)
    path = RESULTS / f"bench-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table.render(result))
    print(f"\n(saved {path.relative_to(RESULTS.parent.parent)}; {result['elapsed_s']} s)")


if __name__ == "__main__":
    main()
