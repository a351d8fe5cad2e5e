"""Test plumbing for notifications: real local receivers (no Apprise mock), a settable clock,
observations with a framed capture, and a config builder.

- `HttpReceiver`: an aiohttp server for Apprise's json:// and form:// that answers 200, 500 or
  never (mode "hang"); it keeps every request it received.
- `SmtpReceiver`: aiosmtpd on loopback for mailto://; it keeps every parsed e-mail.
"""

from __future__ import annotations

import asyncio
import email
import io
import itertools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiosmtpd.controller import Controller
from harness import LoopThread
from PIL import Image
from polling import wait_until

from watchdog.config.loader import Config
from watchdog.domain.models import Env, EvidenceRefs, Observation, Outcome
from watchdog.notify.service import Notifications
from watchdog.store import Store

PARIS = ZoneInfo("Europe/Paris")
TOKEN = "Tok3nSecretXYZ987"  # appears in every URL the tests configure
PASSWORD = "Pa55wordSecret42"
_ids = itertools.count(1)


def paris(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until truthy; fail after `timeout` seconds."""
    return wait_until(check, timeout, what, every=0.02)


class Clock:
    """The injectable clock: set or advance by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


class HttpReceiver:
    """json:// and form:// target on loopback; `mode` is "ok", "fail" (500) or "hang"."""

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.mode = "ok"
        self.received: list[Received] = []
        self.hits = 0
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.port = loop.run(self._start())

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "hang":
            await self._release.wait()
        if self.mode == "fail":
            return web.Response(status=500, text="boom")
        self.received.append(await _read(request))
        return web.Response(text="ok")

    def url(self, scheme: str = "json", path: str = f"/hook/{TOKEN}") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.loop.loop.call_soon_threadsafe(self._release.set)
        self.loop.run(self.runner.cleanup())


async def _read(request: web.Request) -> Received:
    got = Received(request.path, dict(request.headers))
    if request.content_type == "application/json":
        got.json = await request.json()
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                got.files[key] = value.file.read()
            else:
                got.form[key] = str(value)
    return got


class _Handler:
    def __init__(self, sink: list[EmailMessage]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on loopback."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(_Handler(self.messages), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?mode=insecure&from=watchdog@example.org"
            f"&to=permanence@example.org&name=Watchdog"
        )

    def close(self) -> None:
        self.controller.stop()


def png(text: str = "capture") -> bytes:
    image = Image.new("RGB", (64, 32), (240, 240, 240))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue() + text.encode()  # distinct bytes per text (PNG ignores trailers)


def target(target_id: str = "ain-premiere-demande", department: str = "01",
           prefecture: str = "Ain", label: str = "Première demande de titre de séjour"
           ) -> dict[str, Any]:  # fmt: skip
    return {
        "id": target_id,
        "department": department,
        "prefecture": prefecture,
        "procedure": "premiere_demande",
        "label": label,
        "platform": "legacy_booking",
        "url": f"https://www.example.gouv.fr/booking/create/{target_id}/0",
    }


def config(routes: list[dict[str, Any]], targets: list[dict[str, Any]] | None = None,
           **notifications: Any) -> Config:  # fmt: skip
    return Config.model_validate(
        {
            "targets": targets if targets is not None else [target()],
            "notifications": {"routes": routes, **notifications},
        }
    )


def observe(
    store: Store, target_id: str, at: datetime, outcome: Outcome, *, framed: bool = True,
    **fields: Any,
) -> Observation:  # fmt: skip
    """Store one observation (with a framed capture blob) and return the sealed copy.

    `fields` override Observation fields: detail, message, tags, slots…"""
    n = next(_ids)
    evidence = EvidenceRefs()
    if framed:
        evidence = EvidenceRefs(framed=store.blobs.put(png(f"{target_id}-{n}"), "framed"))
    values: dict[str, Any] = {
        "id": f"01NOTIFYTEST{n:08d}",
        "target": target_id,
        "outcome": outcome,
        "detail": outcome.value,
        "started_at": at.astimezone(UTC),
        "finished_at": at.astimezone(UTC) + timedelta(seconds=3),
        "duration_s": 3.0,
        "final_url": f"https://www.example.gouv.fr/booking/create/{target_id}/2",
        "http_status": 502 if outcome is Outcome.SITE_ERROR else 200,
        "evidence": evidence,
        "env": Env(software="prefecture-watchdog test"),
        **fields,
    }
    obs = Observation(**values)
    return store.append(obs)


@dataclass
class Rig:
    """Notifications over a store, driven by hand: feed observations, tick, deliver."""

    store: Store
    config: Config
    clock: Clock
    service: Notifications
    counts: list[tuple[str, str]]

    def feed(self, target_id: str, at: datetime, outcome: Outcome, **kw: Any) -> Observation:
        self.clock.set(at + timedelta(seconds=5))
        obs = observe(self.store, target_id, at, outcome, **kw)
        target = self.config.target(target_id)
        assert target is not None
        asyncio.run(self.service.on_observation(obs, target))
        return obs

    def deliver(self) -> int:
        async def both() -> int:
            await self.service.engine.tick()
            return await self.service.deliverer.run_once()

        return asyncio.run(both())

    def close(self) -> None:
        self.service.deliverer.close()


def rig(store: Store, cfg: Config, now: datetime) -> Rig:
    clock = Clock(now)
    counts: list[tuple[str, str]] = []
    service = Notifications(cfg, store, lambda r, res: counts.append((r, res)), clock)
    return Rig(store, cfg, clock, service, counts)


def receivers() -> Iterator[tuple[LoopThread, HttpReceiver]]:
    loop = LoopThread()
    receiver = HttpReceiver(loop)
    yield loop, receiver
    receiver.close()
    loop.stop()
