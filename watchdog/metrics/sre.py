"""The series an SRE reads about the watchdog itself (issue 17): what runs, how much room the
store takes and has left, how long each phase of a page load takes, when the sites'
certificates expire. Names and labels are a contract (README § Metrics).

Labels come from closed vocabularies (`part`, `phase`), the configuration (`platform`) or the
hosts of configured target URLs (`host`): a certificate measured on a host no target names (a
redirect elsewhere in allowed_hosts) is not exported. The process collectors of
prometheus_client (process_*, python_info, python_gc_*) are added to the daemon's registry
by `add_process_collectors`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from watchdog.domain.target import Target
from watchdog.evidence.network import PHASES, NetworkFacts
from watchdog.metrics.exposition import Family
from watchdog.store.usage import Disk, StoreSize

PHASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PARTS = ("database", "evidence")


class SreMetrics:
    """Build, store and disk, page-load phases, certificate expiry."""

    def __init__(self, version: str) -> None:
        self.build_info = Family(
            "watchdog_build_info", "The running watchdog's version (always 1).", "gauge",
            ("version",),
        )  # fmt: skip
        self.store_bytes = Family(
            "watchdog_store_bytes",
            "Bytes the store takes: the database, the evidence directory (NaN: not measured).",
            "gauge", ("part",),
        )  # fmt: skip
        self.disk_free = Family(
            "watchdog_disk_free_bytes",
            "Bytes an unprivileged user may still write on the file system of data_dir.",
            "gauge", (),
        )  # fmt: skip
        self.disk_size = Family(
            "watchdog_disk_size_bytes", "Size of the file system of data_dir.", "gauge", ()
        )
        self.phases = Family(
            "watchdog_probe_phase_seconds",
            "Phases of the last page load of a browser probe (Navigation Timing): dns, connect "
            "(TCP), tls, first_byte, load.", "histogram", ("platform", "phase"), PHASE_BUCKETS,
        )  # fmt: skip
        self.tls_expiry = Family(
            "watchdog_tls_cert_expiry_timestamp_seconds",
            "Unix time at which the certificate a target's host presented expires (notAfter).",
            "gauge", ("host",),
        )  # fmt: skip
        self.build_info.labels(version).set(1)
        for part in PARTS:
            self.store_bytes.labels(part).set(math.nan)
        self.disk_free.labels().set(math.nan)
        self.disk_size.labels().set(math.nan)
        self.families = (self.build_info, self.store_bytes, self.disk_free, self.disk_size,
                         self.phases, self.tls_expiry)  # fmt: skip
        self._hosts: set[str] = set()

    def declare(self, targets: Iterable[Target]) -> None:
        """The catalog (again after a reload): phases per platform; certificates of its hosts."""
        targets = list(targets)
        for platform in sorted({t.platform for t in targets}):
            for phase in PHASES:
                self.phases.labels(platform, phase)
        self._hosts = {t.host for t in targets}
        for (host,) in [key for key in self.tls_expiry.series if key[0] not in self._hosts]:
            self.tls_expiry.remove(host)

    def network(self, target: Target, facts: NetworkFacts) -> None:
        """What one probe measured (watchdog/engine/runner.py hands it over)."""
        for phase, seconds in facts.phases.items():
            if phase in PHASES:
                self.phases.observe((target.platform, phase), seconds)
        if facts.certificate_not_after is not None and facts.host in self._hosts:
            self.tls_expiry.labels(facts.host).set(facts.certificate_not_after.timestamp())

    def store(self, size: StoreSize) -> None:
        database = size.database_bytes
        self.store_bytes.labels("database").set(math.nan if database is None else database)
        self.store_bytes.labels("evidence").set(size.evidence_bytes)

    def disk(self, disk: Disk | None) -> None:
        self.disk_free.labels().set(math.nan if disk is None else disk.free_bytes)
        self.disk_size.labels().set(math.nan if disk is None else disk.size_bytes)


def add_process_collectors(registry: CollectorRegistry) -> None:
    """prometheus_client's default collectors (CPU, memory, file descriptors, start time,
    Python version, garbage collector) on `registry`, as on its global one."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
