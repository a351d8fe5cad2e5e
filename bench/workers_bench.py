"""Scale-out throughput: probes per minute with 1 and 2 `watchdog worker` processes (issue 17).

    python -m bench.workers_bench                        # 1 then 2 workers, 60 s each
    python -m bench.workers_bench --workers 1,2,4 --seconds 120 --targets 90

Starts `--hosts` simulators (each its own process and host:port) serving `--targets` quick
legacy journeys, then for each worker count: a fresh PostgreSQL schema (WATCHDOG_TEST_PG_URL or
--pg-url, as the tests use), that many `watchdog worker` processes on the request engine,
a warm-up until every target has one observation, then `--seconds` of counting. The demand
(targets × 60 / interval) is set above what the workers can carry, so the figure is their
throughput; the per-host budget is loose (600/min, 4 at once) so that it does not bind.

Prints one JSON line per worker count: recorded probes per minute, the demand, outcomes, and
the time from a job's start to its probe's start (claim, host token, the queue's share of a
probe), p50 and p99. Figures are printed, never asserted: a shared machine is noisy (the load
average is printed beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from watchdog.store import Store
from watchdog.workers import rows

WATCHDOG = str(Path(sys.executable).with_name("watchdog"))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def start_simulators(
    folder: Path, hosts: int, per_host: int
) -> list[tuple[subprocess.Popen[bytes], int]]:
    scenario = folder / "scenario.yaml"
    targets = [
        {"key": f"b{i}", "platform": "legacy_booking", "id": 9300 + i,
         "behaviour": [{"state": "no_slot"}]}
        for i in range(per_host)
    ]  # fmt: skip
    scenario.write_text(yaml.safe_dump({"simulated": True, "seed": 1, "targets": targets}))
    started = []
    for _ in range(hosts):
        port = free_port()
        proc = subprocess.Popen(
            [WATCHDOG, "simulate", "--scenario", str(scenario), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append((proc, port))
    for _, port in started:
        wait_for(lambda p=port: answers(f"http://127.0.0.1:{p}/__sim/health"), 30, "a simulator")
    return started


def write_config(folder: Path, url: str, ports: list[int], args: argparse.Namespace) -> Path:
    per_host = -(-args.targets // len(ports))
    targets = [
        {"id": f"t{n:03d}", "department": "93", "prefecture": "Seine-Saint-Denis",
         "procedure": "premiere_demande", "label": f"Banc {n}", "platform": "legacy_booking",
         "url": f"http://127.0.0.1:{ports[n % len(ports)]}/booking/create/"
                f"{9300 + n // len(ports) % per_host}/0",
         "interval": f"{args.interval}s", "engine": "request"}
        for n in range(args.targets)
    ]  # fmt: skip
    body = {
        "watchdog": {"data_dir": str(folder / "data"), "database_url": url,
                     "allowed_hosts": ["127.0.0.1"], "min_interval": "1s", "simulated": True},
        "politeness": {"per_host": {"requests_per_minute": 600, "concurrent": 4}},
        "probing": {"screenshots": "daily"},
        "scheduler": {"grace_period": "5s"},
        "workers": {"concurrency": args.concurrency, "dispatch_every": "1s", "heartbeat": "2s",
                    "stalled_after": "10s"},
        "targets": targets,
    }  # fmt: skip
    path = folder / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def measure(count: int, ports: list[int], args: argparse.Namespace) -> dict[str, Any]:
    admin = sa.create_engine(args.pg_url)
    schema = f"wd_bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="wd-workers-"))
    config = write_config(folder, rendered, ports, args)
    workers = [
        subprocess.Popen(
            [WATCHDOG, "worker", "--config", str(config), "--name", f"bench{n}", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]
    store = Store.open(folder / "data", rendered)
    try:
        wait_for(lambda: len(store.targets()) == args.targets, 120, "every target once")
        first, started = store.count(), time.monotonic()
        time.sleep(args.seconds)  # a benchmark's window, not a test's wait
        last, took = store.count(), time.monotonic() - started
        return summary(store, count, (last - first) * 60 / took, args)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.wait(60)
        store.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def summary(store: Store, count: int, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    observations = {o.id: o for o in store.iter_observations()}
    with store.engine.connect() as conn:
        claims = list(conn.execute(sa.select(rows.probes.c.observation, rows.probes.c.started_at)))
    waits = sorted(
        observations[c.observation].started_at.timestamp() - c.started_at
        for c in claims
        if c.observation in observations
    )
    outcomes = Counter(f"{o.outcome.value}/{o.detail}" for o in observations.values())
    return {
        "workers": count,
        "concurrency": args.concurrency,
        "probes_per_min": round(rate, 1),
        "demand_per_min": round(args.targets * 60 / args.interval, 1),
        "job_start_to_probe_p50_ms": round(1000 * statistics.median(waits), 1) if waits else None,
        "job_start_to_probe_p99_ms": round(1000 * waits[int(0.99 * (len(waits) - 1))], 1)
        if waits else None,
        "outcomes": dict(outcomes.most_common()),
        "load_average": os.getloadavg(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (1,2)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker")
    parser.add_argument("--targets", type=int, default=60)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--interval", type=int, default=2, help="seconds between a target's probes")
    parser.add_argument("--seconds", type=float, default=60.0, help="counting window per run")
    parser.add_argument("--pg-url", default=os.environ.get("WATCHDOG_TEST_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wd-sims-") as tmp:
        per_host = -(-args.targets // args.hosts)
        sims = start_simulators(Path(tmp), args.hosts, per_host)
        try:
            for count in (int(n) for n in args.workers.split(",")):
                print(json.dumps(measure(count, [port for _, port in sims], args)), flush=True)
        finally:
            for proc, _ in sims:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
