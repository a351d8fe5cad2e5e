"""`watchdog audit [TARGET…]`: an accessibility audit of each journey, stored in its own chain.

Each target's journey runs once in the browser, as a probe does (same runner, same session,
same platform code), with axe-core run on every step page it visits (watchdog/a11y). Targets
run one after another, and two targets on the same host start no closer than the host's
budget allows (`politeness.per_host.requests_per_minute`), as in `watchdog run`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from watchdog.a11y.rgaa import criterion_sort_key
from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.daemon.politeness import TokenBucket
from watchdog.domain.errors import TargetNotFound
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.store import Store


def chosen(config: Config, ids: list[str]) -> list[Target]:
    """The targets named (every enabled one when none is)."""
    if not ids:
        return [t for t in config.targets if t.enabled]
    found = []
    for target_id in ids:
        target = config.target(target_id)
        if target is None:
            known = ", ".join(t.id for t in config.targets) or "none"
            raise TargetNotFound(f"no target {target_id!r} in {config.source} (known: {known})")
        found.append(target)
    return found


async def audit_all(config: Config, targets: list[Target]) -> list[Observation]:
    """Audit each target once, store each audit in its chain; the sealed audits."""
    store = await asyncio.to_thread(
        Store.open, config.watchdog.data_dir, config.watchdog.database_url
    )
    runner = Runner(config, store.blobs.put)
    buckets: dict[str, TokenBucket] = {}
    per_minute = config.politeness.per_host.requests_per_minute
    done: list[Observation] = []
    try:
        for target in targets:
            bucket = buckets.setdefault(target.netloc, TokenBucket(per_minute))
            wait = bucket.next_free - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            bucket.take(time.monotonic())
            observation = await runner.probe(target, audit=True)
            done.append(await asyncio.to_thread(store.append, observation))
    finally:
        await runner.close()
        store.close()
    return done


def render(audit: Observation) -> str:
    """One audit for a terminal: where the journey ended, and the violations by page."""
    assert audit.audit is not None
    head = [
        f"target      {audit.audit.target} (audit chain {audit.target})",
        f"journey     {audit.outcome.value} ({audit.detail})",
        f"engine      {audit.audit.engine}, RGAA 4.1 table {audit.audit.mapping[:12]}",
        f"observation {audit.id}",
        f"hash        {audit.hash}",
    ]
    rows = []
    for page in audit.audit.pages:
        if page.error is not None:
            rows.append((page.step, "-", "-", "-", f"not audited: {page.error}"))
        for v in page.violations:
            criteria = ", ".join(v.criteria) or "-"
            impact = v.impact.value if v.impact else "-"
            rows.append((page.step, criteria, v.rule, impact, str(len(v.elements))))
        if page.error is None and not page.violations:
            rows.append((page.step, "-", "(none)", "-", "0"))
    body = table(("step", "RGAA", "axe-core rule", "impact", "elements"), rows)
    return "\n".join([*head, "", body])


def by_criterion(audit: Observation) -> Counter[str]:
    """Violations (rule and page) per RGAA criterion; `-` for rules mapped to none."""
    counts: Counter[str] = Counter()
    for page in audit.audit.pages if audit.audit else []:
        for v in page.violations:
            for criterion in v.criteria or ["-"]:
                counts[criterion] += 1
    return Counter(dict(sorted(counts.items(), key=lambda kv: criterion_sort_key(kv[0]))))


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_audit(args: argparse.Namespace) -> int:
        config = load(args)
        audits = asyncio.run(audit_all(config, chosen(config, args.targets)))
        for index, audit in enumerate(audits):
            print(audit.model_dump_json() if args.json else ("\n" if index else "") + render(audit))
        failed = any(
            a.outcome is Outcome.PROBE_ERROR or any(p.error for p in a.audit.pages)
            for a in audits
            if a.audit is not None
        )
        return 1 if failed else 0

    p = add_verb(sub, "audit")
    add_config(p)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="target ids (default: every enabled target)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print each audit as one JSON object")
    p.set_defaults(handler=cmd_audit)
