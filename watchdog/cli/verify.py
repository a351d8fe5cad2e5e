"""`verify`: recompute every hash chain and evidence blob of the store, or check a bundle."""

from __future__ import annotations

import argparse
import sys

from watchdog.cli.report import verify_bundle_command
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.store import Store
from watchdog.store.verify import verify_store


def _progress(done: int) -> None:
    print(f"  … {done} observations checked", file=sys.stderr)


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_verify(args: argparse.Namespace) -> int:
        if args.bundle:
            return verify_bundle_command(args.bundle)
        config = load(args)
        store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
        try:
            report = verify_store(store, progress=_progress if args.progress else None)
        finally:
            store.close()
        print(report.render())
        return 0 if report.ok else 1

    p = add_verb(sub, "verify")
    add_config(p)
    p.add_argument("bundle", nargs="?", metavar="BUNDLE.zip", help="check this evidence bundle")
    p.add_argument("--progress", action="store_true", help="report progress on stderr")
    p.set_defaults(handler=cmd_verify)
