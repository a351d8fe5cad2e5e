"""`watchdog audit [TARGET…]`: an accessibility audit of each journey, stored in its own chain.

Each target's journey runs once in the browser, as a probe does (same runner, same session,
same platform code), with axe-core run on every step page it visits (watchdog/a11y). Targets
run one after another, and two targets on the same host start no closer than the host's
budget allows (`politeness.per_host.requests_per_minute`), as in `watchdog run`.

`--profile mobile|slow-3g` runs the same journey under a mobile viewport or a throttled
network (watchdog/a11y/profiles.py) and records each step page's load instead of axe-core's
findings; `watchdog run` schedules all three (README « Accessibility audits »).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from watchdog.a11y.rgaa import criterion_sort_key
from watchdog.a11y.timelimits import with_session_end
from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.daemon.politeness import TokenBucket
from watchdog.domain.errors import TargetNotFound
from watchdog.domain.models import Audit, AuditProfile, Observation, Outcome, TimeLimit
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.store import Store
from watchdog.store.record import last_session_end


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


async def audit_all(
    config: Config, targets: list[Target], profile: AuditProfile = AuditProfile.STANDARD
) -> list[Observation]:
    """Audit each target once, store each audit in its chain; the sealed audits."""
    store = await asyncio.to_thread(
        Store.open, config.watchdog.data_dir, config.watchdog.database_url
    )
    runner = Runner(config, store.blobs.put, full_traces=True)
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
            observation = await runner.probe(target, audit=True, profile=profile)
            end = await asyncio.to_thread(last_session_end, store, target.id)
            observation = with_session_end(observation, end)
            done.append(await asyncio.to_thread(store.append, observation))
    finally:
        await runner.close()
        store.close()
    return done


def render(audit: Observation) -> str:
    """One audit for a terminal: where the journey ended, and the violations by page."""
    assert audit.audit is not None
    a = audit.audit
    head = [
        f"target      {a.target} (audit chain {audit.target})",
        f"journey     {audit.outcome.value} ({audit.detail})",
        f"profile     {a.profile.value}" + (f" ({_conditions(a)})" if a.conditions else ""),
        f"observation {audit.id}",
        f"hash        {audit.hash}",
    ]
    if a.axe_ran:
        head.insert(2, f"engine      {a.engine}, RGAA 4.1 table {a.mapping[:12]}")
    limits = [_limit(limit) for limit in a.time_limits]
    loads = table(
        ("step", "load (trail)", "first byte", "load event"),
        [(load.step, _ms(load.ms), _s(load.phases.get("first_byte")),
          _s(load.phases.get("load"))) for load in a.loads],
    )  # fmt: skip
    tail = ["", "load per step", *(f"  {line}" for line in loads.splitlines()), "",
            "time limits", *(limits or ["  (none recorded)"])]  # fmt: skip
    if not a.axe_ran:
        return "\n".join([*head, *tail])
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
    return "\n".join([*head, "", body, *tail])


def _conditions(audit: Audit) -> str:
    c = audit.conditions
    assert c is not None
    parts = [f"viewport {c.viewport}" + (" mobile" if c.mobile else "")]
    if c.latency_ms is not None:
        parts.append(f"latency {c.latency_ms} ms, {c.download_kbps}/{c.upload_kbps} kbit/s")
    if c.cpu_slowdown is not None:
        parts.append(f"CPU ÷{c.cpu_slowdown:g}")
    return ", ".join(parts)


def _limit(limit: TimeLimit) -> str:
    seen = f"seen at {limit.step}" if limit.seen else "documented"
    if limit.past_availability:
        seen += ", after the availability step"
    seconds = f"{limit.seconds:g} s" if limit.seconds is not None else "lifetime not known"
    shown = f"; shown as {limit.shown_as}" if limit.shown_as else ""
    return f"  - {limit.kind}: {seconds}, extendable: {limit.extendable.value} ({seen}){shown}"


def _ms(value: int | None) -> str:
    return f"{value} ms" if value is not None else "-"


def _s(value: float | None) -> str:
    return f"{value * 1000:.0f} ms" if value is not None else "-"


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
        profile = AuditProfile(args.profile)
        audits = asyncio.run(audit_all(config, chosen(config, args.targets), profile))
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
    p.add_argument("--profile", choices=[p.value for p in AuditProfile], default="standard",
                   help="standard: axe-core on each step page (default); mobile, slow-3g: "
                   "the journey under a mobile viewport or a throttled network, with each "
                   "step's load time")  # fmt: skip
    p.set_defaults(handler=cmd_audit)
