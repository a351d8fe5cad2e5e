"""Prometheus metrics of DESIGN §3. Names and labels are a contract with dashboards.

Labels come only from config ids and enums (bounded). Every series is created for every
target up front, so a quiet target reads 0, not "no data".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from watchdog.config import Target
from watchdog.models import Observation, Outcome, Platform

PARIS = ZoneInfo("Europe/Paris")
DURATION_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120)


class Metrics:
    """One registry per instance (tests get fresh ones)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.outcomes = Counter(
            "watchdog_probe_outcomes", "Probe results by outcome (DESIGN §2 vocabulary).",
            ["target", "department", "procedure", "platform", "outcome"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "watchdog_probe_duration_seconds", "Wall time of one probe, evidence included.",
            ["target", "platform"], buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.site_up = Gauge(
            "watchdog_site_up",
            "1 when the site answered with a working page; 0 on site_error, timeout, "
            "network_error, blocked or maintenance.",
            ["target"], registry=r,
        )  # fmt: skip
        self.slots = Gauge(
            "watchdog_slots_available", "Slots offered at the last observation.", ["target"],
            registry=r,
        )  # fmt: skip
        self.earliest_days = Gauge(
            "watchdog_earliest_slot_days",
            "Days from the last observation to the earliest slot it showed.", ["target"],
            registry=r,
        )  # fmt: skip
        self.last_seen = Gauge(
            "watchdog_last_observation_timestamp_seconds",
            "Unix time of the target's last recorded observation.", ["target"], registry=r,
        )  # fmt: skip
        self.interval = Gauge(
            "watchdog_target_interval_seconds",
            "Configured probe interval of the target (staleness alerts compare against it).",
            ["target"], registry=r,
        )  # fmt: skip
        self.info = Gauge(
            "watchdog_target_info", "Static description of each target (always 1).",
            ["target", "department", "prefecture", "procedure", "platform", "label"],
            registry=r,
        )  # fmt: skip

    def declare(self, targets: Iterable[Target]) -> None:
        """Pre-create every series of every target."""
        for t in targets:
            base = (t.id, t.department, t.procedure.value, t.platform.value)
            for outcome in Outcome:
                self.outcomes.labels(*base, outcome.value)
            self.duration.labels(t.id, t.platform.value)
            for gauge in (self.site_up, self.slots, self.last_seen):
                gauge.labels(t.id)
            self.earliest_days.labels(t.id).set(math.nan)  # no date seen yet is not "today"
            self.interval.labels(t.id).set(t.interval.total_seconds())
            self.info.labels(t.id, t.department, t.prefecture, t.procedure.value,
                             t.platform.value, t.label).set(1)  # fmt: skip

    def forget(self, target_id: str, platform: Platform) -> None:
        """Drop a target removed from the catalog (on config reload)."""
        for metric in (self.site_up, self.slots, self.earliest_days, self.last_seen,
                       self.interval):  # fmt: skip
            metric.remove(target_id)
        self.duration.remove(target_id, platform.value)

    def observe(self, obs: Observation, target: Target) -> None:
        base = (target.id, target.department, target.procedure.value, target.platform.value)
        self.outcomes.labels(*base, obs.outcome.value).inc()
        self.duration.labels(target.id, target.platform.value).observe(obs.duration_s)
        self.last_seen.labels(target.id).set(obs.finished_at.timestamp())
        up = obs.outcome.site_up
        if up is not None:
            self.site_up.labels(target.id).set(1 if up else 0)
        if obs.outcome in (Outcome.AVAILABLE, Outcome.NO_SLOT):
            self.slots.labels(target.id).set(obs.slots or 0)
        self.earliest_days.labels(target.id).set(lead_days(obs))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def lead_days(obs: Observation) -> float:
    """Days to the earliest slot the observation showed; NaN when it showed no date (the
    gauge describes the last observation, it does not keep an older date)."""
    if obs.earliest_slot is None:
        return math.nan
    days = (site_time(obs.earliest_slot) - obs.finished_at).total_seconds() / 86400
    return round(max(days, 0.0), 3)


def site_time(value: datetime) -> datetime:
    """Sites show local wall times (naive); they are Europe/Paris times."""
    return value if value.tzinfo is not None else value.replace(tzinfo=PARIS)


def would_export(obs: Observation, target: Target) -> str:
    """The exposition lines one observation produces (for `probe --debug`)."""
    metrics = Metrics()
    metrics.observe(obs, target)
    lines = metrics.exposition().decode().splitlines()
    return "\n".join(line for line in lines if line and not line.startswith("#"))
