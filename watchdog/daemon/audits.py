"""The accessibility audits and substitute channel checks `watchdog run` schedules (issue 18;
config section `audit`).

Each enabled target gets its standard audit (axe-core) every `audit.every` and its mobile and
slow-network runs every `audit.profiles[<profile>]`, and each that lists `substitute_pages`
its substitute channel check (watchdog/substitute/) every `audit.substitute`, each period
stretched or shrunk by the politeness jitter. A target never audited starts at a random
offset within its period, so a catalog never audits at once; after a restart each (target,
kind) resumes from its last run in the store. Audits and checks run one at a time, each
holding its host like a probe (per-host budget, `concurrent`, `browser.max_contexts`,
back-off fed by its outcome: Scheduler.hold; a check's outcome only when its pages are on
that host, and each of its page requests paced by its own host's budget); while the host is
in back-off an audit waits an hour and asks again. On stop, an audit under way is cancelled
and writes nothing, as a probe's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from watchdog.config.loader import Config
from watchdog.daemon.scheduler import Scheduler, wake_or_sleep
from watchdog.domain.models import AuditProfile, Observation
from watchdog.domain.target import Target

log = logging.getLogger(__name__)

SUBSTITUTE: Literal["substitute"] = "substitute"  # the substitute channel check's kind
Kind = AuditProfile | Literal["substitute"]  # an audit profile, or the substitute check
AuditRun = Callable[[Target, AuditProfile], Awaitable[Observation]]
CheckRun = Callable[[Target], Awaitable[Observation]]
Key = tuple[str, Kind]  # (target id, kind)
BACKOFF_RETRY_S = 3600.0


def periods(config: Config) -> dict[Kind, float]:
    """Seconds between two runs of each kind (none when audits are not scheduled)."""
    if not config.audits_scheduled:
        return {}
    found: dict[Kind, float] = {AuditProfile.STANDARD: config.audit.every.total_seconds()}
    found.update({p: d.total_seconds() for p, d in config.audit.profiles.items()})
    if config.audit.substitute is not None:
        found[SUBSTITUTE] = config.audit.substitute.total_seconds()
    return found


def _runs(target: Target, kind: Kind) -> bool:
    """Whether `kind` applies to `target` (a substitute check needs pages to read)."""
    return target.enabled and (kind != SUBSTITUTE or bool(target.substitute_pages))


def _on_host(target: Target) -> bool:
    """Whether every page of `target`'s substitute check is on its booking host."""
    return all(urlsplit(url).netloc.lower() == target.netloc for url in target.substitute_pages)


@dataclass
class Due:
    target: Target
    profile: Kind
    at: float


class AuditSchedule:
    """When each (target, profile) is audited next; `run()` audits them as they fall due."""

    def __init__(
        self,
        config: Config,
        scheduler: Scheduler,
        audit: AuditRun,
        *,
        substitute: CheckRun | None = None,
        last: Mapping[Key, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.clock = scheduler.clock
        self.rng = rng or random.Random(config.scheduler.seed)
        self._audit = audit
        self._substitute = substitute  # None: no substitute check is scheduled
        self._due: dict[Key, Due] = {}
        self._changed = asyncio.Event()
        self.runs = 0
        self.reload(config, last or {})

    def reload(self, config: Config, last: Mapping[Key, float] | None = None) -> None:
        """Follow the configuration: new (target, profile) pairs are spread, removed ones
        dropped, the others keep their due time (with the new target definition)."""
        self.config = config
        last = last or {}
        now = self.clock.now()
        wanted = {
            (t.id, profile): (t, period)
            for t in config.targets
            for profile, period in periods(config).items()
            if _runs(t, profile) and (profile != SUBSTITUTE or self._substitute is not None)
        }
        for key in set(self._due) - set(wanted):
            del self._due[key]
        for key, (target, period) in wanted.items():
            if key in self._due:
                self._due[key].target = target
            elif key in last:
                self._due[key] = Due(target, key[1], last[key] + self._cycle(period))
            else:
                self._due[key] = Due(target, key[1], now + self.rng.uniform(0, period))
        self._changed.set()

    def _cycle(self, period: float) -> float:
        spread = self.config.politeness.jitter
        return period * (1.0 + self.rng.uniform(-spread, spread))

    def next_due(self) -> Due | None:
        return min(self._due.values(), key=lambda d: (d.at, d.target.id, str(d.profile)),
                   default=None)  # fmt: skip

    async def run(self) -> None:
        """Audit what falls due, one at a time, until cancelled."""
        while True:
            self._changed.clear()
            due = self.next_due()
            if due is None or due.at > self.clock.now():
                await wake_or_sleep(self._changed, self.clock, due.at if due else None)
                continue
            await self._run_one(due)

    async def _run_one(self, due: Due) -> None:
        key = (due.target.id, due.profile)
        period = periods(self.config).get(due.profile, 0.0)
        if self.scheduler.backing_off(due.target):
            due.at = self.clock.now() + BACKOFF_RETRY_S
            log.info("%s of %s put off: its host is in back-off", key[1], key[0])
            return
        async with self.scheduler.hold(due.target) as outcome:
            started = self.clock.now()
            try:
                if isinstance(due.profile, AuditProfile):
                    found = await self._audit(due.target, due.profile)
                    outcome(found.outcome)
                else:
                    assert self._substitute is not None  # else never due (reload)
                    found = await self._substitute(due.target)
                    if _on_host(due.target):  # another host's answer is not this one's load
                        outcome(found.outcome)
            except Exception as exc:  # an audit must never stop the schedule (nor the daemon)
                log.warning("%s of %s failed: %s", key[1], key[0], exc)
        self.runs += 1
        if key in self._due:  # not removed by a reload meanwhile
            self._due[key].at = started + self._cycle(period)
