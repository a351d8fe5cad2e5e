"""Delivery: the outbox worker and the Apprise sender.

The worker claims due rows, sends each through Apprise in its own small thread pool (never
the default executor the recorder uses), and records the result: sent; or retried with
exponential back-off; or, after `delivery.attempts`, given up. Quiet hours postpone a send
to their end without counting an attempt. Every result is counted per route in
`watchdog_notifications_total{route,result}`; no error text quotes a URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import apprise
from apprise.attachment.file import AttachFile

from watchdog.config.notifications import Delivery, NotificationSettings, Route, day_minutes
from watchdog.config.secrets import LOGGER, REDACTOR, install
from watchdog.domain.clock import PARIS
from watchdog.notify.repo import FAILED, SENT, Message, Queued, Repo
from watchdog.stats.calendar import paris_midnight

log = logging.getLogger(LOGGER)

Count = Callable[[str, str], None]  # (route id, result)
BlobPath = Callable[[str], Path | None]
EXECUTOR_GRACE_S = 5.0  # beyond the sockets' own timeouts


class Sender(Protocol):
    def send(self, route: Route, message: Message, attachments: list[Path]) -> str | None:
        """None when delivered, else a short reason that quotes no URL."""


class AppriseSender:
    """A new Apprise object per send: Apprise throttles repeated sends through one object."""

    def __init__(self, base_dir: Path, timeout: timedelta) -> None:
        self.base_dir = base_dir
        self.timeout = timeout.total_seconds()
        install()

    def services(self, route: Route) -> list[apprise.NotifyBase] | str:
        """The route's services with our timeouts, or the reason they cannot be loaded."""
        services = []
        for url in route.urls:
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                return "an Apprise URL of the route does not load"
            services.append(plugin)
        if route.config_file is not None:
            path = route.config_file
            path = path if path.is_absolute() else self.base_dir / path
            if not path.is_file():
                return f"Apprise config file {path} not found"
            config = apprise.AppriseConfig()
            config.add(str(path))
            services.extend(config.services())
        for plugin in services:
            plugin.socket_connect_timeout = self.timeout
            plugin.socket_read_timeout = self.timeout
            plugin.request_rate_per_sec = 0
        return services

    def send(self, route: Route, message: Message, attachments: list[Path]) -> str | None:
        services = self.services(route)
        if isinstance(services, str):
            return services
        if not services:
            return "the route has no service to notify"
        notifier = apprise.Apprise()
        for service in services:
            notifier.add(service)
        attach = apprise.AppriseAttachment()
        for path in attachments:
            name = f"capture-{path.name[:12]}.png"
            attach.add(AttachFile(str(path), name=name, mimetype="image/png"))  # type: ignore[no-untyped-call]
        result = notifier.notify(
            body=message.body,
            title=message.title,
            notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.TEXT,  # plain text keeps « » and no-break spaces
            tag=route.tags or apprise.common.MATCH_ALL_TAG,
            attach=attach if len(attach) else None,
        )
        return None if bool(result) else "the service did not accept the notification"


def quiet_until(hours: str | None, now: datetime) -> datetime | None:
    """The end of the quiet hours `now` falls in (Europe/Paris), or None outside them."""
    if hours is None:
        return None
    first, last = (day_minutes(part) for part in hours.split("-"))
    local = now.astimezone(PARIS)
    minute = local.hour * 60 + local.minute
    today = local.date()
    if first < last:
        inside, end_day = first <= minute < last, today
    else:  # crosses midnight
        inside = minute >= first or minute < last
        end_day = today + timedelta(days=1) if minute >= first else today
    if not inside:
        return None
    return paris_midnight(end_day) + timedelta(minutes=last)


def backoff(policy: Delivery, attempts: int) -> timedelta:
    """Delay after the `attempts`-th failure: backoff × 2^(attempts − 1), capped."""
    delay: timedelta = policy.backoff * (2 ** max(attempts - 1, 0))
    return min(delay, policy.backoff_cap)


class Deliverer:
    """Sends what the outbox holds; `run_once()` is one pass (the service loops over it)."""

    def __init__(
        self,
        repo: Repo,
        settings: Callable[[], NotificationSettings],
        sender: Sender,
        clock: Callable[[], datetime],
        blob_path: BlobPath,
        count: Count,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.blob_path = blob_path
        self.count = count
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run_once(self) -> int:
        """Deliver every due row (routes in parallel, each route in order); returns how many
        rows were handled."""
        due = await asyncio.to_thread(self.repo.claim_due, self.clock())
        by_route: dict[str, list[Queued]] = {}
        for item in due:
            by_route.setdefault(item.message.route, []).append(item)
        await asyncio.gather(*(self._route(items) for items in by_route.values()))
        return len(due)

    async def _route(self, items: list[Queued]) -> None:
        for item in items:
            try:
                await self._deliver(item)
            except Exception as exc:  # a store hiccup: the row's lease expires, it comes back
                log.error("notification %s to %s: %s", item.message.event.value,
                          item.message.route, REDACTOR.redact(type(exc).__name__))  # fmt: skip

    async def _deliver(self, item: Queued) -> None:
        settings = self.settings()
        route = settings.route(item.message.route)
        if route is None:
            await asyncio.to_thread(self.repo.finish, item, FAILED, self.clock(), "route removed")
            return
        quiet_end = quiet_until(route.quiet_hours, self.clock())
        if quiet_end is not None:
            await asyncio.to_thread(self.repo.retry, item, quiet_end, None)
            return
        error = await self._send(route, item, settings.delivery)
        done = replace(item, attempts=item.attempts + 1)
        now = self.clock()
        if error is None:
            await asyncio.to_thread(self.repo.finish, done, SENT, now)
            self.count(route.id, "sent")
        elif done.attempts >= settings.delivery.attempts:
            await asyncio.to_thread(self.repo.finish, done, FAILED, now, error)
            self.count(route.id, "failed")
            log.warning("notification %s to route %s given up after %d attempts: %s",
                        item.message.event.value, route.id, done.attempts, error)  # fmt: skip
        else:
            when = now + backoff(settings.delivery, done.attempts)
            await asyncio.to_thread(self.repo.retry, done, when, error)
            self.count(route.id, "retry")
            log.info("notification %s to route %s failed (attempt %d), retry at %s: %s",
                     item.message.event.value, route.id, done.attempts, when.isoformat(),
                     error)  # fmt: skip

    async def _send(self, route: Route, item: Queued, policy: Delivery) -> str | None:
        paths = [p for p in map(self.blob_path, item.message.attachments) if p is not None]
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._pool, self.sender.send, route, item.message, paths)
        limit = policy.timeout.total_seconds()
        try:
            return await asyncio.wait_for(job, limit + EXECUTOR_GRACE_S)
        except TimeoutError:
            return f"no answer within {limit:g}s"
        except Exception as exc:  # Apprise or a plugin raised: report its class only
            return f"{type(exc).__name__} while sending"
