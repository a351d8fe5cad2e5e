"""Dashboards as code: the generated JSON is structurally sound (unique ids, grid, data
sources, variables), matches the committed files, and the map's data covers every
département the configuration accepts. Queries are run for real in test_stack_live.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from watchdog.dashboards import build_all
from watchdog.dashboards.common import TESTDATA_UID
from watchdog.domain.departements import csv_text, departements
from watchdog.domain.target import Target

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
BUILT = build_all()
PROMETHEUS_REF = {"type": "prometheus", "uid": "${datasource}"}
TESTDATA_REF = {"type": "grafana-testdata-datasource", "uid": TESTDATA_UID}
MIXED_REF = {"type": "datasource", "uid": "-- Mixed --"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return list(model["panels"])


@pytest.fixture(params=sorted(BUILT), ids=str)
def model(request: pytest.FixtureRequest) -> dict[str, Any]:
    return BUILT[request.param]


def test_four_dashboards_with_distinct_uids_and_french_titles() -> None:
    assert sorted(BUILT) == ["national.json", "prefecture.json", "probe-health.json", "sre.json"]
    uids = [m["uid"] for m in BUILT.values()]
    assert len(set(uids)) == len(uids)
    for m in BUILT.values():
        assert m["title"].startswith("Rendez-vous en préfecture — ")
        assert m["timezone"] == "Europe/Paris"


def test_panel_ids_are_unique(model: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(model)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)


def test_grid_positions_fit_the_grid_and_never_overlap(model: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in panels(model):
        g = panel["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_every_panel_has_a_title_description_unit_and_known_data_sources(
    model: dict[str, Any],
) -> None:
    for panel in panels(model):
        assert panel["title"] and panel.get("description"), panel
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        refs = [t["datasource"] for t in panel["targets"]]
        assert refs and all(ref in (PROMETHEUS_REF, TESTDATA_REF) for ref in refs), panel["title"]
        expected = refs[0] if all(ref == refs[0] for ref in refs) else MIXED_REF
        assert panel["datasource"] == expected, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_variable_a_query_uses_is_defined(model: dict[str, Any]) -> None:
    defined = {v["name"] for v in model["templating"]["list"]}
    used = set()
    for panel in panels(model):
        for target in panel["targets"]:
            used |= set(re.findall(r"\$\{?(\w+)", target.get("expr", "")))
        used |= set(re.findall(r"\$\{?(\w+)", json.dumps(panel["datasource"])))
    for variable in model["templating"]["list"]:
        used |= set(re.findall(r"\$(\w+)", str(variable.get("query", ""))))
    assert used - BUILTIN_VARIABLES <= defined
    assert "datasource" in defined


def test_the_prefecture_drill_down_filters_on_department_procedure_and_target() -> None:
    model = BUILT["prefecture.json"]
    names = [v["name"] for v in model["templating"]["list"]]
    assert names == ["datasource", "department", "procedure", "target"]
    for panel in panels(model):
        for target in panel["targets"]:
            assert '=~"$target"' in target["expr"], panel["title"]


def test_the_map_joins_the_seven_day_rate_with_the_shipped_centroids() -> None:
    geomap = next(p for p in panels(BUILT["national.json"]) if p["type"] == "geomap")
    exprs = [t.get("expr") for t in geomap["targets"]]
    assert "department:watchdog_no_slot_ratio:rate7d" in exprs
    csv_query = next(t for t in geomap["targets"] if t["datasource"] == TESTDATA_REF)
    assert csv_query["scenarioId"] == "csv_content" and csv_query["csvContent"] == csv_text()
    assert geomap["transformations"] == [
        {"id": "joinByField", "options": {"byField": "department", "mode": "inner"}}
    ]
    layer = geomap["options"]["layers"][0]
    assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}


def test_the_centroids_cover_every_department_code_the_configuration_accepts() -> None:
    pattern = Target.model_fields["department"].metadata[0].pattern
    candidates = (
        [f"{n:02d}" for n in range(1, 100)] + ["2A", "2B"] + [str(n) for n in range(970, 990)]
    )
    # The pattern also lets "20" through, which has not been a département since 1976 (Corsica
    # is 2A and 2B): the map has no marker for it.
    accepted = {code for code in candidates if re.fullmatch(pattern, code)} - {"20"}
    rows = departements()
    codes = [d.code for d in rows]
    assert len(codes) == len(set(codes))
    assert set(codes) == accepted
    assert len(accepted - {"975"}) == 101  # 101 départements, plus Saint-Pierre-et-Miquelon
    for d in rows:
        overseas = d.code.startswith("97")
        if not overseas:
            assert 41.3 < d.lat < 51.1 and -5.2 < d.lon < 9.6, d
        assert d.name and -90 < d.lat < 90 and -180 < d.lon < 180


def test_committed_dashboards_are_the_build_output() -> None:
    for name, built in BUILT.items():
        committed = json.loads((REPO / "dashboards" / name).read_text(encoding="utf-8"))
        assert committed == built, f"dashboards/{name} is stale: run `watchdog dashboards build`"


def test_watchdog_dashboards_build_writes_the_json_models(tmp_path: Path) -> None:
    result = subprocess.run(
        [WATCHDOG, "dashboards", "build", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(BUILT)
    for name in written:
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert json.loads(text) == BUILT[name]
        assert "créneau" in text or "sonde" in text  # French panel texts, kept unescaped


def test_the_slot_lifetime_panel_reads_the_histogram_with_promtool(tmp_path: Path) -> None:
    """The panel's own queries, run by Prometheus' engine (promtool) on the histogram as the
    daemon exports it: two slots gone within a day, by 95 s and by 380 s (upper bounds)."""
    from watchdog.metrics.registry import SLOT_LIFETIME_BUCKETS

    panel = next(p for p in panels(BUILT["prefecture.json"]) if "créneaux" in p["title"]
                 and "Durée de vie" in p["title"])  # fmt: skip
    exprs = [t["expr"].replace("$target", ".*") for t in panel["targets"]]
    series = []
    for le in [*SLOT_LIFETIME_BUCKETS, "+Inf"]:
        bound = float("inf") if le == "+Inf" else float(le)
        gone = (bound >= 95) + (bound >= 380)
        le_text = le if le == "+Inf" else f"{float(le)}"
        labels = f'target="t",le="{le_text}"'
        series.append({
            "series": f"watchdog_slot_lifetime_seconds_bucket{{{labels}}}",
            "values": f"0x5 {gone}x5",
        })  # fmt: skip
    expected = [120, 540]  # the median in (60, 120], the 90th centile in (300, 600]
    tests = {
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": e, "eval_time": "10m", "exp_samples": [
                    {"labels": '{target="t"}', "value": v}]}
                for e, v in zip(exprs, expected, strict=True)
            ],
        }],
    }  # fmt: skip
    path = tmp_path / "panel_test.yml"
    path.write_text(json.dumps(tests), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed: make setup"
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
