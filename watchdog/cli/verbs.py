"""Every verb of the `watchdog` command, by name: the module that defines it and its summary.

The table is all `watchdog --help` needs, so listing the verbs imports nothing else: a verb's
module (and what it imports: the store, the browser, Apprise…) is imported only when that verb
runs. To add a verb, add a row here and a `register(sub, load, add_config)` in its module that
creates the parser with `add_verb(sub, name)`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from watchdog.config.loader import Config

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Loader: TypeAlias = Callable[[argparse.Namespace], "Config"]
AddConfig = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Verb:
    module: str  # defines `register(sub, load, add_config)`
    help: str


VERBS: dict[str, Verb] = {
    "check-config": Verb("watchdog.cli.catalog", "validate the configuration and exit"),
    "targets": Verb("watchdog.cli.catalog", "list the catalog of targets"),
    "probe": Verb("watchdog.cli.probe", "probe one target now, store and print the observation"),
    "audit": Verb(
        "watchdog.cli.audit",
        "accessibility audit (axe-core, RGAA 4.1) of each journey's step pages, stored",
    ),
    "substitute": Verb(
        "watchdog.cli.substitute",
        "substitute channel check: does the prefecture publish a way in besides online booking",
    ),
    "run": Verb(
        "watchdog.cli.run",
        "probe the catalog on schedule, serve /healthz and /metrics (SIGHUP reloads)",
    ),
    "worker": Verb(
        "watchdog.cli.worker",
        "scale-out: run probes as jobs shared with other workers on PostgreSQL",
    ),
    "status": Verb("watchdog.cli.run", "per target: last outcome and time, next due, back-off"),
    "observations": Verb("watchdog.cli.record", "list recorded observations (read-only)"),
    "show": Verb("watchdog.cli.record", "one observation: fields, chain position, verification"),
    "export": Verb("watchdog.cli.export", "open data: observations and daily figures, CSV/Parquet"),
    "serve": Verb("watchdog.cli.serve", "the read-only web workbench over the record (loopback)"),
    "verify": Verb(
        "watchdog.cli.verify",
        "recompute every hash chain and evidence blob, or check a bundle zip",
    ),
    "checkpoint": Verb(
        "watchdog.cli.checkpoint",
        "sign the chain heads now (and timestamp them, with checkpoints.tsa_url)",
    ),
    "retention": Verb(
        "watchdog.cli.retention",
        "prune by retention class (plan: dry run; apply), leaving signed summaries",
    ),
    "report": Verb("watchdog.cli.report", "evidence report (HTML, PDF) over a period"),
    "dossier": Verb("watchdog.cli.report", "référé file for one target: every attempt by ISO week"),
    "bundle": Verb(
        "watchdog.cli.report", "evidence bundle (zip) that `watchdog verify` checks offline"
    ),
    "observatory": Verb(
        "watchdog.cli.observatory", "the public observatory: a static site of the record"
    ),
    "incidents": Verb(
        "watchdog.cli.notify", "open incidents and those resolved in the last 7 days"
    ),
    "notify": Verb("watchdog.cli.notify", "notification tools"),
    "dashboards": Verb(
        "watchdog.cli.dashboards", "Grafana dashboards: build the JSON, push to Grafana"
    ),
    "simulate": Verb(
        "watchdog.cli.simulate", "serve replicas of the booking platforms on loopback"
    ),
    "demo": Verb(
        "watchdog.cli.demo", "run the watchdog on the bundled simulator (no config needed)"
    ),
}


def add_verb(sub: Subparsers, name: str) -> argparse.ArgumentParser:
    """The parser of verb `name`, with its summary from the table."""
    summary = VERBS[name].help
    return sub.add_parser(name, help=summary, description=summary)
