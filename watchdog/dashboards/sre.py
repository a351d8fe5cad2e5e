"""SRE: is each site up (and each vantage's own network), how long probes take per platform
(and each phase of a page load), which errors the sites return, when their certificates
expire; and the watchdog itself: its version, CPU and memory, the room its store takes and the
disk left."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import gauge, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from watchdog.dashboards.common import (
    PanelBuilder,
    dashboard,
    datasource_variable,
    label_variable,
    place,
    prom,
    thresholds,
)

UID = "watchdog-sre"
ERRORS = 'outcome=~"site_error|timeout|network_error|blocked|maintenance"'
PLATFORM = 'platform=~"$platform"'
SELF = 'job="watchdog"'  # the scrape job of config/prometheus/prometheus.yml
DAY = 86400


def _up_down(title: str, description: str, target: Any, down: str, up: str) -> PanelBuilder:
    """A state timeline of a 0/1 series: red `down`, green `up`."""
    mapping = dm.ValueMap(
        options={
            "0": dm.ValueMappingResult(text=down, color="red", index=0),
            "1": dm.ValueMappingResult(text=up, color="green", index=1),
        },
    )
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .with_target(target)
        .mappings([mapping])
        .unit("bool_on_off")
        .show_value(cm.VisibilityMode.NEVER)
    )


def site_up() -> PanelBuilder:
    # Targets never observed since the worker started read 0 too: keep observed ones only.
    expr = (
        "max by (target) (watchdog_site_up) and on (target) "
        "max by (target) (watchdog_last_observation_timestamp_seconds) > 0 "
        f"and on (target) max by (target) (watchdog_target_info{{{PLATFORM}}})"
    )
    return _up_down(
        "Site en service",
        "En service : la dernière observation a obtenu une page fonctionnelle. Hors "
        "service : erreur du site, délai dépassé, erreur réseau, blocage ou maintenance.",
        prom(expr, "{{target}}"), "hors service", "en service",
    )  # fmt: skip


def vantages() -> PanelBuilder:
    # Issue 17: a vantage whose canary fails is our network down, not the sites.
    return _up_down(
        "Réseau des points d'observation",
        "Page témoin (canary) de chaque point d'observation, vérifiée par son propre réseau. "
        "En panne : les échecs de ce point sont attribués à notre réseau (probe_error), "
        "jamais aux sites.",
        prom("max by (vantage) (watchdog_canary_up)", "{{vantage}}"),
        "réseau en panne", "réseau en service",
    )  # fmt: skip


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


def phases() -> PanelBuilder:
    expr = (
        "histogram_quantile(0.9, sum by (phase, le) "
        f"(rate(watchdog_probe_phase_seconds_bucket{{{PLATFORM}}}[$__rate_interval])))"
    )
    return (
        timeseries.Panel()
        .title("Phases du chargement d'une page (90e centile)")
        .description(
            "Navigation Timing du navigateur, pour la dernière page de chaque sonde : résolution "
            "DNS, connexion TCP, poignée de main TLS (https), premier octet de la réponse, "
            "chargement complet. Le moteur de requêtes ne les mesure pas ; une connexion "
            "réutilisée compte 0 pour DNS et connexion."
        )
        .with_target(prom(expr, "{{phase}}"))
        .unit("s")
        .min(0)
    )


def certificates() -> PanelBuilder:
    expr = "min by (host) (watchdog_tls_cert_expiry_timestamp_seconds) - time()"
    return (
        table.Panel()
        .title("Expiration des certificats TLS des sites")
        .description(
            "Temps restant avant l'expiration (notAfter) du certificat présenté par chaque hôte "
            "des cibles, relevé à chaque sonde en https. Rouge sous 14 jours."
        )
        .with_target(prom(expr, instant=True))
        .unit("s")
        .decimals(0)
        .thresholds(thresholds((None, "red"), (14 * DAY, "orange"), (30 * DAY, "green")))
    )


def build_info() -> PanelBuilder:
    expr = (
        f"max by (instance, version) (watchdog_build_info) * on (instance) group_left "
        f"max by (instance) (time() - process_start_time_seconds{{{SELF}}})"
    )
    return (
        table.Panel()
        .title("Version et durée de fonctionnement")
        .description("Version de chaque watchdog et temps écoulé depuis son démarrage.")
        .with_target(prom(expr, instant=True))
        .unit("s")
        .decimals(0)
    )


def process() -> PanelBuilder:
    return (
        timeseries.Panel()
        .title("Processus du watchdog : processeur et mémoire")
        .description(
            "Processeur en cœurs (le processus Python ; Chromium et ses rendus sont des "
            "processus à part) et mémoire résidente."
        )
        .with_target(prom(f"rate(process_cpu_seconds_total{{{SELF}}}[$__rate_interval])",
                          "{{instance}} · processeur (cœurs)"))
        .with_target(prom(f"process_resident_memory_bytes{{{SELF}}} / 2^30",
                          "{{instance}} · mémoire (Gio)", ref="B"))
        .unit("short")
        .min(0)
    )  # fmt: skip


def storage() -> PanelBuilder:
    return (
        timeseries.Panel()
        .title("Stockage : base, preuves et disque libre")
        .description(
            "Octets de la base de données et du dossier des preuves (mesurés toutes les cinq "
            "minutes), et place libre sur le disque de data_dir."
        )
        .with_target(prom("max by (instance, part) (watchdog_store_bytes)",
                          "{{instance}} · {{part}}"))
        .with_target(prom("max by (instance) (watchdog_disk_free_bytes)",
                          "{{instance}} · disque libre", ref="B"))
        .unit("bytes")
        .min(0)
    )  # fmt: skip


def disk_free() -> PanelBuilder:
    return (
        gauge.Panel()
        .title("Disque libre (data_dir)")
        .description("Part libre du disque des preuves ; alerte critique sous 5 %.")
        .with_target(prom(
            "min by (instance) (watchdog_disk_free_bytes / watchdog_disk_size_bytes)",
            "{{instance}}"))
        .unit("percentunit")
        .min(0)
        .max(1)
        .thresholds(thresholds((None, "red"), (0.05, "orange"), (0.25, "green")))
    )  # fmt: skip


def build() -> db.Dashboard:
    board = (
        dashboard(UID, "Rendez-vous en préfecture — exploitation (SRE)",
                  "Disponibilité des sites, latence des sondes, erreurs renvoyées, "
                  "certificats ; le watchdog lui-même : version, processus, stockage.")
        .time("now-24h", "now")
        .with_variable(datasource_variable())
        .with_variable(label_variable("platform", "Plateforme", "watchdog_target_info"))
    )  # fmt: skip
    panels = place(
        [(site_up(), 24, 10), (vantages(), 24, 5), (durations(), 12, 8), (error_outcomes(), 12, 8),
         (worst_sites(), 24, 8), (phases(), 12, 8), (certificates(), 12, 8),
         (build_info(), 8, 6), (process(), 16, 6), (storage(), 16, 8), (disk_free(), 8, 8)]
    )  # fmt: skip
    for panel in panels:
        board = board.with_panel(panel)
    return board
