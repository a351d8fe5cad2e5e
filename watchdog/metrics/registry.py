"""Prometheus metrics of docs/design.md §3. Names and labels are a contract with dashboards.

Labels come only from config ids and enums (bounded). Every series is created for every
target up front, so a quiet target reads 0, not "no data". The families render themselves
(watchdog/metrics/exposition.py: a scrape of 2,000 targets must not stall the probes' event loop);
`registry` holds any other collector (the scheduler's series) and is rendered after them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

from watchdog import __version__
from watchdog.domain.clock import PARIS
from watchdog.domain.models import (
    Audit,
    ChannelOutcome,
    Observation,
    Outcome,
    Platform,
    SubstituteCheck,
)
from watchdog.domain.target import Target
from watchdog.domain.vantage import CanaryCheck
from watchdog.evidence.network import NetworkFacts
from watchdog.metrics.exposition import Family, render
from watchdog.metrics.sre import SreMetrics
from watchdog.store.usage import Disk, StoreSize
from watchdog.store.writes import WriteKind, WriteSnapshot

DURATION_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120)
# An assisted session's life after the solve: RDV-Préfecture keeps one open for minutes.
SESSION_BUCKETS = (60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)
TARGET = ("target",)
# A slot's visible lifetime (issue 19): seconds to a day.
SLOT_LIFETIME_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
AUTOMATIC, ASSISTED = "automatic", "assisted"  # the outcome series' `method`


class Metrics:
    """The docs/design.md §3 series of one process (tests get fresh ones)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, version: str = __version__
    ) -> None:
        # prometheus_client adds a `_created` gauge to every counter and histogram of the
        # other collectors; Prometheus 2 stores them as plain series nobody reads.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.outcomes = Family(
            "watchdog_probe_outcomes",
            "Probe results by outcome (docs/design.md §2 vocabulary); method: automatic (a "
            "probe) or assisted (a read after a person answered the captcha).",
            "counter", ("target", "department", "procedure", "platform", "outcome", "method"),
        )  # fmt: skip
        self.duration = Family(
            "watchdog_probe_duration_seconds", "Wall time of one probe, evidence included.",
            "histogram", ("target", "platform"), DURATION_BUCKETS,
        )  # fmt: skip
        self.site_up = Family(
            "watchdog_site_up",
            "1 when the site answered with a working page; 0 on site_error, timeout, "
            "network_error, blocked or maintenance.", "gauge", TARGET,
        )  # fmt: skip
        self.slots = Family(
            "watchdog_slots_available", "Slots offered at the last observation.", "gauge", TARGET
        )
        self.earliest_days = Family(
            "watchdog_earliest_slot_days",
            "Days from the last observation to the earliest slot it showed (NaN: no date).",
            "gauge", TARGET,
        )  # fmt: skip
        self.last_seen = Family(
            "watchdog_last_observation_timestamp_seconds",
            "Unix time of the target's last recorded observation.", "gauge", TARGET,
        )  # fmt: skip
        self.interval = Family(
            "watchdog_target_interval_seconds",
            "Configured probe interval of the target (staleness alerts compare against it).",
            "gauge", TARGET,
        )  # fmt: skip
        self.info = Family(
            "watchdog_target_info", "Static description of each target (always 1).", "gauge",
            ("target", "department", "prefecture", "procedure", "platform", "label"),
        )  # fmt: skip
        self.write_errors = Family(
            "watchdog_store_write_errors",
            "Failed attempts to write to the store (each retry counts), by what was written.",
            "counter", ("kind",),
        )  # fmt: skip
        self.dropped = Family(
            "watchdog_observations_dropped",
            "Observations given up after the store kept failing (each one is logged).",
            "counter", (),
        )  # fmt: skip
        self.writable = Family(
            "watchdog_store_writable",
            "1 when the last write of observations and of evidence succeeded; 0 while failing.",
            "gauge", (),
        )  # fmt: skip
        self.a11y = Family(
            "watchdog_a11y_violations",
            "Accessibility violations (an axe-core rule broken on a page) in the target's last "
            "audit, by RGAA 4.1 criterion (none: no criterion mapped) and axe-core impact.",
            "gauge", ("target", "criterion", "impact"),
        )  # fmt: skip
        self.a11y_load = Family(
            "watchdog_a11y_step_load_seconds",
            "Load time of each step page (from the journey's action to the page's load event) "
            "in the target's last audit run under each profile (standard, mobile, slow-3g).",
            "gauge", ("target", "profile", "step"),
        )  # fmt: skip
        self.substitute = Family(
            "watchdog_substitute_channel",
            "The target's last substitute channel check: 1 on the outcome (published, "
            "not_found, unreachable) of each channel kind (form, email, postal, phone), else 0.",
            "gauge", ("target", "department", "channel", "outcome"),
        )  # fmt: skip
        self.assisted = Family(
            "watchdog_assisted_reads",
            "Reads of the slot page in assisted sessions (a person answered the captcha), by "
            "outcome; also counted in watchdog_probe_outcomes.", "counter", ("target", "outcome"),
        )  # fmt: skip
        self.sessions = Family(
            "watchdog_assisted_sessions",
            "Assisted sessions ended, by why they ended (site_ended, max_session, no_answer, "
            "shutdown, left_journey, submit_failed, read_failed).", "counter", ("target", "end"),
        )  # fmt: skip
        self.lifetime = Family(
            "watchdog_assisted_session_lifetime_seconds",
            "Seconds from a person's solve to the end of the session (solved sessions only).",
            "histogram", TARGET, SESSION_BUCKETS,
        )  # fmt: skip
        self.timestamps = Family(
            "watchdog_timestamp_requests",
            "RFC 3161 timestamp requests for checkpoints, by result (ok, failed).",
            "counter", ("result",),
        )  # fmt: skip
        self.canary_up = Family(
            "watchdog_canary_up",
            "1 when the vantage's last canary check (its known-good page) answered; 0 when it "
            "failed: that vantage's network is down, not the sites it watches.",
            "gauge", ("vantage",),
        )  # fmt: skip
        self.canary_checked = Family(
            "watchdog_canary_checked_timestamp_seconds",
            "Unix time of the vantage's last canary check.", "gauge", ("vantage",),
        )  # fmt: skip
        self.slot_lifetime = Family(
            "watchdog_slot_lifetime_seconds",
            "Upper bound of how long a slot stayed on the page, one sample per slot gone: from "
            "the observation before it was first seen to the end of the one that found it gone "
            "(watchdog/stats/slotlife.py).",
            "histogram", TARGET, SLOT_LIFETIME_BUCKETS,
        )  # fmt: skip
        self.pruned = Family(
            "watchdog_retention_pruned_observations",
            "Observations `watchdog retention apply` pruned from the target's chain, each stretch "
            "replaced by a signed summary; measured with the store's size (NaN until then).",
            "gauge", TARGET,
        )  # fmt: skip
        for kind in WriteKind:
            self.write_errors.labels(kind.value)
        for result in ("ok", "failed"):
            self.timestamps.labels(result)
        self.dropped.labels()
        self.writable.labels().set(1)
        self.target_families = (self.outcomes, self.duration, self.site_up, self.slots,
                                self.earliest_days, self.last_seen, self.interval,
                                self.info, self.pruned)  # fmt: skip
        self.sre = SreMetrics(version)  # build, store and disk, phases, certificates
        self.families = (*self.target_families, self.slot_lifetime, self.a11y, self.a11y_load,
                         self.substitute, self.assisted, self.sessions, self.lifetime,
                         self.write_errors, self.dropped, self.writable, self.timestamps,
                         self.canary_up, self.canary_checked, *self.sre.families)  # fmt: skip
        self._info_key: dict[str, tuple[str, ...]] = {}

    def declare(self, targets: Iterable[Target]) -> None:
        """Pre-create every series of every target (again after a reload: idempotent)."""
        targets = list(targets)
        self.sre.declare(targets)
        for t in targets:
            base = (t.id, t.department, t.procedure.value, t.platform)
            for outcome in Outcome:
                self.outcomes.labels(*base, outcome.value, AUTOMATIC)  # assisted: on use
            self.duration.labels(t.id, t.platform)
            self.slot_lifetime.labels(t.id)
            for gauge in (self.site_up, self.slots, self.last_seen):
                gauge.labels(t.id)
            if (t.id,) not in self.earliest_days.series:
                self.earliest_days.labels(t.id).set(math.nan)  # no date seen is not "today"
            if (t.id,) not in self.pruned.series:
                self.pruned.labels(t.id).set(math.nan)  # not measured yet is not "none"
            self.interval.labels(t.id).set(t.interval.total_seconds())
            info = (t.id, t.department, t.prefecture, t.procedure.value, t.platform, t.label)
            if self._info_key.get(t.id, info) != info:
                self.info.remove(*self._info_key[t.id])  # description edited on reload
            self._info_key[t.id] = info
            self.info.labels(*info).set(1)

    def forget(self, target_id: str, platform: Platform) -> None:
        """Drop a target removed from the catalog (on config reload)."""
        for family in (self.site_up, self.slots, self.earliest_days, self.last_seen,
                       self.interval, self.pruned):  # fmt: skip
            family.remove(target_id)
        self.duration.remove(target_id, platform)
        self.slot_lifetime.remove(target_id)
        for family in (self.outcomes, self.assisted, self.sessions, self.lifetime):
            for key in [k for k in family.series if k[0] == target_id]:
                family.remove(*key)
        if target_id in self._info_key:
            self.info.remove(*self._info_key.pop(target_id))
        for family in (self.a11y, self.a11y_load, self.substitute):
            for key in [k for k in family.series if k[0] == target_id]:
                family.remove(*key)

    def audited(self, target_id: str, audit: Audit) -> None:
        """The target's last accessibility audit replaces the one before (issue 18). Series
        exist only for targets audited at least once; a criterion/impact pair the last audit
        did not find reads 0 where an earlier audit had found it. Each run, of any profile,
        replaces its profile's step load times (a step it did not reach loses its series)."""
        profile = audit.profile.value
        for key in [k for k in self.a11y_load.series if k[:2] == (target_id, profile)]:
            self.a11y_load.remove(*key)
        for load in audit.loads:
            if load.ms is not None:
                self.a11y_load.labels(target_id, profile, load.step).set(load.ms / 1000)
        if not audit.axe_ran:  # a mobile or slow-network run: no violations to replace
            return
        for key in [k for k in self.a11y.series if k[0] == target_id]:
            self.a11y.labels(*key).set(0)
        counts: Counter[tuple[str, str]] = Counter()
        for page in audit.pages:
            for v in page.violations:
                impact = v.impact.value if v.impact is not None else "unknown"
                for criterion in v.criteria or ["none"]:
                    counts[criterion, impact] += 1
        for (criterion, impact), n in counts.items():
            self.a11y.labels(target_id, criterion, impact).set(n)

    def assisted_session(self, target: Target, record: Observation) -> None:
        """An assisted session ended (its record, watchdog/assist/record.py); series are
        created on a target's first session."""
        if record.assist is None:
            return
        self.sessions.labels(target.id, record.assist.end).inc()
        solved = record.assist.solved_after_s
        if solved is not None:
            self.lifetime.observe((target.id,), max(0.0, record.duration_s - solved))

    def substitute_checked(self, target_id: str, check: SubstituteCheck) -> None:
        """The target's last substitute channel check replaces the one before (issue 18):
        each channel kind has one series per outcome, 1 on the one found. Series exist only
        for targets checked at least once."""
        kept = set()
        for seen in check.channels:
            for outcome in ChannelOutcome:
                labels = (target_id, check.department, seen.kind.value, outcome.value)
                self.substitute.labels(*labels).set(1 if seen.outcome is outcome else 0)
                kept.add(labels)
        for key in [k for k in self.substitute.series if k[0] == target_id and k not in kept]:
            self.substitute.remove(*key)

    def observe(self, obs: Observation, target: Target) -> None:
        base = (target.id, target.department, target.procedure.value, target.platform)
        method = ASSISTED if obs.env.captcha_solved_by is not None else AUTOMATIC
        self.outcomes.labels(*base, obs.outcome.value, method).inc()
        if obs.env.captcha_solved_by is not None:  # created on the first assisted read
            self.assisted.labels(target.id, obs.outcome.value).inc()
        self.duration.observe((target.id, target.platform), obs.duration_s)
        self.last_seen.labels(target.id).set(obs.finished_at.timestamp())
        up = obs.outcome.site_up
        if up is not None:
            self.site_up.labels(target.id).set(1 if up else 0)
        if obs.outcome in (Outcome.AVAILABLE, Outcome.NO_SLOT):
            self.slots.labels(target.id).set(obs.slots or 0)
        self.earliest_days.labels(target.id).set(lead_days(obs))

    def slot_gone(self, target: Target, upper_s: float | None) -> None:
        """One slot left the page: the upper bound of its stay (None, no sample: the
        observation before it is not known, e.g. it was there at the first one)."""
        if upper_s is not None:
            self.slot_lifetime.observe((target.id,), upper_s)

    def network(self, target: Target, facts: NetworkFacts) -> None:
        """A probe's page-load phases and the certificate it saw (the runner's callback)."""
        self.sre.network(target, facts)

    def store_usage(self, size: StoreSize | None, disk: Disk | None) -> None:
        """The store's size (measured every few minutes) and the free disk (at each scrape)."""
        if size is not None:
            self.sre.store(size)
            if size.pruned is not None:  # the declared targets only: a removed one stays gone
                for key in self.pruned.series:
                    self.pruned.labels(*key).set(size.pruned.get(key[0], 0))
        self.sre.disk(disk)

    def store_health(self, snapshot: WriteSnapshot) -> None:
        """Copy the store's write health into its series (before each scrape)."""
        for kind, count in snapshot.errors.items():
            self.write_errors.labels(kind.value).set(count)
        self.dropped.labels().set(snapshot.dropped)
        self.writable.labels().set(1 if snapshot.writable else 0)

    def canary(self, check: CanaryCheck) -> None:
        """The vantage's last canary check (issue 17): its network up or down."""
        self.canary_up.labels(check.vantage).set(1 if check.ok else 0)
        self.canary_checked.labels(check.vantage).set(check.at.timestamp())

    def timestamped(self, result: str) -> None:
        """Count one timestamp request of the checkpointer ("ok" or "failed")."""
        self.timestamps.labels(result).inc()

    def exposition(self) -> bytes:
        return render(self.families) + generate_latest(self.registry)


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
    lines = render(metrics.target_families).decode().splitlines()
    return "\n".join(line for line in lines if line and not line.startswith("#"))
