"""Completeness: every metric a dashboard or a rule reads is exported (or recorded), every
exported metric and recording rule is documented in the README, every alert too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from watchdog.daemon.listener import SchedulerMetrics
from watchdog.dashboards import build_all
from watchdog.domain.target import Target
from watchdog.metrics.registry import Metrics
from watchdog.metrics.sre import add_process_collectors
from watchdog.notify.metrics import NotificationMetrics

REPO = Path(__file__).resolve().parent.parent
RULES = sorted((REPO / "config" / "prometheus" / "rules").glob("*.yml"))
README = (REPO / "README.md").read_text(encoding="utf-8")
# Names PromQL knows that are not series: functions, keywords, Prometheus' own `up`.
NOT_SERIES = {"up", "by", "on", "ignoring", "group_left", "group_right", "without", "and",
              "or", "unless", "offset", "bool", "le", "inf", "nan"}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def exported_families() -> set[str]:
    """Metric families of a `watchdog run` registry (the daemon's composition)."""
    target = Target.model_validate(
        {"id": "t", "department": "01", "prefecture": "Ain", "procedure": "other", "label": "x",
         "platform": "legacy_booking", "url": "https://www.ain.gouv.fr/booking/create/1/0"}
    )  # fmt: skip
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    add_process_collectors(metrics.registry)
    SchedulerMetrics(metrics.registry).declare([target])
    NotificationMetrics(metrics.registry).declare(["sre"])
    metrics.declare([target])
    text = metrics.exposition().decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULES
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
            for rule in group["rules"]]  # fmt: skip


def series_in(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (strings, matchers, ranges, grouping and
    function names removed first)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if match.group(2) is None and match.group(1).lower() not in NOT_SERIES:
            names.add(match.group(1))
    return names


def family(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def dashboard_exprs() -> list[str]:
    return [t["expr"] for model in build_all().values() for panel in model["panels"]
            for t in panel["targets"] if "expr" in t]  # fmt: skip


def test_every_series_a_dashboard_or_rule_reads_exists() -> None:
    available = exported_families() | {r["record"] for r in rules() if "record" in r}
    exprs = dashboard_exprs() + [rule["expr"] for rule in rules()]
    read = {family(name) for expr in exprs for name in series_in(expr)}
    assert read, "no series found: the extraction is broken"
    assert {"watchdog_probe_outcomes_total", "watchdog_probe_duration_seconds",
            "watchdog:no_slot_ratio:rate7d", "watchdog_tls_cert_expiry_timestamp_seconds",
            "watchdog_probe_phase_seconds", "process_cpu_seconds_total",
            "watchdog_disk_free_bytes"} <= read  # fmt: skip
    assert read - available == set()


def test_the_extraction_sees_a_misspelt_metric() -> None:
    expr = 'sum by (target) (rate(watchdog_probe_outcome_total{outcome="x"}[5m])) > 0'
    assert series_in(expr) == {"watchdog_probe_outcome_total"}


def test_every_exported_metric_is_documented_in_the_readme() -> None:
    metrics_section = README.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    undocumented = [name for name in sorted(exported_families())
                    if f"`{name}`" not in metrics_section]  # fmt: skip
    assert not undocumented, f"add to README § Metrics: {undocumented}"


def test_every_contract_recording_rule_and_every_alert_is_documented() -> None:
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        if ":rate5m" in name or (":probe_" in name and "rate5m" not in name):
            continue  # helpers, documented together as watchdog:probe_<kind>:rate<W>
        stem = re.sub(r"rate(1h|1d|7d)$", "rate1h", name)
        assert f"`{name}`" in README or f"`{stem}`" in README, name
