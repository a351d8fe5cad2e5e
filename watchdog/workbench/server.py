"""The workbench on uvicorn: where it listens, with which token (`watchdog serve`,
watchdog/cli/serve.py).

Loopback by default. Another address follows the listener's rule (`listen.expose` in the
configuration, docs/design.md): it needs `--expose`, and then always a token — taken from
WATCHDOG_WORKBENCH_TOKEN, else drawn at random and printed once with the address to open.
The store is opened read-only (watchdog/store/record.py) for the server's whole life.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from watchdog.config.loader import Config, is_loopback
from watchdog.domain.errors import WatchdogError
from watchdog.store import Store
from watchdog.workbench.app import create_app

if TYPE_CHECKING:
    from watchdog.assist.desk import Desk

DEFAULT_PORT = 8790
TOKEN_ENV = "WATCHDOG_WORKBENCH_TOKEN"
MIN_TOKEN = 16


@dataclass(frozen=True)
class Binding:
    """Where to listen and with which token (None: no token, loopback only)."""

    host: str
    port: int
    token: str | None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def binding(host: str, port: int, expose: bool, token: str | None) -> Binding:
    """The checked binding: a non-loopback host needs `expose` and gets a token."""
    if token is not None and len(token) < MIN_TOKEN:
        raise WatchdogError(f"{TOKEN_ENV}: a token of at least {MIN_TOKEN} characters, please")
    if is_loopback(host):
        return Binding(host, port, token)
    if not expose:
        raise WatchdogError(
            f"--host {host!r} is not a loopback address: the workbench would be reachable "
            "from other machines; pass --expose to mean it (a token is then required)"
        )
    return Binding(host, port, token or secrets.token_urlsafe(24))


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts (so port 0 gets its number)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WatchdogError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def address(bound: Binding, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    host = f"[{bound.host}]" if ":" in bound.host else bound.host
    if host in ("0.0.0.0", "[::]", ""):
        host = socket.gethostname()
    return f"http://{host}:{port}/"


def server(
    config: Config, store: Store, bound: Binding, desk: Desk | None = None
) -> uvicorn.Server:
    app = create_app(config, store, bound.token, loopback=bound.loopback, desk=desk)
    settings = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, date_header=True,
        proxy_headers=False, lifespan="off",
    )  # fmt: skip
    return uvicorn.Server(settings)
