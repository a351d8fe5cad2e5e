"""Vue nationale: the 7-day no-slot rate on a map of départements, national rates, outcomes."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap, stat, table, testdata, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm
from grafana_foundation_sdk.models import testdata as tm

from watchdog.dashboards.common import (
    RATE_THRESHOLDS,
    TESTDATA,
    PanelBuilder,
    dashboard,
    datasource_variable,
    place,
    prom,
    thresholds,
)
from watchdog.domain.departements import csv_text

UID = "watchdog-national"
NATIONAL_NO_SLOT = (
    "sum(watchdog:probe_no_slot:rate{w})"
    " / sum(watchdog:probe_available:rate{w} + watchdog:probe_no_slot:rate{w})"
)
NATIONAL_FAILURE = (
    "sum(watchdog:probe_attempts:rate{w} - watchdog:probe_available:rate{w})"
    " / sum(watchdog:probe_attempts:rate{w})"
)


def rate_stat(title: str, expr: str, description: str) -> PanelBuilder:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .with_target(prom(expr, instant=True))
        .unit("percentunit")
        .decimals(1)
        .thresholds(thresholds(*RATE_THRESHOLDS))
    )


def count_stat(title: str, expr: str, description: str) -> PanelBuilder:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .with_target(prom(expr, instant=True))
        .unit("none")
    )


def department_map() -> PanelBuilder:
    """Markers at each département's centroid, coloured by its 7-day no-slot rate."""
    centroids = (
        testdata.Dataquery()
        .ref_id("B")
        .datasource(TESTDATA)
        .scenario_id(tm.TestDataQueryType.CSV_CONTENT)
        .csv_content(csv_text())
    )
    layer = (
        cb.MapLayerOptions()
        .type("markers")
        .name("Départements")
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "Value", "fixed": "dark-green"},
                    "size": {"fixed": 9, "min": 6, "max": 14},
                    "text": {"field": "department", "mode": "field"},
                    "textConfig": {"fontSize": 9, "offsetY": -12},
                },
            }
        )
        .tooltip(True)
    )
    return (
        geomap.Panel()
        .title("Taux « aucun créneau » sur 7 jours, par département")
        .description(
            "Part des réponses « aucun créneau » parmi les réponses avec ou sans créneau, "
            "sur 7 jours glissants (department:watchdog_no_slot_ratio:rate7d). Position : "
            "centre approximatif du département."
        )
        .with_target(prom("department:watchdog_no_slot_ratio:rate7d", instant=True))
        .with_target(centroids)
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="joinByField", options={"byField": "department", "mode": "inner"}
            )
        )
        .view(geomap.MapViewConfig().id("coords").lat(47).lon(2).zoom(5))
        .basemap(cb.MapLayerOptions().type("default").name("Fond de carte"))
        .layers([layer])
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .unit("percentunit")
        .min(0)
        .max(1)
        .thresholds(thresholds(*RATE_THRESHOLDS))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
    )


def department_table() -> PanelBuilder:
    return (
        table.Panel()
        .title("Départements : taux sur 7 jours")
        .description("Taux « aucun créneau » (A) et taux d'échec (B) sur 7 jours glissants.")
        .with_target(prom("sort_desc(department:watchdog_no_slot_ratio:rate7d)", instant=True))
        .with_target(prom("department:watchdog_failure_ratio:rate7d", instant=True, ref="B"))
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .unit("percentunit")
        .decimals(1)
    )


def national_trend() -> PanelBuilder:
    return (
        timeseries.Panel()
        .title("Taux nationaux (moyenne glissante sur 24 h)")
        .description("Taux « aucun créneau » et taux d'échec de toutes les démarches suivies.")
        .with_target(prom(NATIONAL_NO_SLOT.format(w="1d"), "aucun créneau"))
        .with_target(prom(NATIONAL_FAILURE.format(w="1d"), "échec", ref="B"))
        .unit("percentunit")
        .min(0)
        .max(1)
    )


def outcomes_trend() -> PanelBuilder:
    expr = (
        'sum by (outcome) (rate(watchdog_probe_outcomes_total{outcome!~"unrecognized|probe_error"}'
        "[$__rate_interval])) * 3600"
    )
    return (
        timeseries.Panel()
        .title("Issues des tentatives, toutes démarches (par heure)")
        .description(
            "Nombre de tentatives par heure, par issue (vocabulaire de docs/design.md §2)."
        )
        .with_target(prom(expr, "{{outcome}}"))
        .unit("short")
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .fill_opacity(60)
    )


def build() -> db.Dashboard:
    board = dashboard(
        UID,
        "Rendez-vous en préfecture — vue nationale",
        "Accès aux rendez-vous des préfectures : carte des départements, taux nationaux.",
    ).with_variable(datasource_variable())
    panels = place(
        [
            (rate_stat("Aucun créneau, 7 jours", NATIONAL_NO_SLOT.format(w="7d"),
                       "Part nationale des réponses « aucun créneau » sur 7 jours."), 6, 4),
            (rate_stat("Échec, 7 jours", NATIONAL_FAILURE.format(w="7d"),
                       "Part nationale des tentatives sans créneau proposé, sur 7 jours."), 6, 4),
            (count_stat("Démarches suivies", "count(max by (target) (watchdog_target_info))",
                        "Nombre de parcours de prise de rendez-vous observés."), 6, 4),
            (count_stat("Départements couverts",
                        "count(count by (department) (watchdog_target_info))",
                        "Départements dont au moins une démarche est observée."), 6, 4),
            (department_map(), 14, 16),
            (department_table(), 10, 16),
            (national_trend(), 12, 8),
            (outcomes_trend(), 12, 8),
        ]
    )  # fmt: skip
    for panel in panels:
        board = board.with_panel(panel)
    return board
