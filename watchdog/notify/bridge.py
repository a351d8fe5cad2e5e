"""Alertmanager bridge: `POST /alertmanager` takes Alertmanager's webhook (version 4) and
queues one message per configured route, so SREs who run Prometheus keep one notification
configuration (the routes, their quiet hours and retries).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ulid import ULID

from watchdog.config.notifications import NotificationSettings, Route
from watchdog.domain.incidents import Event
from watchdog.notify.repo import Message, Repo
from watchdog.notify.text import Lang, label, moment

MAX_BODY = 1024 * 1024
MAX_ALERTS_LISTED = 20


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Alert(_Loose):
    status: str = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None  # Alertmanager's field names
    endsAt: datetime | None = None


class Webhook(_Loose):
    version: str = "4"
    status: str = "firing"
    groupKey: str = ""
    commonLabels: dict[str, str] = Field(default_factory=dict)
    alerts: list[Alert] = Field(default_factory=list)


def _t(lang: Lang, fr: str, en: str) -> str:
    return fr if lang == "fr" else en


def render_webhook(hook: Webhook, lang: Lang) -> tuple[str, str, str]:
    """Title, body and Apprise notify type of one webhook."""
    firing = [a for a in hook.alerts if a.status == "firing"]
    name = hook.commonLabels.get("alertname", "")
    if firing:
        head = _t(lang, f"{len(firing)} alerte(s) en cours", f"{len(firing)} alert(s) firing")
        kind = "failure"
    else:
        head = _t(lang, "résolu", "resolved")
        kind = "success"
    title = f"Alertmanager — {label(lang, head)} {name}".rstrip(" :\u00a0")
    lines = [_alert_line(a, lang) for a in hook.alerts[:MAX_ALERTS_LISTED]]
    if len(hook.alerts) > MAX_ALERTS_LISTED:
        more = len(hook.alerts) - MAX_ALERTS_LISTED
        lines.append(_t(lang, f"… et {more} autre(s).", f"… and {more} more."))
    return title, "\n".join(lines), kind


def _alert_line(alert: Alert, lang: Lang) -> str:
    state = (
        _t(lang, "en cours", "firing")
        if alert.status == "firing"
        else _t(lang, "résolue", "resolved")
    )
    name = alert.labels.get("alertname", "?")
    where = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    text = f"• [{state}] {name}" + (f" ({where})" if where else "")
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        text += f" — {summary}"
    if alert.startsAt is not None and alert.startsAt.year > 1:
        text += _t(lang, f", depuis le {moment(lang, alert.startsAt)}",
                   f", since {moment(lang, alert.startsAt)}")  # fmt: skip
    return text


def messages_for(
    hook: Webhook, routes: list[Route], settings: NotificationSettings
) -> list[Message]:
    key = str(ULID())  # Alertmanager does its own grouping and repeats: each call is news
    messages = []
    for route in routes:
        title, body, kind = render_webhook(hook, route.language or settings.language)
        messages.append(
            Message(
                f"alertmanager:{key}:{route.id}", route.id, Event.ALERTMANAGER, title, body, kind
            )
        )
    return messages


def _authorized(request: web.Request, token: str | None) -> bool:
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def add_bridge(
    app: web.Application,
    settings: NotificationSettings,
    repo: Repo,
    clock: Callable[[], datetime],
    wake: asyncio.Event,
) -> None:
    """Serve the bridge on `settings.alertmanager.path`."""

    async def receive(request: web.Request) -> web.Response:
        if not _authorized(request, settings.alertmanager.bearer_token):
            return web.json_response({"error": "unauthorized"}, status=401)
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return web.json_response({"error": "payload too large"}, status=413)
        try:
            hook = Webhook.model_validate_json(raw)
        except ValidationError:
            return web.json_response({"error": "not an Alertmanager webhook"}, status=400)
        messages = messages_for(hook, settings.bridge_routes(), settings)
        queued = await asyncio.to_thread(repo.enqueue, messages, clock())
        wake.set()
        body: dict[str, Any] = {"queued": queued, "alerts": len(hook.alerts)}
        return web.json_response(body)

    app.router.add_post(settings.alertmanager.path, receive)
