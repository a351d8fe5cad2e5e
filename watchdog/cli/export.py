"""`watchdog export`: the open-data files for a period (watchdog/opendata/export.py).

Reads the store read-only; shows progress on a terminal."""

from __future__ import annotations

import argparse
from pathlib import Path

from watchdog.cli.accesslog import log_access
from watchdog.cli.outputs import writable_dir
from watchdog.cli.progress import progress
from watchdog.cli.recordargs import instant, selection, until
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.domain.errors import WatchdogError
from watchdog.store.access import Access
from watchdog.store.record import count, open_read_only

FORMATS = ("csv", "parquet", "sqlite")
DEFAULT_FORMATS = ("csv", "parquet")


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    if not chosen or set(chosen) - set(FORMATS):
        raise argparse.ArgumentTypeError(f"{text!r}: use {', '.join(FORMATS)} (comma-separated)")
    return chosen


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    if args.last <= args.first:
        raise WatchdogError("--to is before --from")
    from watchdog.opendata.export import export_open_data  # pyarrow: loaded when the verb runs

    chosen = selection(args, config)
    writable_dir(args.out)
    catalog = {t.id: t for t in config.targets}
    with open_read_only(config.watchdog.data_dir, config.watchdog.database_url) as store:
        total = count(store, chosen)
        with progress("exporting observations", total) as advance:
            result = export_open_data(store, chosen, catalog, args.out, args.format, advance)
    print(result.summary())
    outputs = [result.folder / name for name in result.files]
    targets = sorted(result.targets)
    log_access(config, Access("export", args.first, args.last, targets, outputs))
    return 0


def register(
    sub: Subparsers,
    load: Loader,
    add_config: AddConfig,
) -> None:
    """Add `export` to the CLI; `load` is the CLI's config loader."""
    p = add_verb(sub, "export")
    add_config(p)
    p.add_argument("--from", dest="first", type=instant, required=True,
                   help="from this Paris day (or instant with offset)")  # fmt: skip
    p.add_argument("--to", dest="last", type=until, required=True,
                   help="through this Paris day (or to this instant)")  # fmt: skip
    p.add_argument(
        "--format", type=_formats, default=DEFAULT_FORMATS,
        help="csv, parquet, sqlite, comma-separated (default csv,parquet)",
    )  # fmt: skip
    p.add_argument("--target", action="append", help="target id (repeat or comma-separate)")
    p.add_argument("--department", action="append", help="département code, e.g. 93")
    p.add_argument("--out", type=Path, default=Path("open-data"), help="folder (default open-data)")
    p.set_defaults(handler=lambda a: cmd_export(a, load(a)), outcome=None)
