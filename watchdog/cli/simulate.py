"""`simulate`: the replicas of the booking platforms, served on loopback."""

from __future__ import annotations

import argparse

from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.simulator.app import main_simulate


def cmd_simulate(args: argparse.Namespace) -> int:
    return main_simulate(args.scenario, args.host, args.port, args.log)


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    p = add_verb(sub, "simulate")
    p.add_argument("--scenario", help="scenario YAML (default: the bundled demo scenario)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="listen port (default 8765)")
    p.add_argument("--log", metavar="FILE", help="append every request to this JSONL file")
    p.set_defaults(handler=cmd_simulate)
