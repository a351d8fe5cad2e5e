"""The `dashboards` verb: `build` writes the JSON models, `push` uploads them to Grafana."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from watchdog.cli.outputs import writable_dir
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.dashboards import build_all, write_all
from watchdog.dashboards.push import incident_annotations, push, read_incidents
from watchdog.domain.errors import WatchdogError

DEFAULT_OUT = Path("dashboards")
# The token's places, first found wins; the command line (`--token`, visible in `ps` and
# shell history) is kept for compatibility only.
TOKEN_ENV = "GRAFANA_TOKEN"  # grafana-client's own name for it
TOKEN_FILE_ENV = "GRAFANA_TOKEN_FILE"


def grafana_token(args: argparse.Namespace) -> str | None:
    """The service-account token: --token-file, $GRAFANA_TOKEN_FILE, $GRAFANA_TOKEN, then
    --token (deprecated); None to use the URL's user:password. Never printed."""
    from watchdog.config.references import read_secret_file

    path = args.token_file or os.environ.get(TOKEN_FILE_ENV)
    if path:
        token, why = read_secret_file(Path(path))
        if why is not None:
            raise WatchdogError(f"Grafana token: {why}")
        return token
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    if args.token:
        print(f"warning: --token shows the token to every user of this machine (ps); put it "
              f"in ${TOKEN_ENV} or a file (--token-file)", file=sys.stderr)  # fmt: skip
    return str(args.token) if args.token else None


def cmd_build(args: argparse.Namespace) -> int:
    for path in write_all(writable_dir(Path(args.out))):
        print(path)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    incidents = []
    if args.incidents == "-":
        incidents = read_incidents(sys.stdin.read())
    elif args.incidents:
        incidents = read_incidents(Path(args.incidents).read_text(encoding="utf-8"))
    report = push(
        args.url,
        grafana_token(args),
        list(build_all().values()),
        incident_annotations(incidents),
        folder_uid=args.folder,
    )
    for url in report.dashboards:
        print(f"dashboard: {url}")
    if report.datasource_created:
        print("created the TestData data source of the département map")
    print(f"annotations: {report.annotations_added} added, "
          f"{report.annotations_skipped} already there")  # fmt: skip
    return 0


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    """Add `dashboards build|push` to the CLI."""
    p = add_verb(sub, "dashboards")
    verbs = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    b = verbs.add_parser("build", help="write the dashboards' JSON models")
    b.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                   help=f"output directory (default: {DEFAULT_OUT})")  # fmt: skip
    b.set_defaults(handler=cmd_build)
    u = verbs.add_parser("push", help="upload the dashboards (and incidents) to Grafana")
    u.add_argument("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
    u.add_argument("--token-file", metavar="FILE",
                   help=f"file holding the service-account token (default: ${TOKEN_FILE_ENV}, "
                        f"then ${TOKEN_ENV}; or put user:password in the URL)")  # fmt: skip
    u.add_argument("--token", help=f"the token itself (deprecated: visible in ps; use "
                                   f"${TOKEN_ENV} or --token-file)")  # fmt: skip
    u.add_argument("--folder", metavar="UID", help="folder uid to put the dashboards in")
    u.add_argument("--incidents", metavar="FILE",
                   help="incidents to annotate: JSON from `watchdog incidents --json`, - for "
                        "stdin")  # fmt: skip
    u.set_defaults(handler=cmd_push)
