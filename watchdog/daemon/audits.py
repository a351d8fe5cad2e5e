"""The accessibility audits `watchdog run` schedules (issue 18; config section `audit`).

Each enabled target gets its standard audit (axe-core) every `audit.every` and its mobile and
slow-network runs every `audit.profiles[<profile>]`, each period stretched or shrunk by the
politeness jitter. A target never audited starts at a random offset within its period, so a
catalog never audits at once; after a restart each (target, profile) resumes from its last run
in the store. Audits run one at a time, each holding its host like a probe (per-host budget,
`concurrent`, `browser.max_contexts`, back-off fed by its outcome: Scheduler.hold); while the
host is in back-off an audit waits an hour and asks again. On stop, an audit under way is
cancelled and writes nothing, as a probe's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from watchdog.config.loader import Config
from watchdog.daemon.scheduler import Scheduler, wake_or_sleep
from watchdog.domain.models import AuditProfile, Observation
from watchdog.domain.target import Target

log = logging.getLogger(__name__)

AuditRun = Callable[[Target, AuditProfile], Awaitable[Observation]]
Key = tuple[str, AuditProfile]  # (target id, profile)
BACKOFF_RETRY_S = 3600.0


def periods(config: Config) -> dict[AuditProfile, float]:
    """Seconds between two runs of each profile (none when audits are not scheduled)."""
    if not config.audits_scheduled:
        return {}
    found = {AuditProfile.STANDARD: config.audit.every.total_seconds()}
    found.update({p: d.total_seconds() for p, d in config.audit.profiles.items()})
    return found


@dataclass
class Due:
    target: Target
    profile: AuditProfile
    at: float


class AuditSchedule:
    """When each (target, profile) is audited next; `run()` audits them as they fall due."""

    def __init__(
        self,
        config: Config,
        scheduler: Scheduler,
        audit: AuditRun,
        *,
        last: Mapping[Key, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.clock = scheduler.clock
        self.rng = rng or random.Random(config.scheduler.seed)
        self._audit = audit
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
            if t.enabled
            for profile, period in periods(config).items()
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
        return min(self._due.values(), key=lambda d: (d.at, d.target.id, d.profile.value),
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
            log.info("audit of %s (%s) put off: its host is in back-off", key[0], key[1].value)
            return
        async with self.scheduler.hold(due.target) as outcome:
            started = self.clock.now()
            try:
                found = await self._audit(due.target, due.profile)
                outcome(found.outcome)
            except Exception as exc:  # an audit must never stop the schedule (nor the daemon)
                log.warning("audit of %s (%s) failed: %s", key[0], key[1].value, exc)
        self.runs += 1
        if key in self._due:  # not removed by a reload meanwhile
            self._due[key].at = started + self._cycle(period)
