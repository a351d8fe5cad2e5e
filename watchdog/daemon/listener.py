"""The HTTP listener of `watchdog run`: `/healthz` (JSON) and `/metrics` (Prometheus)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram

from watchdog.config.loader import is_loopback
from watchdog.daemon.scheduler import Snapshot
from watchdog.domain.errors import WatchdogError
from watchdog.domain.target import Target

log = logging.getLogger(__name__)

LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)

Health = Callable[[], dict[str, Any]]
Exposition = Callable[[], bytes]
Extra = Callable[[web.Application], None]


class SchedulerMetrics:
    """The scheduler's own series, registered next to the docs/design.md §3 metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lateness = Histogram(
            "watchdog_scheduler_lateness_seconds",
            "Actual minus planned start of each probe (budget and concurrency waits).",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "watchdog_scheduler_in_flight", "Probes running now.", registry=registry
        )
        self.backoff_level = Gauge(
            "watchdog_scheduler_backoff_level",
            "Back-off level of the target's host (0: normal pace; delay × factor^level).",
            ["target"],
            registry=registry,
        )

    def declare(self, targets: Iterable[Target]) -> None:
        for target in targets:
            self.backoff_level.labels(target.id)

    def forget(self, target_id: str) -> None:
        self.backoff_level.remove(target_id)

    def refresh(self, snapshot: Snapshot) -> None:
        """Copy the scheduler's live state into the gauges (called before each scrape)."""
        self.in_flight.set(snapshot.in_flight)
        for target in snapshot.targets:
            self.backoff_level.labels(target.id).set(target.backoff_level)


def build_app(
    health: Health, exposition: Exposition, extra: Extra | None = None
) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        body = health()
        # Load balancers and container health checks read the status code, not the body.
        return web.json_response(body, status=503 if body.get("status") == "unhealthy" else 200)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if extra is not None:
        extra(app)  # optional endpoints of other components (the Alertmanager bridge)
    return app


async def start_listener(
    host: str, port: int, health: Health, exposition: Exposition, extra: Extra | None = None
) -> tuple[web.AppRunner, int]:
    """Serve `/healthz` and `/metrics` on host:port; return the runner and the bound port."""
    app = build_app(health, exposition, extra)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WatchdogError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    if not is_loopback(host):  # the config allowed it only with listen.expose: true
        log.warning("listening on %r port %d: reachable from other machines (listen.expose)",
                    host, bound)  # fmt: skip
    return runner, bound
