"""`serve`: the read-only web workbench over the record (watchdog/workbench/)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.store.record import open_read_only
from watchdog.workbench.server import (
    DEFAULT_PORT,
    TOKEN_ENV,
    address,
    bind_socket,
    binding,
    server,
)


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


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    """Add `serve` to the CLI; `load` is the CLI's config loader."""
    p = add_verb(sub, "serve")
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
