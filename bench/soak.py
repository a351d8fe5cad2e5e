"""Soak (issue 20, item 7): the demo at demo cadence for a long while, sampled every minute.

    python -m bench soak                        # 3 minutes (what `python -m bench` runs)
    python -m bench soak --minutes 120          # the two-hour soak
    make bench BENCH_ARGS="soak --minutes 120"

It runs `watchdog demo --minutes N` (the bundled scenario, real Chromium, the real daemon) in
a memory cgroup of its own and, every `--every` seconds, reads the whole process tree: the
cgroup's usage (page cache included) and its anonymous + shared memory, the tree's PSS
(/proc/<pid>/smaps_rollup: pages shared between Chromium's processes counted once), and the
processes in it by kind (Python, Playwright's driver, Chromium by --type, zombies). It prints
one row per sample, then a verdict: after the warm-up (`--warmup` minutes), memory's medians
(the cgroup's anonymous + shared memory; PSS where there is no cgroup, `verdict`)
over 10-minute windows stay within ±10 % of the first window's (a single sample swings with
Chromium's captures; the samples' own spread is reported beside it) and the process count
does not grow. Samples stop when
the probing stops (the demo then writes its report, which is not the soak's concern).
JSON under bench/results/. Figures are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.procs import MemoryCgroup, rollup, tree

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 0.10
TRENDS = ("pss_mb", "cgroup_anon_mb", "processes", "threads")
WINDOW_MINUTES = 10.0  # memory is judged by its median over windows this long
TREND_MINUTES = 10  # a trend per hour is shown only over at least this long after warm-up
MB = 2**20


def kind(pid: int) -> str:
    """What a process of the tree is: python, node (Playwright's driver), chromium:<type>."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return "gone"
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    if stat[stat.rindex(")") + 2] == "Z":
        return f"{name} <defunct>"
    if name.startswith("chrom"):
        words = b" ".join(argv).split()  # Chromium rewrites its title: one space-joined arg
        types = [a.decode(errors="replace") for a in words if a.startswith(b"--type=")]
        sub = [a.decode(errors="replace") for a in words if a.startswith(b"--utility-sub-type=")]
        label = types[0].removeprefix("--type=") if types else "browser"
        if sub:
            label += "/" + sub[0].removeprefix("--utility-sub-type=").split(".")[-1]
        return f"chromium:{label}"
    return name


def threads(pid: int) -> int:
    """Threads of one process (an executor's threads are threads, not processes)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def sample(root: int, group: MemoryCgroup | None, started: float) -> dict[str, Any]:
    pids = tree(root)
    named = {pid: kind(pid) for pid in pids}
    pss = {pid: rollup(pid)[0] for pid in pids}  # one pass: the totals and each kind's share
    kinds = Counter(name for name in named.values() if name != "gone")
    by_kind: Counter[str] = Counter()
    for pid, name in named.items():
        by_kind[name] += pss[pid]
    in_group = len(group.pids()) if group else None
    usage = group.usage_bytes() if group else None
    anon = group.anon_bytes() if group else None
    return {
        "minute": round((time.monotonic() - started) / 60, 2),
        "pss_mb_by_kind": {name: round(v / MB, 1) for name, v in sorted(by_kind.items()) if v},
        "processes": sum(kinds.values()),
        "processes_in_cgroup": in_group,  # crashpad handlers leave the tree (re-parented)
        "threads": sum(threads(pid) for pid in pids),
        "python_threads": threads(root),
        "pss_mb": round(sum(pss.values()) / MB, 1),
        "cgroup_mb": round(usage / MB, 1) if usage is not None else None,
        "cgroup_anon_mb": round(anon / MB, 1) if anon is not None else None,
        "load": round(os.getloadavg()[0], 2),
        "kinds": dict(sorted(kinds.items())),
    }


def verdict(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """Flat after warm-up: memory's medians over windows of WINDOW_MINUTES stay within ±10 %
    of the first window's, and the process count does not grow.

    Memory is judged by the cgroup's anonymous + shared memory where the soak has a cgroup:
    the kernel's count of what this tree holds. PSS is reported beside it but judges only
    where there is no cgroup: a process's PSS divides each shared page among every process
    mapping it, so it moves when other programs running the same Chromium binary start or
    end (the second two-hour soak's PSS stepped +18 % at one minute while the cgroup's
    memory did not move).

    Medians, not single samples: Chromium's browser process and renderers move by 40–70 MB
    from one minute to the next as captures come and go, with no trend, so a rule on single
    samples judges that swing rather than a leak. The single samples' spread is still
    reported (`samples_within_10_percent`), and so is the trend per hour."""
    after = [s for s in samples if s["minute"] >= warmup]
    if len(after) < 2:
        return {"flat": None, "why": f"fewer than two samples after {warmup:g} min of warm-up"}
    span = after[-1]["minute"] - after[0]["minute"]
    window = min(WINDOW_MINUTES, span / 2) or 1.0  # at least two windows
    result: dict[str, Any] = {"samples_after_warmup": len(after), "window_minutes": window}
    flat = True
    judged = "cgroup_anon_mb" if any(s["cgroup_anon_mb"] is not None for s in after) else "pss_mb"
    result["judged_by"] = judged
    for key in ("pss_mb", "cgroup_anon_mb"):
        timed = [(s["minute"], s[key]) for s in after if s[key] is not None]
        if not timed:
            continue
        values = [v for _, v in timed]
        medians = _window_medians(timed, after[0]["minute"], window)
        base = medians[0]
        within = all(abs(m / base - 1) <= TOLERANCE for m in medians)
        result[key] = {
            "first_window_median": base, "window_medians": medians,
            "min": min(values), "max": max(values), "last": values[-1],
            "within_10_percent": within,
            "samples_within_10_percent": all(abs(v / values[0] - 1) <= TOLERANCE for v in values),
        }  # fmt: skip
        if key == judged:
            flat &= within
    counts = [s["processes"] for s in after]
    grows = counts[-1] > counts[0]
    result["processes"] = {"first": counts[0], "max": max(counts), "last": counts[-1],
                           "grows": grows}  # fmt: skip
    result["flat"] = flat and not grows
    if span >= TREND_MINUTES:  # shorter: noise, not trend
        for key in TRENDS:
            result[f"{key}_per_hour"] = _slope(after, key)
    return result


def _window_medians(timed: list[tuple[float, float]], start: float, window: float) -> list[float]:
    """The median of each consecutive `window`-minute stretch from `start` (empty ones skipped);
    a last stretch shorter than half a window joins the one before."""
    groups: dict[int, list[float]] = {}
    for minute, value in timed:
        groups.setdefault(int((minute - start) // window), []).append(value)
    keys = sorted(groups)
    last = keys[-1]
    if len(keys) > 1 and timed[-1][0] - (start + last * window) < window / 2:
        groups[keys[-2]] += groups.pop(last)
    return [round(statistics.median(v), 1) for _, v in sorted(groups.items())]


def _slope(samples: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares trend of `key` per hour: a leak climbs, noise does not."""
    points: list[tuple[float, float]] = [
        (s["minute"] / 60, s[key]) for s in samples if s.get(key) is not None
    ]
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if not spread:
        return None
    return round(sum((t - mean_t) * (v - mean_v) for t, v in points) / spread, 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(minutes: float, every: float, warmup: float) -> dict[str, Any]:
    group = MemoryCgroup.create()
    with tempfile.TemporaryDirectory(prefix="wd-soak-") as tmp:
        log = open(Path(tmp) / "demo.log", "w", encoding="utf-8")  # noqa: SIM115
        argv = [sys.executable, "-m", "watchdog.cli.main", "demo", "--minutes", f"{minutes:g}",
                "--data", str(Path(tmp) / "demo"), "--port", str(_free_port())]  # fmt: skip
        child = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=group.join if group else None,
        )  # fmt: skip
        started = time.monotonic()
        samples: list[dict[str, Any]] = []
        try:
            while child.poll() is None and time.monotonic() - started < minutes * 60:
                samples.append(sample(child.pid, group, started))
                _print_row(samples[-1])
                deadline = started + len(samples) * every
                while child.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.5)
            child.wait(timeout=minutes * 60 + 600)
        finally:  # interrupted: the demo stops as on SIGTERM (its browser with it), then the group
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    child.kill()
            log.close()
            if group:
                group.leave()
        tail = (Path(tmp) / "demo.log").read_text(encoding="utf-8", errors="replace")
    return {"minutes": minutes, "every_s": every, "warmup_min": warmup, "exit_code":
            child.returncode, "samples": samples, "verdict": verdict(samples, warmup),
            "demo_tail": tail.splitlines()[-15:]}  # fmt: skip


def _print_row(s: dict[str, Any]) -> None:
    print(f"  {s['minute']:6.2f} min  {s['processes']:3d} processes ({s['processes_in_cgroup']} in "
          f"the cgroup, {s['threads']} threads)  PSS {s['pss_mb']:7.1f} MB  "
          f"cgroup {s['cgroup_mb']} MB (anon+shmem {s['cgroup_anon_mb']} MB)  load {s['load']}",
          file=sys.stderr, flush=True)  # fmt: skip


def render(result: dict[str, Any]) -> str:
    lines = [
        f"soak: `watchdog demo --minutes {result['minutes']:g}`, a sample every "
        f"{result['every_s']:g} s, warm-up {result['warmup_min']:g} min; demo exit code "
        f"{result['exit_code']}",
        "",
        "| minute | processes (cgroup) | threads (python) | PSS MB | cgroup MB "
        "| cgroup anon+shmem MB | load | kinds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in result["samples"]:
        kinds = ", ".join(f"{k} {v}" for k, v in s["kinds"].items())
        lines.append(f"| {s['minute']:.1f} | {s['processes']} ({s['processes_in_cgroup']}) "
                     f"| {s['threads']} ({s['python_threads']}) | {s['pss_mb']} | {s['cgroup_mb']} "
                     f"| {s['cgroup_anon_mb']} | {s['load']} | {kinds} |")  # fmt: skip
    v = result["verdict"]
    lines.append("")
    if v["flat"] is None:
        lines.append(f"verdict: not judged ({v['why']})")
    else:
        lines.append(f"verdict: {'FLAT' if v['flat'] else 'NOT FLAT'} after warm-up, memory "
                     f"judged by {v['judged_by']} — "
                     + "; ".join(f"{k} {json.dumps(v[k])}" for k in
                                 ("pss_mb", "cgroup_anon_mb", "processes") if k in v))  # fmt: skip
        trends = [(k, v.get(f"{k}_per_hour")) for k in TRENDS]
        shown = ", ".join(f"{k} {t:+}" for k, t in trends if t is not None)
        lines.append(f"trend per hour after warm-up: {shown or f'none under {TREND_MINUTES} min'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the demo probes")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, help="minutes left out of the verdict "
                        "(default: a quarter of the run, at most 10)")  # fmt: skip
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(args.minutes / 4, 10.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `run` cleans up
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    result = run(args.minutes, args.every, warmup)
    result |= {"date": datetime.now(UTC).isoformat(timespec="seconds"),
               "load_before": load_before,
               "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg())}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"soak-{stamp}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render(result))
    print(f"\n(saved {path.relative_to(RESULTS.parent.parent)})")


if __name__ == "__main__":
    main()
