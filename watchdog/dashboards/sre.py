"""SRE: is each site up, how long probes take per platform, which errors the sites return."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from watchdog.dashboards.common import (
    PanelBuilder,
    dashboard,
    datasource_variable,
    label_variable,
    place,
    prom,
)

UID = "watchdog-sre"
ERRORS = 'outcome=~"site_error|timeout|network_error|blocked|maintenance"'
PLATFORM = 'platform=~"$platform"'


def site_up() -> PanelBuilder:
    # Targets never observed since the worker started read 0 too: keep observed ones only.
    expr = (
        "max by (target) (watchdog_site_up) and on (target) "
        "max by (target) (watchdog_last_observation_timestamp_seconds) > 0 "
        f"and on (target) max by (target) (watchdog_target_info{{{PLATFORM}}})"
    )
    mapping = dm.ValueMap(
        options={
            "0": dm.ValueMappingResult(text="hors service", color="red", index=0),
            "1": dm.ValueMappingResult(text="en service", color="green", index=1),
        },
    )
    return (
        statetimeline.Panel()
        .title("Site en service")
        .description(
            "En service : la dernière observation a obtenu une page fonctionnelle. Hors "
            "service : erreur du site, délai dépassé, erreur réseau, blocage ou maintenance."
        )
        .with_target(prom(expr, "{{target}}"))
        .mappings([mapping])
        .unit("bool_on_off")
        .show_value(cm.VisibilityMode.NEVER)
    )


def durations() -> PanelBuilder:
    panel = (
        timeseries.Panel()
        .title("Durée d'une sonde par plateforme")
        .description("Médiane et 90e centile du temps d'une sonde, preuves comprises.")
    )
    for ref, q in (("A", "0.5"), ("B", "0.9")):
        expr = (
            f"histogram_quantile({q}, sum by (platform, le) "
            f"(rate(watchdog_probe_duration_seconds_bucket{{{PLATFORM}}}[$__rate_interval])))"
        )
        panel = panel.with_target(prom(expr, f"{{{{platform}}}} · q{q}", ref=ref))
    return panel.unit("s").min(0)


def error_outcomes() -> PanelBuilder:
    expr = (
        f"sum by (outcome) (rate(watchdog_probe_outcomes_total{{{ERRORS},{PLATFORM}}}"
        "[$__rate_interval])) * 3600"
    )
    return (
        timeseries.Panel()
        .title("Réponses en erreur (par heure)")
        .description("Erreurs du site, délais dépassés, erreurs réseau, blocages, maintenance.")
        .with_target(prom(expr, "{{outcome}}"))
        .unit("short")
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .fill_opacity(60)
    )


def worst_sites() -> PanelBuilder:
    expr = (
        f"topk(15, sum by (target, outcome) (increase(watchdog_probe_outcomes_total"
        f"{{{ERRORS},{PLATFORM}}}[1d])))"
    )
    return (
        table.Panel()
        .title("Erreurs sur 24 heures, par cible et par issue")
        .description("Les 15 couples cible × issue d'erreur les plus fréquents sur 24 heures.")
        .with_target(prom(expr, instant=True))
        .unit("short")
        .decimals(0)
    )


def build() -> db.Dashboard:
    board = (
        dashboard(UID, "Rendez-vous en préfecture — exploitation (SRE)",
                  "Disponibilité des sites, latence des sondes, erreurs renvoyées.")
        .time("now-24h", "now")
        .with_variable(datasource_variable())
        .with_variable(label_variable("platform", "Plateforme", "watchdog_target_info"))
    )  # fmt: skip
    panels = place(
        [(site_up(), 24, 10), (durations(), 12, 8), (error_outcomes(), 12, 8),
         (worst_sites(), 24, 8)]
    )  # fmt: skip
    for panel in panels:
        board = board.with_panel(panel)
    return board
