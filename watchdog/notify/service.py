"""Notifications as one component of `watchdog run`: the incident engine, the outbox worker
and its loop. The daemon calls `on_observation` after each stored observation and starts and
stops the loop; nothing here can stop probing (errors are logged, sends run in threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from watchdog.config.loader import Config
from watchdog.config.notifications import Route
from watchdog.config.secrets import LOGGER, REDACTOR
from watchdog.domain.incidents import Event
from watchdog.domain.models import Observation
from watchdog.domain.target import Target
from watchdog.notify.bridge import add_bridge
from watchdog.notify.delivery import AppriseSender, Count, Deliverer, Sender
from watchdog.notify.incidents import IncidentEngine, utc_now
from watchdog.notify.metrics import NotificationMetrics
from watchdog.notify.repo import Message, Repo
from watchdog.store import Store

log = logging.getLogger(LOGGER)


def _no_count(route: str, result: str) -> None:
    return None


class Notifications:
    """Incident engine + delivery over one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        count: Count = _no_count,
        clock: Callable[[], datetime] = utc_now,
        sender: Sender | None = None,
    ) -> None:
        self.store = store
        self.repo = Repo(store.engine)
        self.engine = IncidentEngine(config, store, self.repo, self.link, clock)
        settings = config.notifications
        self.sender = sender or AppriseSender(base_dir(config), settings.delivery.timeout)
        self.deliverer = Deliverer(
            self.repo, lambda: self.engine.settings, self.sender, clock, self.blob_path, count
        )
        self.clock = clock
        self.metrics: NotificationMetrics | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_daemon(cls, config: Config, store: Store, registry: CollectorRegistry) -> Notifications:
        """The daemon's instance: deliveries counted on its registry (creates the tables)."""
        metrics = NotificationMetrics(registry)
        metrics.declare(r.id for r in config.notifications.routes)
        service = cls(config, store, metrics.count)
        service.metrics = metrics
        return service

    @property
    def config(self) -> Config:
        return self.engine.config

    def link(self, sha: str) -> str:
        """Where a person finds an evidence blob: `evidence_base_url`/sha, or its path."""
        base = self.config.notifications.evidence_base_url
        if base:
            return f"{base.rstrip('/')}/{sha}"
        return str(self.store.blobs.path(sha).resolve())

    def blob_path(self, sha: str) -> Path | None:
        path = self.store.blobs.path(sha)
        return path if path.is_file() else None

    async def on_observation(self, obs: Observation, target: Target) -> None:
        await self.engine.on_observation(obs, target)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery loop (reminders, digests, sends) in the background."""
        if self._task is None and self.config.notifications.enabled:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="notify")

    async def stop(self) -> None:
        """Stop the loop; unsent notifications stay queued in the store for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.deliverer.close()

    def reload(self, config: Config) -> None:
        """New routes and thresholds apply from the next observation and delivery pass."""
        self.engine.config = config
        if self.metrics is not None:
            self.metrics.declare(r.id for r in config.notifications.routes)

    async def _loop(self) -> None:
        while True:
            self.engine.queued.clear()
            await self.engine.tick()
            try:
                await self.deliverer.run_once()
            except Exception as exc:  # the store is unreachable: try again next pass
                log.error("notification delivery: %s", REDACTOR.redact(type(exc).__name__))
            poll = self.config.notifications.delivery.poll.total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.engine.queued.wait(), poll)

    # -- one-off sends --------------------------------------------------------------------

    async def send_now(self, route: Route, title: str, body: str) -> str | None:
        """Send through `route` at once, outside the outbox (`watchdog notify test`)."""
        message = Message("test", route.id, Event.TEST, title, body)
        return await asyncio.to_thread(self.sender.send, route, message, [])

    def add_routes(self, app: web.Application) -> None:
        """Listener hook: the Alertmanager bridge, when enabled."""
        settings = self.config.notifications
        if settings.enabled and settings.alertmanager.enabled:
            add_bridge(app, settings, self.repo, self.clock, self.engine.queued)


def base_dir(config: Config) -> Path:
    """Relative paths in the config (an Apprise config_file) are relative to the config file."""
    return Path(config.source).parent if config.source else Path.cwd()
