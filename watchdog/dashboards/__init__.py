"""Grafana dashboards as code (grafana-foundation-sdk), written to JSON by
`watchdog dashboards build` and uploaded by `watchdog dashboards push`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from watchdog.dashboards import health, national, prefecture, sre
from watchdog.dashboards.common import to_json

BUILDERS = {
    "national.json": national.build,
    "prefecture.json": prefecture.build,
    "sre.json": sre.build,
    "probe-health.json": health.build,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by file name."""
    return {name: to_json(build()) for name, build in BUILDERS.items()}


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in build_all().items():
        path = out / name
        path.write_text(json.dumps(model, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
