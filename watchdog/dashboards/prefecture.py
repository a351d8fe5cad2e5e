"""Préfecture: drill-down by département, procedure and target (template variables)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm

from watchdog.dashboards.common import (
    FILTER,
    RATE_THRESHOLDS,
    PanelBuilder,
    dashboard,
    datasource_variable,
    label_variable,
    place,
    prom,
    thresholds,
)

UID = "watchdog-prefecture"
TARGETS = 'target=~"$target"'


def targets_table() -> PanelBuilder:
    expr = (
        "max by (target, prefecture, label, procedure, platform) "
        f"(watchdog_target_info{{{FILTER}}})"
    )
    return (
        table.Panel()
        .title("Démarches observées")
        .description("Chaque parcours suivi : préfecture, libellé du site, démarche, plateforme.")
        .with_target(prom(expr, instant=True))
        .unit("string")
    )


def outcome_mix() -> PanelBuilder:
    expr = (
        f"sum by (outcome) (rate(watchdog_probe_outcomes_total{{{FILTER}}}[$__rate_interval]))"
        " * 3600"
    )
    return (
        timeseries.Panel()
        .title("Issues des tentatives (par heure)")
        .description(
            "Répartition des issues : créneau disponible, aucun créneau, captcha, file "
            "d'attente, page fermée, maintenance, erreurs ; probe_error et unrecognized sont "
            "de notre côté et ne comptent dans aucun taux."
        )
        .with_target(prom(expr, "{{outcome}}"))
        .unit("short")
        .stacking(cb.StackingConfig().mode(cm.StackingMode.PERCENT))
        .fill_opacity(70)
    )


def ratio_trend(title: str, kind: str, description: str) -> PanelBuilder:
    panel = timeseries.Panel().title(title).description(description)
    for ref, window, name in (("A", "1h", "1 h"), ("B", "1d", "24 h"), ("C", "7d", "7 j")):
        expr = f"watchdog:{kind}:rate{window}{{{FILTER}}}"
        panel = panel.with_target(prom(expr, f"{{{{target}}}} · {name}", ref=ref))
    return panel.unit("percentunit").min(0).max(1).thresholds(thresholds(*RATE_THRESHOLDS))


def lead_time() -> PanelBuilder:
    return (
        timeseries.Panel()
        .title("Délai jusqu'au premier créneau proposé")
        .description(
            "Jours entre l'observation et le premier créneau affiché ; vide quand aucune date "
            "n'est lisible (aucun créneau, captcha, erreur)."
        )
        .with_target(prom(f"watchdog_earliest_slot_days{{{TARGETS}}}", "{{target}}"))
        .unit("d")
        .min(0)
        .show_points(cm.VisibilityMode.ALWAYS)
        .span_nulls(False)
    )


def last_observation() -> PanelBuilder:
    expr = (
        f"time() - max by (target) (watchdog_last_observation_timestamp_seconds{{{TARGETS}}} > 0)"
    )
    return (
        stat.Panel()
        .title("Dernière observation (il y a)")
        .description("Temps écoulé depuis la dernière observation enregistrée de chaque cible.")
        .with_target(prom(expr, "{{target}}", instant=True))
        .unit("s")
        .thresholds(thresholds((None, "green"), (3600, "orange"), (7200, "red")))
    )


def slots_now() -> PanelBuilder:
    return (
        stat.Panel()
        .title("Créneaux proposés à la dernière observation")
        .description("Nombre de créneaux libres affichés lors de la dernière observation.")
        .with_target(prom(f"watchdog_slots_available{{{TARGETS}}}", "{{target}}", instant=True))
        .unit("none")
    )


def slot_lifetime() -> PanelBuilder:
    """How long the slots that left the page had stayed there (issue 19), over 24 h."""
    panel = (
        timeseries.Panel()
        .title("Durée de vie des créneaux (borne haute, 24 h)")
        .description(
            "Pour les créneaux disparus de la page sur les dernières 24 h : médiane et "
            "90e centile de la borne haute de leur durée d'affichage (disparus au plus tard à "
            "l'observation suivante). Une borne, pas une mesure exacte ; vide sans créneau "
            "disparu. Plateformes qui lisent chaque créneau (RDV-Préfecture)."
        )
    )
    for ref, q, name in (("A", "0.5", "médiane"), ("B", "0.9", "90e centile")):
        expr = (
            f"histogram_quantile({q}, sum by (target, le) (increase("
            f"watchdog_slot_lifetime_seconds_bucket{{{TARGETS}}}[1d])))"
        )
        panel = panel.with_target(prom(expr, f"{{{{target}}}} · {name}", ref=ref))
    return panel.unit("s").min(0).show_points(cm.VisibilityMode.ALWAYS).span_nulls(False)


# The accessibility series have no procedure label: joined to the targets the filters keep.
IN_FILTER = f"* on (target) group_left () max by (target) (watchdog_target_info{{{FILTER}}})"


def a11y_by_criterion() -> PanelBuilder:
    expr = f"sum by (target, criterion) (watchdog_a11y_violations{{{TARGETS}}} {IN_FILTER})"
    return (
        table.Panel()
        .title("Accessibilité : violations par critère RGAA 4.1 (dernier audit)")
        .description(
            "Dernier audit `watchdog audit` de chaque parcours : violations (une règle "
            "axe-core enfreinte sur une page) par critère du RGAA 4.1 ; « none » : règle sans "
            "critère associé. Un audit automatisé ne vérifie qu'une partie des critères : "
            "l'absence de violation ne vaut pas conformité."
        )
        .with_target(prom(expr, instant=True))
        .unit("none")
    )


def substitute_channel() -> PanelBuilder:
    expr = (
        "max by (target, department, channel, outcome) "
        f"((watchdog_substitute_channel{{{TARGETS}}} == 1) {IN_FILTER})"
    )
    return (
        table.Panel()
        .title("Autre moyen de contact publié (dernière vérification)")
        .description(
            "Dernière vérification `watchdog substitute` : pour chaque moyen de contact "
            "(formulaire, adresse électronique, adresse postale, téléphone) destiné à qui ne "
            "peut pas prendre rendez-vous en ligne, « published » (la page l'indique), "
            "« not_found » (aucune page lue ne l'indique) ou « unreachable » (page non lue, "
            "ou page du formulaire sans réponse)."
        )
        .with_target(prom(expr, instant=True))
        .unit("string")
    )


def build() -> db.Dashboard:
    info = "watchdog_target_info"
    board = (
        dashboard(
            UID,
            "Rendez-vous en préfecture — préfecture",
            "Une préfecture, une démarche, une cible : issues, taux, délais, fraîcheur.",
        )
        .with_variable(datasource_variable())
        .with_variable(label_variable("department", "Département", info))
        .with_variable(
            label_variable("procedure", "Démarche", f'{info}{{department=~"$department"}}')
        )
        .with_variable(
            label_variable(
                "target", "Cible",
                f'{info}{{department=~"$department",procedure=~"$procedure"}}',
            )
        )
    )  # fmt: skip
    panels = place(
        [
            (targets_table(), 24, 6),
            (outcome_mix(), 12, 9),
            (ratio_trend("Taux « aucun créneau »", "no_slot_ratio",
                         "aucun créneau / (créneau disponible + aucun créneau), sur 1 h, "
                         "24 h et 7 jours glissants."), 12, 9),
            (ratio_trend("Taux d'échec (point de vue de l'usager)", "failure_ratio",
                         "Tentatives sans créneau proposé / tentatives, sur 1 h, 24 h et "
                         "7 jours glissants."), 12, 9),
            (lead_time(), 12, 9),
            (last_observation(), 12, 5),
            (slots_now(), 12, 5),
            (slot_lifetime(), 24, 8),
            (a11y_by_criterion(), 12, 8),
            (substitute_channel(), 12, 8),
        ]
    )  # fmt: skip
    for panel in panels:
        board = board.with_panel(panel)
    return board
