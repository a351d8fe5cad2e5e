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
        return run_worker(config, args.name)

    p = add_verb(sub, "worker")
    add_config(p)
    p.add_argument(
        "--concurrency", type=int, metavar="N",
        help="jobs this process runs at once (default: workers.concurrency)",
    )  # fmt: skip
    p.add_argument("--name", help="this worker's name in logs and claims (default: host:pid)")
    p.set_defaults(handler=cmd_worker)
