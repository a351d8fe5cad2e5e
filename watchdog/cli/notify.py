"""The `incidents` and `notify test` verbs.

Neither prints an Apprise URL: routes are named by id, services by their masked form.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.config.notifications import Route
from watchdog.config.secrets import REDACTOR, display
from watchdog.domain.errors import WatchdogError
from watchdog.domain.incidents import Event
from watchdog.notify.delivery import AppriseSender
from watchdog.notify.repo import Incident, Message, Queued, Repo
from watchdog.notify.service import base_dir
from watchdog.store import Store

RECENT = timedelta(days=7)
TEST_TITLE = "Test de notification — prefecture-watchdog"
TEST_BODY = (
    "Ceci est un message de test de la route {route}\u00a0: si vous le lisez, la route "
    "fonctionne.\nThis is a test message of route {route}: if you read it, the route works."
)


def register(
    sub: Subparsers,
    load: Loader,
    add_config: AddConfig,
) -> None:
    """Add `incidents` and `notify test` to the CLI; `load` is the CLI's config loader."""

    def cmd_incidents(args: argparse.Namespace) -> int:
        config = load(args)
        since = None if args.all else datetime.now(UTC) - RECENT
        with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
            repo = Repo(store.engine)
            found = repo.incidents(since)
            outbox = repo.outbox_rows() if args.json else []
        if args.json:
            print(json.dumps(incidents_json(found, outbox), ensure_ascii=False, indent=2))
        else:
            print(incidents_table(found))
        return 0

    def cmd_notify_test(args: argparse.Namespace) -> int:
        config = load(args)
        route = config.notifications.route(args.route)
        if route is None:
            known = ", ".join(r.id for r in config.notifications.routes) or "none configured"
            raise WatchdogError(f"unknown route {args.route!r} (routes: {known})")
        error = send_test(config, route)
        services = ", ".join(display(u) for u in route.urls) or "Apprise config file"
        if error is not None:
            raise WatchdogError(f"route {route.id} ({services}): {REDACTOR.redact(error)}")
        print(f"test message sent through route {route.id} ({services})")
        return 0

    p = add_verb(sub, "incidents")
    add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable, with notifications")
    p.add_argument("--all", action="store_true", help="every incident ever recorded")
    p.set_defaults(handler=cmd_incidents)
    p = add_verb(sub, "notify")
    verbs = p.add_subparsers(dest="notify_command", required=True, metavar="VERB")
    test = verbs.add_parser("test", help="send a test message through ROUTE now")
    add_config(test)
    test.add_argument("route", help="route id (notifications.routes[].id)")
    test.set_defaults(handler=cmd_notify_test)


def send_test(config: Config, route: Route) -> str | None:
    """Send the test message through `route`; None when delivered, else why not."""
    sender = AppriseSender(base_dir(config), config.notifications.delivery.timeout)
    body = TEST_BODY.format(route=route.id)
    message = Message("test", route.id, Event.TEST, TEST_TITLE, body)
    return sender.send(route, message, [])


def incidents_json(found: list[Incident], outbox: list[Queued]) -> list[dict[str, Any]]:
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for item in outbox:
        if item.message.incident_id is not None:
            by_incident.setdefault(item.message.incident_id, []).append(
                {"route": item.message.route, "event": item.message.event.value,
                 "status": item.status, "attempts": item.attempts}
            )  # fmt: skip
    return [i.to_json() | {"notifications": by_incident.get(i.id, [])} for i in found]


def incidents_table(found: list[Incident]) -> str:
    if not found:
        return "(no incident)"
    headers = ("incident", "kind", "target", "dept", "status", "opened (UTC)", "resolved (UTC)")
    rows = [
        (i.id, i.kind.value, i.target, i.department, i.status, _utc(i.opened_at),
         _utc(i.resolved_at) if i.resolved_at else "-")
        for i in found
    ]  # fmt: skip
    return table(headers, rows)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
