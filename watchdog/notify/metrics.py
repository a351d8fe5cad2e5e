"""`watchdog_notifications_total{route,result}`: labels are route ids from the config and the
closed result vocabulary, never a URL."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter

RESULTS = ("sent", "retry", "failed")


class NotificationMetrics:
    """Registered next to the docs/design.md §3 series (on the daemon's registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "watchdog_notifications",
            "Notification delivery attempts by route and result: sent, retry (failed, will be "
            "tried again), failed (given up after the last attempt).",
            ["route", "result"],
            registry=registry,
        )

    def declare(self, route_ids: Iterable[str]) -> None:
        for route in route_ids:
            for result in RESULTS:
                self.deliveries.labels(route, result)

    def count(self, route: str, result: str) -> None:
        self.deliveries.labels(route, result).inc()
