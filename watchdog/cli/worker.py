"""The `worker` verb: one scale-out worker process on PostgreSQL (README « Scale-out »)."""

from __future__ import annotations

import argparse

from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_worker(args: argparse.Namespace) -> int:
        from watchdog.workers.service import run_worker  # procrastinate: for this verb only

        config = load(args)
        if args.concurrency is not None:
            workers = config.workers.model_copy(update={"concurrency": args.concurrency})
            config = config.model_copy(update={"workers": workers})
        if args.port is not None:  # N workers on one machine: one listener each
            listen = config.listen.model_copy(update={"port": args.port})
            config = config.model_copy(update={"listen": listen})
        return run_worker(config, args.name)

    p = add_verb(sub, "worker")
    add_config(p)
    p.add_argument(
        "--concurrency", type=int, metavar="N",
        help="jobs this process runs at once (default: workers.concurrency)",
    )  # fmt: skip
    p.add_argument("--name", help="this worker's name in logs and claims (default: host:pid)")
    p.add_argument(
        "--port", type=_port, metavar="PORT",
        help="port of this worker's /healthz and /metrics (default: listen.port; 0: any free "
        "port, written in its file_sd entry)",
    )  # fmt: skip
    p.set_defaults(handler=cmd_worker)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return value
