"""Report and verify over a year of 200 targets, 10 M observations (issue 20, item 5; no test).

    python -m bench.scale                       # 10 M observations (bench/bigstore.py, reused)
    python -m bench.scale --pdf                 # the report's PDF too (Chromium)
    python -m bench.scale --observations 1000000 --targets 20 --days 90 --skip-verify

Everything timed is the command line an operator runs, in a process of its own:
`watchdog report --from … --to … --format html[,pdf]` over the whole year and every target
(what it does: count the observed window, compute the statistics of the period and of the
previous one, the slot lifetimes, the examples, render the HTML, and with --pdf print it
twice with Chromium), then `watchdog verify --progress` (full: every chain, every
document re-hashed, every column copy checked), then, after `--new` observations appended
through `Store.append_many` (one round of national coverage) and a new checkpoint,
`watchdog verify --since-checkpoint --progress`.

Each command runs under GNU time: wall seconds, CPU seconds (user + system, its children
included: Chromium for the PDF) and the peak resident set of its largest process. The load
average is read before each. Results are printed and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import bigstore
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.store import Store
from watchdog.store import checkpoint as checkpoints

RESULTS = Path(__file__).resolve().parent / "results"
CLI = "import sys; from watchdog.cli.main import main; sys.exit(main())"  # `watchdog`
TIME_FORMAT = '{"wall_s": %e, "user_s": %U, "system_s": %S, "peak_rss_kb": %M}'


def config_file(data: Path, targets: list[str]) -> Path:
    """A configuration naming the store and its targets (what `watchdog report` selects)."""
    lines = ["watchdog:", f"  data_dir: {data}", '  allowed_hosts: ["*.gouv.fr"]', "targets:"]
    for n, target in enumerate(targets):
        lines += [
            f"  - id: {target}", f'    department: "{_department(n)}"',
            f"    prefecture: Préfecture {n:03d}",
            f"    procedure: {('premiere_demande', 'renouvellement', 'etudiant')[n % 3]}",
            "    label: Titre de séjour", "    platform: legacy_booking",
            f"    url: https://www.{target}.gouv.fr/booking/create/7/0",
        ]  # fmt: skip
    path = data.parent / f"{data.name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _department(n: int) -> str:
    code = n % 95 + 1
    return "2A" if code == 20 else f"{code:02d}"  # there is no département 20


def timed(label: str, args: list[str], log: Path, code: Path | None = None) -> dict[str, Any]:
    """Run `watchdog args` (this interpreter's; with `code`, the watchdog of that source
    tree: a baseline) under GNU time; its figures, the load before it."""
    load = os.getloadavg()
    figures = log.with_suffix(f".{label}.time")
    command = ["/usr/bin/time", "-o", str(figures), "-f", TIME_FORMAT,
               sys.executable, "-c", CLI, *args]  # fmt: skip
    print(f"bench.scale: {label}: {' '.join(args)}", file=sys.stderr, flush=True)
    with log.open("a") as out:
        out.write(f"\n=== {label}: {' '.join(args)}\n")
        out.flush()
        env = {**os.environ, "PYTHONPATH": str(code)} if code else None
        done = subprocess.run(command, stdout=out, stderr=out, check=False, cwd=code, env=env)
    result: dict[str, Any] = json.loads(figures.read_text().strip().splitlines()[-1])
    result["cpu_s"] = round(result.pop("user_s") + result.pop("system_s"), 2)
    result["peak_rss_mb"] = round(result.pop("peak_rss_kb") / 1024, 1)
    result["load_before"] = [round(x, 1) for x in load]
    result["returncode"] = done.returncode
    print(f"bench.scale: {label}: {result}", file=sys.stderr, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"bench.scale: {label} failed (rc {done.returncode}), see {log}")
    return result


def append_round(data: Path, targets: list[str], new: int, days: int) -> None:
    """`new` observations through the store (after the generated year), then a checkpoint."""
    at = bigstore.START + timedelta(days=days) + timedelta(hours=time.time() % 1e6 / 3600)
    with Store.open(data) as store:
        store.append_many([
            Observation(
                id=f"scale-{at:%Y%m%d%H%M%S}-{n:06d}", target=targets[n % len(targets)],
                outcome=Outcome.NO_SLOT, detail="no_slot", started_at=at + timedelta(seconds=n),
                finished_at=at + timedelta(seconds=n + 1), duration_s=1.0,
                env=Env(software="bench-scale", simulated=True),
            )
            for n in range(new)
        ])  # fmt: skip
        checkpoints.write(store)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = args.data or bigstore.default_dir(args.observations, args.targets, args.days)
    bigstore.build(data, args.observations, args.targets, args.days, args.workers)
    targets = bigstore.target_ids(args.targets)
    config = config_file(data, targets)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"scale-{stamp}.log"
    first = bigstore.START.date()
    last = first + timedelta(days=args.days - 1)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "store": str(data),
        "store_bytes": sum(f.stat().st_size for f in data.iterdir() if f.is_file()),
        "observations": args.observations, "targets": args.targets, "days": args.days,
        "cores": os.cpu_count(),
    }  # fmt: skip
    formats = "html,pdf" if args.pdf else "html"
    report = ["report", "--config", str(config), "--from", first.isoformat(),
              "--to", last.isoformat(), "--format", formats,
              "--out", str(data.parent / f"{data.name}-report")]  # fmt: skip
    for n in range(0 if args.skip_report else args.repeats):  # the baseline and this tree alternate
        if args.baseline:
            result.setdefault("report_baseline", []).append(
                timed(f"baseline{n}", report, log, args.baseline)
            )
        result.setdefault("report", []).append(timed(f"report{n}", report, log))
    if not args.skip_verify:
        (data / checkpoints.VERIFIED_FILE).unlink(missing_ok=True)
        with Store.open(data) as store:
            checkpoints.write(store, force=True)
        result["verify_full"] = timed(
            "verify", ["verify", "--config", str(config), "--progress"], log
        )
        append_round(data, targets, args.new, args.days)
        result["new"] = args.new
        result["verify_since_checkpoint"] = timed(
            "verify-since", ["verify", "--config", str(config), "--since-checkpoint", "--progress"],
            log,
        )  # fmt: skip
    result["load_after"] = [round(x, 1) for x in os.getloadavg()]
    path = RESULTS / f"scale-{stamp}.json"
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    print(f"(saved {path}; command output in {log})", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2, help="processes generating the store")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--pdf", action="store_true", help="the report's PDF too")
    parser.add_argument("--repeats", type=int, default=1, help="report runs")
    parser.add_argument("--new", type=int, default=2000, help="appended before the incremental")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR",
        help="a source tree of the watchdog (e.g. `git archive main | tar -x -C DIR`) whose "
        "report runs before each of this tree's",
    )  # fmt: skip
    run(parser.parse_args())


if __name__ == "__main__":
    main()
