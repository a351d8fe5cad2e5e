"""Render dashboard panels to PNG from the real Prometheus data of a short run (for README).

    .venv/bin/python scripts/render_panels.py [--minutes 4] [--out docs/images]

Starts the same stack as tests/test_stack_live.py (simulator, `watchdog run`, Debian's
Prometheus on loopback with a 1 s scrape), lets it probe for a few minutes, then runs the
panels' own PromQL (taken from the generated dashboards) through Prometheus' HTTP API and
draws them with matplotlib. No mock-up: every point comes from that run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from stack import Stack, running_stack  # noqa: E402

from watchdog.dashboards import build_all  # noqa: E402
from watchdog.domain.departements import departements  # noqa: E402

ALL = {"department": ".*", "procedure": ".*", "target": ".*", "platform": ".*"}
# (file name, dashboard, panel title) of the time series drawn.
PANELS = [
    ("national-rates.png", "national.json", "Taux nationaux (moyenne glissante sur 24 h)"),
    ("national-outcomes.png", "national.json",
     "Issues des tentatives, toutes démarches (par heure)"),
    ("prefecture-no-slot.png", "prefecture.json", "Taux « aucun créneau »"),
    ("sre-durations.png", "sre.json", "Durée d'une sonde par plateforme"),
    ("health-lateness.png", "probe-health.json", "Retard des sondes sur leur planning"),
]  # fmt: skip


def panel(dashboard: str, title: str) -> dict[str, Any]:
    model = build_all()[dashboard]
    found: dict[str, Any] = next(p for p in model["panels"] if p["title"] == title)
    return found


def expr_of(target: dict[str, Any]) -> str:
    expr = str(target["expr"]).replace("$__rate_interval", "30s")
    for name, value in ALL.items():
        expr = expr.replace(f"${name}", value)
    return expr


def legend(metric: dict[str, str], template: str) -> str:
    text = template or "{{__name__}}"
    for key, value in metric.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def draw_series(stack: Stack, spec: tuple[str, str, str], span: float, out: Path) -> Path:
    name, dashboard, title = spec
    chosen = panel(dashboard, title)
    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=110)
    for target in chosen["targets"]:
        for series in stack.query(expr_of(target), instant=False, span=span):
            points = [(datetime.fromtimestamp(t, UTC), float(v)) for t, v in series["values"]]
            if points and any(v for _, v in points):  # all-zero series only clutter
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=legend(series["metric"], target.get("legendFormat", "")))
    unit = chosen["fieldConfig"]["defaults"].get("unit", "")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(
        {"percentunit": "part (0–1)", "s": "secondes", "short": "par heure"}.get(unit, "")
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = out / name
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_map(stack: Stack, out: Path) -> Path:
    """The national map's data: département centroids coloured by the 7-day no-slot rate."""
    answer = stack.query("department:watchdog_no_slot_ratio:rate7d", instant=True)
    rates = {r["metric"]["department"]: float(r["value"][1]) for r in answer}
    metro = [d for d in departements() if not d.code.startswith("97")]
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    ax.scatter([d.lon for d in metro], [d.lat for d in metro], s=12, color="#cccccc")
    shown = [d for d in metro if d.code in rates]
    dots = ax.scatter([d.lon for d in shown], [d.lat for d in shown], s=140, vmin=0, vmax=1,
                      c=[rates[d.code] for d in shown], cmap="RdYlGn_r")  # fmt: skip
    for d in shown:
        ax.annotate(f"{d.code} · {rates[d.code]:.0%}", (d.lon, d.lat), fontsize=8,
                    xytext=(6, 6), textcoords="offset points")  # fmt: skip
    fig.colorbar(dots, ax=ax, shrink=0.7, label="taux « aucun créneau », 7 jours")
    ax.set_title("Taux « aucun créneau » sur 7 jours, par département", fontsize=10)
    ax.set_aspect(1.45)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    path = out / "national-map.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    parser.add_argument("--scenario", choices=["demo", "all"], default="demo",
                        help="demo (default): demo scenario; all: the test targets")  # fmt: skip
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        running_stack(Path(folder), demo=args.scenario == "demo") as stack,
    ):
        started = time.time()
        print(f"probing the {args.scenario} scenario for {args.minutes} min…", flush=True)
        time.sleep(args.minutes * 60)  # a script, not a test: it waits for data to accumulate
        span = time.time() - started
        paths = [draw_series(stack, spec, span, out) for spec in PANELS]
        paths.append(draw_map(stack, out))
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
