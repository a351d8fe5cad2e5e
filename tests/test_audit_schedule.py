"""The accessibility audits `watchdog run` schedules (issue 18), on a simulated clock.

Weeks of schedule run in milliseconds: the probes and the audits are fakes that "take" time on
tests/fakeclock.py's clock. The audits must fall due at their period (daily, weekly for the
mobile and slow-network runs) within the jitter, share the host's budget, concurrency and
back-off with the probes, resume from the store's last run after a restart, follow a reload,
and stay off in a simulated deployment unless asked for.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fakeclock import EPOCH, FakeClock
from test_scheduler import Harness, make_config, make_target, observation, steady

from watchdog.config.loader import Config, load_config
from watchdog.daemon.audits import AuditSchedule, Key, periods
from watchdog.daemon.scheduler import Scheduler
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import AuditProfile, Observation, Outcome
from watchdog.domain.target import Target

DAY = 86_400.0
STANDARD, MOBILE, SLOW = AuditProfile.STANDARD, AuditProfile.MOBILE, AuditProfile.SLOW_3G
AUDIT_SECONDS = 90.0  # how long a fake audit holds its host


class Audits:
    """Fake audits that take time on the fake clock and count, with the probes, what runs."""

    def __init__(self, harness: Harness, outcome: Outcome = Outcome.NO_SLOT) -> None:
        self.harness = harness
        self.outcome = outcome
        self.starts: list[tuple[float, str, AuditProfile]] = []

    async def run(self, target: Target, profile: AuditProfile) -> Observation:
        clock, started = self.harness.clock, self.harness.clock.now()
        self.starts.append((started, target.id, profile))
        self.harness.starts.append((started, f"audit:{target.id}"))
        keys = (target.netloc, "*")
        for key in keys:
            self.harness.running[key] += 1
            self.harness.max_running[key] = max(
                self.harness.max_running[key], self.harness.running[key]
            )
        try:
            await clock.sleep_until(started + AUDIT_SECONDS)
        finally:
            for key in keys:
                self.harness.running[key] -= 1
        return observation(target, self.outcome, started, clock.now())

    def of(self, target_id: str, profile: AuditProfile) -> list[float]:
        return [t for t, tid, p in self.starts if tid == target_id and p is profile]


def run_for(
    config: Config,
    seconds: float,
    *,
    last: Mapping[Key, float] | None = None,
    outcome: Outcome = Outcome.NO_SLOT,
    probes: bool = True,
) -> tuple[Harness, Audits, Scheduler, AuditSchedule]:
    clock = FakeClock()
    harness = Harness(clock, steady())
    audits = Audits(harness, outcome)

    async def main() -> tuple[Scheduler, AuditSchedule]:
        scheduler = harness.scheduler(config)
        schedule = AuditSchedule(config, scheduler, audits.run, last=last, rng=random.Random(3))
        tasks = [asyncio.create_task(schedule.run())]
        if probes:
            tasks.append(asyncio.create_task(scheduler.run()))
        await clock.run_until(EPOCH + seconds)
        scheduler.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return scheduler, schedule

    scheduler, schedule = asyncio.run(main())
    return harness, audits, scheduler, schedule


def on(targets: list[Target], **audit: Any) -> Config:
    return make_config(targets, audit={"enabled": True, **audit})


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_defaults_are_daily_and_weekly_and_off_in_a_simulated_deployment() -> None:
    assert periods(make_config([])) == {STANDARD: DAY, MOBILE: 7 * DAY, SLOW: 7 * DAY}
    assert periods(make_config([], watchdog={"simulated": True})) == {}
    forced = make_config([], watchdog={"simulated": True}, audit={"enabled": True})
    assert set(periods(forced)) == {STANDARD, MOBILE, SLOW}
    assert periods(make_config([], audit={"enabled": False})) == {}
    only_mobile = make_config([], audit={"every": "2d", "profiles": {"mobile": "14d"}})
    assert periods(only_mobile) == {STANDARD: 2 * DAY, MOBILE: 14 * DAY}


def test_each_target_is_audited_at_its_period_within_the_jitter() -> None:
    targets = [make_target("a"), make_target("b"), make_target("c", host="c.test")]
    _harness, audits, _, _ = run_for(on(targets), 30 * DAY)
    jitter = 0.1  # politeness.jitter's default
    for t in ("a", "b", "c"):
        daily, mobile, slow = audits.of(t, STANDARD), audits.of(t, MOBILE), audits.of(t, SLOW)
        assert daily[0] < EPOCH + DAY and mobile[0] < EPOCH + 7 * DAY  # spread, not at once
        assert 27 <= len(daily) <= 31 and 3 <= len(mobile) <= 5 and 3 <= len(slow) <= 5
        for period, runs in ((DAY, daily), (7 * DAY, mobile), (7 * DAY, slow)):
            # A run waits at most for its host's budget and the audit before it.
            assert all(
                period * (1 - jitter) <= g <= period * (1 + jitter) + 600 for g in gaps(runs)
            )
    starts = [t for t, _, _ in audits.starts]
    assert len(set(starts)) == len(starts)  # one audit at a time
    assert gaps(sorted(starts)) and min(gaps(sorted(starts))) >= AUDIT_SECONDS


def test_audits_share_the_hosts_budget_and_concurrency_with_the_probes() -> None:
    targets = [make_target("a", interval="2m"), make_target("b", interval="2m")]
    config = on(targets, every="1h", profiles={"mobile": "3h", "slow-3g": "3h"})
    harness, audits, _, _ = run_for(config, 2 * DAY)
    assert len(audits.starts) > 100
    spacing = 60 / config.politeness.per_host.requests_per_minute
    on_host = sorted(t for t, _ in harness.starts)  # probes and audits, all on a.test
    assert min(gaps(on_host)) >= spacing - 1e-9
    assert harness.max_running["a.test"] == config.politeness.per_host.concurrent


def test_an_audit_the_site_blocks_backs_the_host_off_and_audits_wait_it_out() -> None:
    _harness, audits, scheduler, _ = run_for(
        on([make_target("a")]), 3 * DAY, outcome=Outcome.BLOCKED, probes=False
    )
    assert scheduler.backing_off(make_target("a"))
    # After the first blocked audit no other starts while the back-off lasts: each asks
    # again an hour later, and no probe ran here to lift it.
    assert len(audits.starts) == 1


def test_a_restart_resumes_from_each_profiles_last_run() -> None:
    last = {("a", STANDARD): EPOCH - 3600, ("a", MOBILE): EPOCH - 6 * DAY}
    _, audits, _, _ = run_for(on([make_target("a")]), 3 * DAY, last=last, probes=False)
    assert EPOCH - 3600 + 0.9 * DAY <= audits.of("a", STANDARD)[0] <= EPOCH - 3600 + 1.1 * DAY
    assert audits.of("a", MOBILE)[0] <= EPOCH + 1.7 * DAY  # 7 days after its last, ± 10 %


def test_a_reload_adds_and_drops_targets() -> None:
    clock = FakeClock()
    harness = Harness(clock, steady())
    audits = Audits(harness)
    first = on([make_target("a")], profiles={})
    second = on([make_target("b")], profiles={})

    async def main() -> None:
        scheduler = harness.scheduler(first)
        schedule = AuditSchedule(first, scheduler, audits.run, rng=random.Random(1))
        task = asyncio.create_task(schedule.run())
        await clock.run_until(EPOCH + 3 * DAY)
        schedule.reload(second)
        await clock.run_until(EPOCH + 6 * DAY)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    ran = Counter((tid, t > EPOCH + 3 * DAY) for t, tid, _ in audits.starts)
    assert ran[("a", False)] >= 2 and ran[("a", True)] == 0
    assert ran[("b", True)] >= 2 and ran[("b", False)] == 0


@pytest.mark.parametrize(
    ("section", "where", "says"),
    [
        ("{every: 10m}", "audit.every", "at least 1h"),
        ("{profiles: {standard: 1d}}", "audit.profiles", "audit.every, not a profile"),
        ("{profiles: {tablet: 7d}}", "audit.profiles", "tablet"),
        ("{profiles: {mobile: 30m}}", "audit.profiles", "1h or more"),
        ("{enabled: sometimes}", "audit.enabled", "bool"),
    ],
)
def test_bad_audit_settings_are_located_in_the_file(
    tmp_path: Path, section: str, where: str, says: str
) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(f"watchdog: {{simulated: true}}\naudit: {section}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{path}:2: {where}") and says in problem
