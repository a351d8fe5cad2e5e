"""`watchdog serve`: the workbench on uvicorn, registered by the CLI.

Loopback by default. Another address follows the listener's rule (`listen.expose` in the
configuration, docs/design.md): it needs `--expose`, and then always a token — taken from
WATCHDOG_WORKBENCH_TOKEN, else drawn at random and printed once with the address to open.
The store is opened read-only (watchdog/record.py) for the server's whole life.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from watchdog.config import Config, is_loopback
from watchdog.errors import WatchdogError
from watchdog.record import open_read_only
from watchdog.store import Store
from watchdog.workbench.app import create_app

Loader = Callable[[argparse.Namespace], Config]
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


def server(config: Config, store: Store, bound: Binding) -> uvicorn.Server:
    app = create_app(config, store, bound.token, loopback=bound.loopback)
    settings = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, date_header=True,
        proxy_headers=False, lifespan="off",
    )  # fmt: skip
    return uvicorn.Server(settings)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    bound = binding(args.host, args.port, args.expose, os.environ.get(TOKEN_ENV) or None)
    with open_read_only(config.watchdog.data_dir, config.watchdog.database_url) as store:
        sock = bind_socket(bound.host, bound.port)
        url = address(bound, sock)
        opened = f"{url}?token={bound.token}" if bound.token else url
        print(f"workbench (read-only) on {opened}", flush=True)
        if not bound.loopback:
            print(
                f"warning: listening on {bound.host!r}: reachable from other machines; "
                "every request needs the token above",
                file=sys.stderr,
            )
        print("Ctrl-C stops it.", file=sys.stderr, flush=True)
        try:
            asyncio.run(server(config, store, bound).serve(sockets=[sock]))
        finally:
            sock.close()
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    load: Loader,
    add_config: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `serve` to the CLI; `load` is the CLI's config loader."""
    p = sub.add_parser("serve", help="the read-only web workbench over the record (loopback)")
    add_config(p)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"listen port (default {DEFAULT_PORT}; 0 picks a free one)")  # fmt: skip
    p.add_argument(
        "--expose",
        action="store_true",
        help=f"allow a non-loopback --host; a token is then required ({TOKEN_ENV} or drawn)",
    )
    p.set_defaults(handler=lambda a: cmd_serve(a, load(a)))
