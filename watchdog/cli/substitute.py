"""`watchdog substitute [TARGET…]`: the substitute channel check of each journey, stored in
its own chain (`<target>.substitute`).

Each target's `substitute_pages` are fetched once (watchdog/substitute), one request after
another, and two requests to the same host start no closer than the host's budget allows
(`politeness.per_host.requests_per_minute`), as in `watchdog run`, which also runs the check
itself (daily by default: `audit.substitute`, watchdog/daemon/audits.py) and reads each
target's last check, wherever made, for the `watchdog_substitute_channel` gauge.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from watchdog.cli.audit import chosen
from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.daemon.politeness import TokenBucket
from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import ChannelOutcome, Observation
from watchdog.domain.target import Target
from watchdog.store import Store
from watchdog.substitute.check import Checker


def with_pages(config: Config, ids: list[str]) -> list[Target]:
    """The targets named (every enabled one that lists substitute pages when none is)."""
    if not ids:
        return [t for t in chosen(config, []) if t.substitute_pages]
    targets = chosen(config, ids)
    for target in targets:
        if not target.substitute_pages:
            raise WatchdogError(
                f"target {target.id!r} lists no substitute_pages in {config.source}: "
                "nothing to check"
            )
    return targets


async def check_all(config: Config, targets: list[Target]) -> list[Observation]:
    """Check each target once, store each check in its chain; the sealed checks."""
    store = await asyncio.to_thread(
        Store.open, config.watchdog.data_dir, config.watchdog.database_url
    )
    buckets: dict[str, TokenBucket] = {}
    per_minute = config.politeness.per_host.requests_per_minute

    async def pace(netloc: str) -> None:
        bucket = buckets.setdefault(netloc, TokenBucket(per_minute))
        wait = bucket.next_free - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        bucket.take(time.monotonic())

    checker = Checker(config, store.blobs.put, pace)
    done: list[Observation] = []
    try:
        for target in targets:
            observation = await checker.observe(target)
            done.append(await asyncio.to_thread(store.append, observation))
    finally:
        store.close()
    return done


def render(obs: Observation) -> str:
    """One check for a terminal: the pages read and each channel kind's outcome."""
    check = obs.substitute
    assert check is not None
    head = [
        f"target      {check.target} (substitute chain {obs.target})",
        f"observation {obs.id}",
        f"hash        {obs.hash}",
    ]
    pages = [
        (p.role, p.url, str(p.status or "-"), (p.sha256 or "-")[:12], p.error or "read")
        for p in check.pages
    ]
    channels = [
        (c.kind.value, c.outcome.value, "; ".join(c.values) or "-", c.page or "-")
        for c in check.channels
    ]
    return "\n".join(
        [
            *head,
            "",
            table(("page", "url", "HTTP", "sha256", "read"), pages),
            "",
            table(("channel", "outcome", "published", "on page"), channels),
        ]
    )


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_substitute(args: argparse.Namespace) -> int:
        config = load(args)
        checks = asyncio.run(check_all(config, with_pages(config, args.targets)))
        for index, obs in enumerate(checks):
            print(obs.model_dump_json() if args.json else ("\n" if index else "") + render(obs))
        unreachable = any(
            c.outcome is ChannelOutcome.UNREACHABLE
            for obs in checks
            if obs.substitute is not None
            for c in obs.substitute.channels
        )
        return 1 if unreachable else 0

    p = add_verb(sub, "substitute")
    add_config(p)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="target ids (default: every enabled one with pages)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print each check as one JSON object")
    p.set_defaults(handler=cmd_substitute)
