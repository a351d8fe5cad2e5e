"""`watchdog observatory build`: the public observatory as a static site (watchdog/observatory).

watchdog observatory build --out site/ [--from 2026-09-01] [--to 2026-11-30]

Reads the store read-only; shows progress on a terminal and ends with one line saying what
it wrote.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from watchdog.cli.outputs import writable_dir
from watchdog.cli.progress import progress
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.domain.errors import WatchdogError
from watchdog.observatory import build_observatory, default_period
from watchdog.observatory.build import steps
from watchdog.store.record import open_read_only


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def cmd_build(args: argparse.Namespace, config: Config) -> int:
    if args.first is not None and args.last is not None and args.last < args.first:
        raise WatchdogError("--to is before --from")
    writable_dir(args.out)
    targets = config.targets
    if not targets:
        raise WatchdogError("the configuration has no target: nothing to publish")
    with open_read_only(config.watchdog.data_dir, config.watchdog.database_url) as store:
        period = default_period(store, targets, args.first, args.last)
        if period is None:
            raise WatchdogError("no observation in the record: pass --from and --to to publish "
                                "an observatory that says so")  # fmt: skip
        with progress("building the observatory", steps(targets)) as advance:
            result = build_observatory(
                store, targets, period, args.out,
                simulated=config.watchdog.simulated, advance=advance,
            )  # fmt: skip
    print(result.summary())
    return 0


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    """Add `observatory build` to the CLI; `load` is the CLI's config loader."""
    p = add_verb(sub, "observatory")
    verbs = p.add_subparsers(dest="observatory_command", required=True, metavar="VERB")
    b = verbs.add_parser("build", help="write the static site (French, English) into a folder")
    add_config(b)
    b.add_argument(
        "--out", type=Path, required=True, metavar="DIR",
        help="the site's folder (pages of an earlier build there are replaced)",
    )  # fmt: skip
    b.add_argument(
        "--from", dest="first", type=_day, metavar="YYYY-MM-DD",
        help="first Paris day (default: 12 weeks before --to)",
    )  # fmt: skip
    b.add_argument(
        "--to", dest="last", type=_day, metavar="YYYY-MM-DD",
        help="last Paris day, included (default: the last observation's day)",
    )  # fmt: skip
    b.set_defaults(handler=lambda a: cmd_build(a, load(a)))
