"""`check-config` and `targets`: the configuration and its catalog of targets."""

from __future__ import annotations

import argparse
import json

from watchdog.cli.tables import targets_table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_check_config(args: argparse.Namespace) -> int:
        config = load(args)
        print(f"{config.source}: OK ({len(config.targets)} targets)")
        return 0

    def cmd_targets(args: argparse.Namespace) -> int:
        config = load(args)
        if args.json:
            rows = [t.model_dump(mode="json", exclude={"options"}) for t in config.targets]
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            print(targets_table(config.targets))
        return 0

    p = add_verb(sub, "check-config")
    add_config(p)
    p.set_defaults(handler=cmd_check_config)
    p = add_verb(sub, "targets")
    add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_targets)
