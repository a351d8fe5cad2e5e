"""`verify`: recompute every hash chain and evidence blob of the store, or check a bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from watchdog.cli.progress import progress
from watchdog.cli.report import verify_bundle_command
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.store import Store, rollup
from watchdog.store.checkpoint import data_dir_of, load_mark
from watchdog.store.record import Selection, count
from watchdog.store.verify import VerifyReport, rows_after, verify_store


def _progress(done: int) -> None:
    print(f"  … {done} observations checked", file=sys.stderr)


def _verify_with_bar(
    store: Store, tsa_ca: Path | None, since: bool, jobs: int | None
) -> VerifyReport:
    """One bar over the observations, then the blobs (counted first, on a terminal only:
    hashing reads every byte, listing the names is the small part). An incremental verify's
    bar counts the observations after the verified mark; its blobs are few."""
    terminal = sys.stderr.isatty()
    mark = load_mark(data_dir_of(store)) if since and terminal else None
    if mark is not None and not isinstance(mark, str):
        observations, blobs = rows_after(store, mark.checkpoint.by_target()), 0
    else:
        observations = count(store, Selection()) if terminal else 0
        blobs = sum(1 for _ in store.blobs) if terminal and not since else 0
    with progress("verifying chains and evidence", observations + blobs) as advance:
        return verify_store(
            store,
            progress=advance,
            blob_progress=lambda done: advance(observations + done),
            tsa_ca=tsa_ca,
            since_checkpoint=since,
            jobs=jobs,
        )


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if not 1 <= jobs <= MAX_JOBS_ASKED:
        raise argparse.ArgumentTypeError(f"give a number of processes from 1 to {MAX_JOBS_ASKED}")
    return jobs


MAX_JOBS_ASKED = 64


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_verify(args: argparse.Namespace) -> int:
        if args.bundle:
            return verify_bundle_command(args.bundle)
        config = load(args)
        store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
        tsa_ca = config.checkpoints.tsa_ca
        try:
            if args.recount:
                with store.transaction() as conn:
                    rollup.recount(conn)
            since = args.since_checkpoint
            if args.progress:  # plain lines, for a log
                report = verify_store(
                    store, progress=_progress, tsa_ca=tsa_ca, since_checkpoint=since, jobs=args.jobs
                )
            else:  # a bar on a terminal, nothing elsewhere
                report = _verify_with_bar(store, tsa_ca, since, args.jobs)
        finally:
            store.close()
        print(report.render())
        print(report.summary())
        return 0 if report.ok else 1

    p = add_verb(sub, "verify")
    add_config(p)
    p.add_argument("bundle", nargs="?", metavar="BUNDLE.zip", help="check this evidence bundle")
    p.add_argument("--progress", action="store_true", help="report progress on stderr")
    p.add_argument(
        "--since-checkpoint",
        action="store_true",
        help="read only what no verify has checked: from the checkpoint the last sound "
        "verify recorded (verified.json) to the chain heads, and the blobs those "
        "observations reference; a change to an observation before it is found only by a "
        "full verify (without a mark, the verify is a full one)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="processes that read the chains of a full verify (default: one per core, at "
        "most 4, for a store of 200,000 observations or more; else one); the report is the "
        "same whatever the number",
    )
    p.add_argument(
        "--recount",
        action="store_true",
        help="first count the report's counts (schema version 5) again from the rows, "
        "once the cause of a disagreement the last verify named is known",
    )
    p.set_defaults(handler=cmd_verify)
