"""Santé des sondes: our side — probe errors, unrecognized pages, staleness, scheduler."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries

from watchdog.dashboards.common import (
    PanelBuilder,
    dashboard,
    datasource_variable,
    place,
    prom,
    thresholds,
)

UID = "watchdog-health"
BACKOFF = "topk(5, max by (target) (watchdog_scheduler_backoff_level))"


def our_errors() -> PanelBuilder:
    expr = (
        'sum by (outcome) (rate(watchdog_probe_outcomes_total{outcome=~"probe_error|unrecognized"}'
        "[$__rate_interval])) * 3600"
    )
    return (
        timeseries.Panel()
        .title("Erreurs de sonde et pages non reconnues (par heure)")
        .description(
            "probe_error : notre faute (bogue, navigateur, option). unrecognized : page "
            "qu'aucune règle ne connaît, preuves conservées pour étiquetage."
        )
        .with_target(prom(expr, "{{outcome}}"))
        .unit("short")
    )


def staleness() -> PanelBuilder:
    expr = (
        "sort_desc((time() - max by (target) (watchdog_last_observation_timestamp_seconds > 0))"
        " / max by (target) (watchdog_target_interval_seconds))"
    )
    return (
        table.Panel()
        .title("Fraîcheur : âge de la dernière observation, en intervalles")
        .description("Au-delà de 3 intervalles, l'alerte WatchdogProbeStale se déclenche.")
        .with_target(prom(expr, instant=True))
        .unit("none")
        .decimals(1)
        .thresholds(thresholds((None, "green"), (1.5, "orange"), (3, "red")))
    )


def never_observed() -> PanelBuilder:
    expr = "count(max by (target) (watchdog_last_observation_timestamp_seconds) == 0) or vector(0)"
    return (
        stat.Panel()
        .title("Cibles jamais observées depuis le démarrage")
        .description("Cibles sans aucune observation depuis le démarrage du watchdog.")
        .with_target(prom(expr, instant=True))
        .unit("none")
        .thresholds(thresholds((None, "green"), (1, "orange")))
    )


def scrape_up() -> PanelBuilder:
    return (
        stat.Panel()
        .title("Watchdogs joignables par Prometheus")
        .description("1 : Prometheus lit /metrics sur ce worker ; 0 : injoignable.")
        .with_target(prom('up{job="watchdog"}', "{{instance}}", instant=True))
        .unit("none")
        .thresholds(thresholds((None, "red"), (1, "green")))
    )


def lateness() -> PanelBuilder:
    panel = (
        timeseries.Panel()
        .title("Retard des sondes sur leur planning")
        .description("Début réel moins début prévu : attente du budget par hôte ou des contextes.")
    )
    for ref, q in (("A", "0.5"), ("B", "0.9"), ("C", "0.99")):
        expr = (
            f"histogram_quantile({q}, sum by (le) "
            "(rate(watchdog_scheduler_lateness_seconds_bucket[$__rate_interval])))"
        )
        panel = panel.with_target(prom(expr, f"q{q}", ref=ref))
    return panel.unit("s").min(0)


def in_flight() -> PanelBuilder:
    return (
        timeseries.Panel()
        .title("Sondes en cours et recul par hôte")
        .description("Sondes en cours (A) ; niveau de recul des cibles les plus ralenties (B).")
        .with_target(prom("sum(watchdog_scheduler_in_flight)", "en cours"))
        .with_target(prom(BACKOFF, "recul {{target}}", ref="B"))
        .unit("short")
        .min(0)
    )


def build() -> db.Dashboard:
    board = (
        dashboard(UID, "Rendez-vous en préfecture — santé des sondes",
                  "Notre côté : erreurs de sonde, pages inconnues, fraîcheur, planificateur.")
        .time("now-24h", "now")
        .with_variable(datasource_variable())
    )  # fmt: skip
    panels = place(
        [(scrape_up(), 12, 4), (never_observed(), 12, 4), (our_errors(), 12, 8),
         (lateness(), 12, 8), (staleness(), 12, 10), (in_flight(), 12, 10)]
    )  # fmt: skip
    for panel in panels:
        board = board.with_panel(panel)
    return board
