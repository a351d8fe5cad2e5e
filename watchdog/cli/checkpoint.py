"""The `checkpoint` verb (the checkpoints themselves: watchdog/store/checkpoint.py)."""

from __future__ import annotations

import argparse
import sys

from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.store import Store, timestamps
from watchdog.store import checkpoint as checkpoints


def register(
    sub: Subparsers,
    load: Loader,
    add_config: AddConfig,
) -> None:
    """Add `checkpoint` to the CLI; `load` is the CLI's config loader."""

    def cmd_checkpoint(args: argparse.Namespace) -> int:
        config = load(args)
        data_dir = config.watchdog.data_dir
        with Store.open(data_dir, config.watchdog.database_url) as store:
            written = checkpoints.write(store, data_dir, force=args.force)
        print(f"Wrote the {written.summary()} to {data_dir / checkpoints.FILE}.")
        authority = timestamps.Authority.of(config)
        if authority is None:
            return 0
        try:  # one request, no retry: a failing authority is not asked again at once
            path = checkpoints.stamp(data_dir, written, authority)
        except timestamps.TimestampError as exc:
            print(
                f"error: no timestamp from {authority.url}: {exc}. The checkpoint is written "
                "without one; `watchdog checkpoint` again later asks anew.",
                file=sys.stderr,
            )
            return 1
        print(f"Timestamped by {authority.url}: {path}")
        return 0

    p = add_verb(sub, "checkpoint")
    add_config(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="write one even though the store no longer extends the last checkpoint "
        "(after an investigation; the old file is kept beside it)",
    )
    p.set_defaults(handler=cmd_checkpoint)
