"""The `watchdog` command line (docs/design.md §3): English, `--help` everywhere."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog import __version__
from watchdog.cli.checkpoint import register as register_checkpoint
from watchdog.cli.dashboards import register as register_dashboards
from watchdog.cli.demo import main_demo
from watchdog.cli.notify import register as register_notify
from watchdog.cli.outputs import EXIT_BROKEN_PIPE, os_reason, stdout_closed
from watchdog.cli.probe import probe_once
from watchdog.cli.record import register as register_record
from watchdog.cli.report import register as register_reports
from watchdog.cli.report import verify_bundle_command
from watchdog.cli.run import register as register_run
from watchdog.cli.tables import targets_table
from watchdog.config.loader import Config, config_path, load_config
from watchdog.domain.errors import ConfigError, ConfigMissing, WatchdogError
from watchdog.simulator.app import main_simulate
from watchdog.store import Store
from watchdog.store.verify import verify_store

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
NO_CONFIG_HELP = (
    "no configuration found: pass --config FILE, set WATCHDOG_CONFIG, or create "
    "config/watchdog.yaml (examples in config/examples/; `watchdog demo` needs none)"
)

Handler = Callable[[argparse.Namespace], int]


def _load(args: argparse.Namespace) -> Config:
    path = config_path(getattr(args, "config", None))
    if path is None:
        raise ConfigMissing(NO_CONFIG_HELP)
    return load_config(path)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (YAML)")


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"{config.source}: OK ({len(config.targets)} targets)")
    return EXIT_OK


def cmd_targets(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.json:
        rows = [t.model_dump(mode="json", exclude={"options"}) for t in config.targets]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(targets_table(config.targets))
    return EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    config = _load(args)
    return asyncio.run(probe_once(config, args.target, as_json=args.json, debug=args.debug))


def cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle:
        return verify_bundle_command(args.bundle)
    config = _load(args)
    store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
    try:
        report = verify_store(store, progress=_progress if args.progress else None)
    finally:
        store.close()
    print(report.render())
    return EXIT_OK if report.ok else EXIT_FAILURE


def _progress(done: int) -> None:
    print(f"  … {done} observations checked", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    return main_demo(Path(args.data), args.minutes, args.port)


def cmd_simulate(args: argparse.Namespace) -> int:
    return main_simulate(args.scenario, args.host, args.port, args.log)


def _probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("probe", help="probe one target now, store and print the observation")
    _add_config(p)
    p.add_argument("target", help="target id (see `watchdog targets`)")
    p.add_argument("--json", action="store_true", help="print the observation as one JSON object")
    p.add_argument("--debug", action="store_true", help="step trail, evidence paths, metrics")
    p.set_defaults(handler=cmd_probe)


def _simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="serve replicas of the booking platforms on loopback")
    p.add_argument("--scenario", help="scenario YAML (default: the bundled demo scenario)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="listen port (default 8765)")
    p.add_argument("--log", metavar="FILE", help="append every request to this JSONL file")
    p.set_defaults(handler=cmd_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchdog",
        description="Observe-only watchdog for French prefecture appointment booking sites.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("check-config", help="validate the configuration and exit")
    _add_config(p)
    p.set_defaults(handler=cmd_check_config)
    p = sub.add_parser("targets", help="list the catalog of targets")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_targets)
    _probe_parser(sub)
    p = sub.add_parser(
        "verify", help="recompute every hash chain and evidence blob, or check a bundle zip"
    )
    _add_config(p)
    p.add_argument("bundle", nargs="?", metavar="BUNDLE.zip", help="check this evidence bundle")
    p.add_argument("--progress", action="store_true", help="report progress on stderr")
    p.set_defaults(handler=cmd_verify)
    _simulate_parser(sub)
    p = sub.add_parser("demo", help="run the watchdog on the bundled simulator (no config needed)")
    p.add_argument("--minutes", type=float, default=3.0, help="how long to probe (default 3)")
    p.add_argument("--data", default="data/demo", help="where the demo keeps its data")
    p.add_argument("--port", type=int, default=9788, help="/metrics port (default 9788)")
    p.set_defaults(handler=cmd_demo)
    register_run(sub, _load, _add_config)
    register_checkpoint(sub, _load, _add_config)
    register_reports(sub, _load, _add_config)
    register_dashboards(sub)
    register_notify(sub, _load, _add_config)
    register_record(sub, _load, _add_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        status = handler(args)
        sys.stdout.flush()  # here, so that a closed pipe is reported below, not at exit
        return status
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} configuration problem(s)", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WatchdogError as exc:  # StoreError included
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:  # `watchdog targets | head`: the reader left
        print(f"error: {stdout_closed()}", file=sys.stderr)
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a file the command had to read or write; the system says why
        print(f"error: {os_reason(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
