"""The `watchdog` command line (docs/design.md §3): English, `--help` everywhere.

Verbs are listed in watchdog/cli/verbs.py; only the module of the verb being run is imported,
so `watchdog --help` starts at once and `watchdog check-config` does not load a browser driver,
a database engine or Apprise.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from watchdog import __version__
from watchdog.cli.outputs import EXIT_BROKEN_PIPE, os_reason, stdout_closed
from watchdog.cli.verbs import VERBS, Handler, Subparsers
from watchdog.domain.errors import ConfigError, ConfigMissing, WatchdogError

if TYPE_CHECKING:
    from watchdog.config.loader import Config

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
NO_CONFIG_HELP = (
    "no configuration found: pass --config FILE, set WATCHDOG_CONFIG, or create "
    "config/watchdog.yaml (examples in config/examples/; `watchdog demo` needs none)"
)


def _load(args: argparse.Namespace) -> Config:
    from watchdog.config.loader import config_path, load_config

    path = config_path(getattr(args, "config", None))
    if path is None:
        raise ConfigMissing(NO_CONFIG_HELP)
    return load_config(path)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (YAML)")


def _verb_of(argv: Sequence[str]) -> str | None:
    """The verb on the command line: its first word that is not an option."""
    return next((word for word in argv if not word.startswith("-")), None)


def _register(sub: Subparsers, verb: str | None) -> None:
    """The verb's module registers its verbs; otherwise every verb by name, for `--help`."""
    if verb in VERBS:
        importlib.import_module(VERBS[verb].module).register(sub, _load, _add_config)
        return
    for name, entry in VERBS.items():
        sub.add_parser(name, help=entry.help)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with the verb's own options when `argv` names one."""
    parser = argparse.ArgumentParser(
        prog="watchdog",
        description="Observe-only watchdog for French prefecture appointment booking sites.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register(sub, _verb_of(sys.argv[1:] if argv is None else argv))
    return parser


def _run(args: argparse.Namespace) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
