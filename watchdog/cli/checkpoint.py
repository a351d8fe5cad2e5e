"""The `checkpoint` verb (the checkpoints themselves: watchdog/store/checkpoint.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from watchdog.config.loader import Config
from watchdog.store import Store
from watchdog.store import checkpoint as checkpoints

Loader = Callable[[argparse.Namespace], Config]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    load: Loader,
    add_config: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `checkpoint` to the CLI; `load` is the CLI's config loader."""

    def cmd_checkpoint(args: argparse.Namespace) -> int:
        config = load(args)
        data_dir = config.watchdog.data_dir
        with Store.open(data_dir, config.watchdog.database_url) as store:
            written = checkpoints.write(store, data_dir, force=args.force)
        print(f"Wrote the {written.summary()} to {data_dir / checkpoints.FILE}.")
        return 0

    p = sub.add_parser(
        "checkpoint",
        help="sign the chain heads now, so that `verify` detects a removed tail or chain",
    )
    add_config(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="write one even though the store no longer extends the last checkpoint "
        "(after an investigation; the old file is kept beside it)",
    )
    p.set_defaults(handler=cmd_checkpoint)
