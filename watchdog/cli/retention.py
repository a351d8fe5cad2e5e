"""`retention plan` and `retention apply`: prune by class (watchdog/store/retention.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from watchdog.cli.accesslog import log_access
from watchdog.cli.progress import progress
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.config.schema import RetentionClass
from watchdog.domain.models import AUDIT_CHAIN_SUFFIX
from watchdog.store import Store, access, retention


def classes(config: Config) -> dict[str, RetentionClass]:
    """Each configured target's retention class, which its audit chain follows."""
    found = {target.id: config.retention_for(target) for target in config.targets}
    return found | {target + AUDIT_CHAIN_SUFFIX: value for target, value in found.items()}


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_plan(args: argparse.Namespace) -> int:
        config = load(args)
        with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
            planned = retention.plan(store, classes(config), datetime.now(UTC))
        for line in planned.targets:
            print(line.line())
        print(f"dry run, nothing pruned: {planned.summary()}")
        return 0

    def cmd_apply(args: argparse.Namespace) -> int:
        config = load(args)
        now = datetime.now(UTC)
        with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
            planned = retention.plan(store, classes(config), now)
            total = sum(t.stretch.count for t in planned.due if t.stretch)
            with progress("pruning observations", total) as advance:
                done = retention.apply(store, planned, now, advance)
        for summary in done.summaries:
            print(f"pruned {summary.describe()}")
            since, until = map(_instant, (summary.first_started_at, summary.last_started_at))
            entry = access.Access(
                "retention", since, until, [summary.target], [], fingerprint=summary.digest()
            )
            log_access(config, entry)
        for refused in [*done.refused, *(t.line() for t in planned.targets if t.refused)]:
            print(f"warning: {refused}", file=sys.stderr)
        print(done.summary())
        return 1 if done.refused or any(t.refused for t in planned.targets) else 0

    p = add_verb(sub, "retention")
    verbs = p.add_subparsers(dest="retention_command", required=True, metavar="VERB")
    plan = verbs.add_parser("plan", help="say per target what `apply` would prune (dry run)")
    add_config(plan)
    plan.set_defaults(handler=cmd_plan)
    apply = verbs.add_parser(
        "apply", help="prune what the retention classes let go, leaving signed summaries"
    )
    add_config(apply)
    apply.set_defaults(handler=cmd_apply)


def _instant(text: str) -> datetime:
    """A canonical UTC text (`…Z`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
