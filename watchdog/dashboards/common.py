"""Shared pieces of the dashboards: data sources, variables, queries and a grid layout.

Every Prometheus query goes through `prom()`, so the tests can list them all and run them
against a real Prometheus. Panel texts are French; units are Grafana unit ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol, cast

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

# The Prometheus data source is chosen by the `datasource` variable (any uid works);
# the département centroids come from a TestData data source with this fixed uid, which
# docker-compose provisions and `watchdog dashboards push` creates when missing.
PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TESTDATA_UID = "watchdog-testdata"
TESTDATA = dm.DataSourceRef(type_val="grafana-testdata-datasource", uid=TESTDATA_UID)
MIXED = {"type": "datasource", "uid": "-- Mixed --"}
WIDTH = 24  # Grafana's grid
FILTER = 'department=~"$department",procedure=~"$procedure",target=~"$target"'

PanelBuilder = cogbuilder.Builder[dm.Panel]


class _Positioned(Protocol):
    """What every panel builder of the SDK offers (they share no base class for it)."""

    def id(self, id_val: int) -> Any: ...

    def grid_pos(self, grid_pos: dm.GridPos) -> Any: ...


def prom(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> Any:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format(pm.PromQueryFormat.TABLE)
    return query


def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .id("datasource")
        .label("Source Prometheus")
        .type("prometheus")
    )


def label_variable(name: str, label: str, selector: str) -> db.QueryVariable:
    """A multi-value variable over a label of `watchdog_target_info` (All = any value)."""
    return (
        db.QueryVariable(name)
        .id(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(f"label_values({selector}, {name})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def place(panels: Sequence[tuple[PanelBuilder, int, int]]) -> list[PanelBuilder]:
    """Lay panels out left to right, wrapping at the grid width: (panel, width, height)."""
    x = y = row_height = 0
    placed = []
    for number, (panel, w, h) in enumerate(panels, start=1):
        if x + w > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        cast(_Positioned, panel).id(number).grid_pos(dm.GridPos(x=x, y=y, w=w, h=h))
        placed.append(panel)
        x, row_height = x + w, max(row_height, h)
    return placed


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


RATE_THRESHOLDS = ((None, "green"), (0.5, "orange"), (0.8, "red"))


def dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["prefecture-watchdog"])
        .timezone("Europe/Paris")
        .time("now-7d", "now")
        .refresh("1m")
        .editable()
        .link(
            db.DashboardLink("Tableaux du watchdog")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["prefecture-watchdog"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def to_json(board: db.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict)."""
    model: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for panel in model.get("panels", []):
        panel.setdefault("datasource", panel_datasource(panel))
    return model


def panel_datasource(panel: dict[str, Any]) -> dict[str, Any]:
    """The panel's own data source: its queries' one, or Grafana's "Mixed" when they differ."""
    refs = {json.dumps(t.get("datasource"), sort_keys=True) for t in panel.get("targets", [])}
    if len(refs) == 1:
        ref: dict[str, Any] = json.loads(refs.pop())
        return ref
    return MIXED
