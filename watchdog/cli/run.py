"""The `run` and `status` verbs."""

from __future__ import annotations

import argparse
import json

from watchdog.cli.status import collect, render
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import config_path
from watchdog.daemon.service import run_daemon
from watchdog.domain.errors import ConfigMissing

RUN_WITHOUT_CONFIG = (
    "no configuration found, so there is nothing to watch. Write one: copy "
    "config/examples/watchdog.yaml and config/examples/catalog.yaml into config/ (the first "
    "includes the second), replace the example targets with the journeys you watch, check "
    "with `watchdog check-config`, then run `watchdog run` again (or pass --config FILE, or "
    "set WATCHDOG_CONFIG). To see the watchdog work with no configuration: `watchdog demo`."
)


def register(
    sub: Subparsers,
    load: Loader,
    add_config: AddConfig,
) -> None:
    """Add `run` and `status` to the CLI; `load` is the CLI's config loader."""

    def cmd_run(args: argparse.Namespace) -> int:
        if config_path(args.config) is None:
            raise ConfigMissing(RUN_WITHOUT_CONFIG)
        return run_daemon(load(args), args.minutes)

    def cmd_status(args: argparse.Namespace) -> int:
        report = collect(load(args))
        if args.json:
            print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        else:
            print(render(report))
        return 0

    p = add_verb(sub, "run")
    add_config(p)
    p.add_argument(
        "--minutes", type=float, metavar="N", help="stop cleanly after N minutes (default: never)"
    )
    p.set_defaults(handler=cmd_run)
    p = add_verb(sub, "status")
    add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_status)
