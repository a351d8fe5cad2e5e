"""The printed table: every figure beside its ratio to the two baselines of the same run.

(a) `naive`: a new browser per probe; (b) `floor`: the same journey as bare HTTP requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import soak

Row = dict[str, Any]
MB = 2**20


def _ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "–"
    ratio = value / base
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def baseline(rows: list[Row], name: str, concurrency: int, latency: int = 0) -> Row | None:
    """The baseline row at the same concurrency and latency, else at concurrency 1."""
    rows = [r for r in rows if r["scenario"] == name and r.get("latency_ms", 0) == latency]
    same = [r for r in rows if r["concurrency"] == concurrency]
    ones = [r for r in rows if r["concurrency"] == 1]
    found = same or ones
    return found[0] if found else None


HEADER = (
    "| scenario | C | probes/min | ×naive | ×floor | CPU-s/probe | naive÷ | ÷floor | CPU p50 "
    "| wall p50 s | p95 s | p50÷floor | peak MB | PSS MB | stored KB/obs | KB/unchanged |"
)


def probe_table(rows: list[Row]) -> list[str]:
    lines = [HEADER, _rule(HEADER)]
    for row in rows:
        latency = row.get("latency_ms", 0)
        naive = baseline(rows, "naive", row["concurrency"]) or {}
        floor = baseline(rows, "floor", row["concurrency"], latency) or {}
        speed, cpu, wall = row["probes_per_min"], row["cpu_s_per_probe"], row["wall_p50_s"]
        cells = [
            row["scenario"] + (f" +{latency} ms" if latency else ""), str(row["concurrency"]),
            _num(speed, 1),
            _ratio(speed, naive.get("probes_per_min")), _ratio(speed, floor.get("probes_per_min")),
            _num(cpu, 3), _ratio(naive.get("cpu_s_per_probe"), cpu),
            _ratio(cpu, floor.get("cpu_s_per_probe")), _num(row.get("cpu_s_per_probe_p50"), 3),
            _num(wall, 3), _num(row["wall_p95_s"], 3),
            _ratio(wall, floor.get("wall_p50_s")), _num(row.get("memory_cgroup_peak_mb"), 0),
            _num(row.get("memory_pss_mb"), 0),
            _kb(row.get("stored_bytes_per_obs")), _kb(row.get("stored_bytes_per_unchanged_obs")),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _kb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1024:,.1f}"


def _rule(header: str) -> str:
    return "|" + "---|" * (header.count("|") - 1)


def kv_table(title: str, values: dict[str, Any]) -> list[str]:
    lines = [f"| {title} | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in values.items() if not isinstance(v, dict | list)]
    return lines


Check = tuple[str, str, Callable[[dict[str, Any]], float | None], Callable[[float], bool]]


def _row(result: dict[str, Any], name: str, concurrency: int = 1, latency: int = 0) -> Row:
    return baseline(result["probes"], name, concurrency, latency) or {}


def _capture_bound(r: dict[str, Any]) -> float | None:
    """Browser wall ÷ (HTTP floor + capture), on the slow site; capture = what a screenshot
    adds to a browser probe (every minus on_change, whose unchanged probes take none)."""
    browser = _row(r, "browser", 1, 300).get("wall_p50_s")
    unchanged = _row(r, "browser_on_change", 1, 300).get("wall_p50_s")
    floor = _row(r, "floor", 1, 300).get("wall_p50_s")
    if not (browser and unchanged and floor):
        return None
    return float(browser / (floor + max(browser - unchanged, 0.0)))


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _memory(r: dict[str, Any]) -> float | None:
    """Peak of the whole worker's cgroup at 4 contexts; its PSS where no cgroup could be made."""
    row = _row(r, "browser", 4)
    peak = row.get("memory_cgroup_peak_mb")
    return float(peak) if peak else row.get("memory_pss_mb")


CHECKS: list[Check] = [
    ("browser probe CPU-s (kept page wiped clean, framed PNG + DOM)", "≤ 1.5",
     lambda r: _row(r, "browser").get("cpu_s_per_probe"), lambda v: v <= 1.5),
    ("browser probe: naive (Playwright's default launch) CPU ÷ browser CPU", "≥ 2.4×",
     lambda r: _div(_row(r, "naive_default").get("cpu_s_per_probe"),
                    _row(r, "browser").get("cpu_s_per_probe")), lambda v: v >= 2.4),
    ("browser probe: naive (our launch flags) CPU ÷ browser CPU", "≥ 2.4×",
     lambda r: _div(_row(r, "naive").get("cpu_s_per_probe"),
                    _row(r, "browser").get("cpu_s_per_probe")), lambda v: v >= 2.4),
    ("browser probe: new-context CPU ÷ browser CPU", "≥ 2×",
     lambda r: _div(_row(r, "browser_fresh").get("cpu_s_per_probe"),
                    _row(r, "browser").get("cpu_s_per_probe")), lambda v: v >= 2),
    ("browser wall p50 ÷ (HTTP floor + capture), pages +300 ms", "≤ 1.5×",
     _capture_bound, lambda v: v <= 1.5),
    ("request engine, all probes (renders included): browser CPU ÷ request CPU", "≥ 20×",
     lambda r: _div(_row(r, "browser").get("cpu_s_per_probe"),
                    _row(r, "request_on_change").get("cpu_s_per_probe")), lambda v: v >= 20),
    ("request engine, typical probe: browser CPU p50 ÷ request CPU p50", "≥ 20×",
     lambda r: _div(_row(r, "browser").get("cpu_s_per_probe_p50"),
                    _row(r, "request_on_change").get("cpu_s_per_probe_p50")), lambda v: v >= 20),
    ("request engine under the scheduler, probes/min", "≥ 400",
     lambda r: (r.get("scheduled") or {}).get("probes_per_min"), lambda v: v >= 400),
    ("issue 20: request engine (aiohttp) CPU-s per probe, `on_change` (renders included)", "≤ 0.02",
     lambda r: _row(r, "aiohttp_on_change").get("cpu_s_per_probe"), lambda v: v <= 0.02),
    ("issue 20: request engine (aiohttp) CPU-s, typical probe (p50)", "≤ 0.02",
     lambda r: _row(r, "aiohttp_on_change").get("cpu_s_per_probe_p50"), lambda v: v <= 0.02),
    ("issue 20: request engine (aiohttp) under the scheduler, 2,000/min asked, probes/min",
     "≥ 1,500", lambda r: (r.get("scheduled 2,000/min aiohttp") or {}).get("probes_per_min"),
     lambda v: v >= 1500),
    ("issue 20: the same, scheduling lateness p99, s", "< 2",
     lambda r: (r.get("scheduled 2,000/min aiohttp") or {}).get("lateness_p99_s"),
     lambda v: v < 2),
    ("memory (cgroup peak, Chromium included) at 4 concurrent browser contexts, MB", "≤ 600",
     _memory, lambda v: v <= 600),
    ("stored per unchanged observation under on_change (request), KB", "≤ 25",
     lambda r: _div(_row(r, "request_on_change").get("stored_bytes_per_unchanged_obs"), 1024),
     lambda v: v <= 25),
    ("stored per unchanged observation under on_change (browser), KB", "≤ 25",
     lambda r: _div(_row(r, "browser_on_change").get("stored_bytes_per_unchanged_obs"), 1024),
     lambda v: v <= 25),
    ("store ingest on SQLite, observations/s (append_many by 500; CPU-s of the process)",
     "≥ 20,000", lambda r: (r.get("micro", {}).get("ingest (sqlite)") or {}).get(
         "cpu_per_second_batched"), lambda v: v >= 20_000),
    ("store ingest on PostgreSQL, observations/s (append_many by 500, COPY; wall)",
     "≥ 20,000", lambda r: (r.get("micro", {}).get("ingest (postgresql)") or {}).get(
         "per_second_batched"), lambda v: v >= 20_000),
    ("bytes on disk per unchanged observation, database + evidence (SQLite, compressed)",
     "≤ 300", lambda r: (r.get("micro", {}).get("storage (sqlite compressed)") or {}).get(
         "bytes_per_obs"), lambda v: v <= 300),
    ("the same, allocated blocks (a small evidence file takes a whole block)",
     "≤ 300", lambda r: (r.get("micro", {}).get("storage (sqlite compressed)") or {}).get(
         "allocated_per_obs"), lambda v: v <= 300),
    ("/metrics for 2,000 targets, ms", "< 100",
     lambda r: (r.get("micro", {}).get("scrape") or {}).get("median_ms"), lambda v: v < 100),
    ("`watchdog --help`, median s (baseline `python -c pass` in the startup row)", "< 0.5",
     lambda r: (r.get("micro", {}).get("startup") or {}).get("help_s"), lambda v: v < 0.5),
]  # fmt: skip


def capture_table(capture: dict[str, dict[str, float]]) -> list[str]:
    """Screenshot formats: the raw capture stays lossless PNG; what a cheaper copy would save."""
    lines = ["| capture (item 4) | CPU-s | wall s | KB |", "|---|---|---|---|"]
    for label, v in capture.items():
        cpu = v.get("cpu_s", v.get("encode_cpu_s"))
        kind = "" if "cpu_s" in v else " (encode only)"
        lines.append(f"| {label}{kind} | {_num(cpu, 3)} | {_num(v.get('wall_s'), 3)} "
                     f"| {_num(v.get('kb'), 1)} |")  # fmt: skip
    return lines


def targets_table(result: dict[str, Any]) -> list[str]:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for label, goal, read, ok in CHECKS:
        value = read(result)
        shown = "not measured" if value is None else f"{value:,.2f}"
        met = "–" if value is None else ("yes" if ok(value) else "no")
        lines.append(f"| {label} | {goal} | {shown} | {met} |")
    return lines


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    parts = [
        f"prefecture-watchdog bench — {result['date']} — {machine['cpu']} × {machine['cores']}, "
        f"{machine['memory_gb']} GB, {machine['os']}; load average {machine['load_before']} "
        f"before, {machine['load_after']} after; Chromium {machine['chromium']}, "
        f"Playwright {machine['playwright']}; medians of {result['repeats']} run(s)",
        "",
        *probe_table(result["probes"]),
        "",
    ]
    for name in (key for key in result if key.startswith("scheduled")):
        parts += [*kv_table(f"request engine under the scheduler ({name})", result[name]), ""]
    if result.get("capture"):
        parts += [*capture_table(result["capture"]), ""]
    for name, values in result.get("micro", {}).items():
        parts += [*kv_table(name, values), ""]
    if result.get("soak"):
        parts += [soak.render(result["soak"]), ""]
    parts += targets_table(result)
    return "\n".join(parts)
