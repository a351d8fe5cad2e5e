"""The accessibility audits and substitute channel checks `watchdog run` schedules (issue 18),
on a simulated clock.

Weeks of schedule run in milliseconds: the probes, the audits and the checks are fakes that
"take" time on tests/fakeclock.py's clock. The audits must fall due at their period (daily,
weekly for the mobile and slow-network runs; daily for the substitute check of a target that
lists pages) within the jitter, share the host's budget, concurrency and
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
from watchdog.daemon.audits import SUBSTITUTE, AuditSchedule, Key, Kind, periods
from watchdog.daemon.scheduler import Scheduler
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import AuditProfile, Observation, Outcome
from watchdog.domain.target import Target

DAY = 86_400.0
STANDARD, MOBILE, SLOW = AuditProfile.STANDARD, AuditProfile.MOBILE, AuditProfile.SLOW_3G
AUDIT_SECONDS = 90.0  # how long a fake audit holds its host


class Audits:
    """Fake audits that take time on the fake clock and count, with the probes, what runs."""

    def __init__(
        self, harness: Harness, outcome: Outcome = Outcome.NO_SLOT, checked: Outcome | None = None
    ) -> None:
        self.harness = harness
        self.outcome = outcome
        self.checked = checked or outcome  # a substitute check's outcome
        self.starts: list[tuple[float, str, Kind]] = []

    async def check(self, target: Target) -> Observation:
        found = await self.run(target, SUBSTITUTE)
        return found.model_copy(update={"outcome": self.checked})

    async def run(self, target: Target, profile: Kind) -> Observation:
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

    def of(self, target_id: str, profile: Kind) -> list[float]:
        return [t for t, tid, p in self.starts if tid == target_id and p is profile]


def run_for(
    config: Config,
    seconds: float,
    *,
    last: Mapping[Key, float] | None = None,
    outcome: Outcome = Outcome.NO_SLOT,
    checked: Outcome | None = None,
    probes: bool = True,
) -> tuple[Harness, Audits, Scheduler, AuditSchedule]:
    clock = FakeClock()
    harness = Harness(clock, steady())
    audits = Audits(harness, outcome, checked)

    async def main() -> tuple[Scheduler, AuditSchedule]:
        scheduler = harness.scheduler(config)
        schedule = AuditSchedule(config, scheduler, audits.run, substitute=audits.check,
                                 last=last, rng=random.Random(3))  # fmt: skip
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
    assert periods(make_config([])) == {
        STANDARD: DAY, MOBILE: 7 * DAY, SLOW: 7 * DAY, SUBSTITUTE: DAY
    }  # fmt: skip
    assert periods(make_config([], watchdog={"simulated": True})) == {}
    forced = make_config([], watchdog={"simulated": True}, audit={"enabled": True})
    assert set(periods(forced)) == {STANDARD, MOBILE, SLOW, SUBSTITUTE}
    no_check = make_config([], audit={"substitute": None})
    assert set(periods(no_check)) == {STANDARD, MOBILE, SLOW}
    assert periods(make_config([], audit={"substitute": "2d"}))[SUBSTITUTE] == 2 * DAY
    assert periods(make_config([], audit={"enabled": False})) == {}
    only_mobile = make_config([], audit={"every": "2d", "profiles": {"mobile": "14d"}})
    assert periods(only_mobile) == {STANDARD: 2 * DAY, MOBILE: 14 * DAY, SUBSTITUTE: DAY}


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
    last: dict[Key, float] = {("a", STANDARD): EPOCH - 3600, ("a", MOBILE): EPOCH - 6 * DAY}
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
        ("{substitute: 30m}", "audit.substitute", "at least 1h"),
        ("{substitute: often}", "audit.substitute", "often"),
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


def with_pages(target_id: str, *pages: str) -> Target:
    return make_target(target_id, substitute_pages=list(pages))


def test_the_substitute_check_runs_daily_for_each_target_that_lists_pages() -> None:
    targets = [with_pages("a", "https://a.test/contact"), make_target("b")]
    _harness, audits, _, _ = run_for(on(targets), 10 * DAY)
    checked = audits.of("a", SUBSTITUTE)
    assert checked[0] < EPOCH + DAY and 9 <= len(checked) <= 11
    assert all(0.9 * DAY <= g <= 1.1 * DAY + 600 for g in gaps(checked))
    assert audits.of("b", SUBSTITUTE) == []  # no page to read: never checked
    assert len(audits.of("b", STANDARD)) >= 9  # its audits run all the same
    starts = sorted(t for t, _, _ in audits.starts)
    assert min(gaps(starts)) >= AUDIT_SECONDS  # one audit or check at a time


def test_the_substitute_check_is_off_in_a_simulated_deployment_unless_asked() -> None:
    targets = [with_pages("a", "https://a.test/contact")]
    simulated = make_config(targets, watchdog={"simulated": True})
    assert run_for(simulated, 3 * DAY)[1].starts == []
    forced = make_config(
        targets, watchdog={"simulated": True}, audit={"enabled": True, "profiles": {}}
    )
    _, audits, _, _ = run_for(forced, 3 * DAY)
    assert len(audits.of("a", SUBSTITUTE)) >= 2
    only_audits = on(targets, substitute=None)
    assert run_for(only_audits, 3 * DAY)[1].of("a", SUBSTITUTE) == []


def test_a_restart_resumes_from_the_last_substitute_check() -> None:
    last: dict[Key, float] = {("a", SUBSTITUTE): EPOCH - 3600}
    targets = [with_pages("a", "https://a.test/contact")]
    _, audits, _, _ = run_for(on(targets), 3 * DAY, last=last, probes=False)
    first = audits.of("a", SUBSTITUTE)[0]
    assert EPOCH - 3600 + 0.9 * DAY <= first <= EPOCH - 3600 + 1.1 * DAY + 600


@pytest.mark.parametrize(("page_host", "backs_off"), [("a.test", True), ("info.test", False)])
def test_a_blocked_check_backs_off_the_host_only_when_its_pages_are_there(
    page_host: str, backs_off: bool
) -> None:
    targets = [with_pages("a", f"https://{page_host}/contact")]
    config = on(targets, profiles={}, every="30d")  # audits rare, checks daily
    last: dict[Key, float] = {("a", STANDARD): EPOCH}
    _, audits, scheduler, _ = run_for(
        config, 4 * DAY, last=last, checked=Outcome.BLOCKED, probes=False
    )
    assert scheduler.backing_off(targets[0]) is backs_off
    # Blocked on the booking host: no other check while the back-off lasts (no probe ran
    # to lift it); blocked on another host: the booking host's schedule is not its concern.
    assert (len(audits.of("a", SUBSTITUTE)) == 1) is backs_off


def test_each_page_request_takes_its_hosts_budget() -> None:
    """A check's page requests (Scheduler.take_netloc) share the probes' budget on a probed
    host and get one of their own, at the same pace, on any other host."""
    clock = FakeClock()
    harness = Harness(clock, steady())
    config = make_config([make_target("a")])
    spacing = 60 / config.politeness.per_host.requests_per_minute
    taken: list[tuple[str, float]] = []

    async def main() -> None:
        scheduler = harness.scheduler(config)

        async def take(netloc: str) -> None:
            await scheduler.take_netloc(netloc)
            taken.append((netloc, clock.now()))

        async def pages() -> None:
            for netloc in ("info.test", "info.test", "a.test", "info.test", "a.test"):
                await take(netloc)

        task = asyncio.create_task(pages())
        await clock.run_until(EPOCH + 10 * spacing)
        await task

    asyncio.run(main())
    for netloc in ("info.test", "a.test"):
        times = [t for n, t in taken if n == netloc]
        assert min(gaps(times)) >= spacing - 1e-9
    assert len(taken) == 5
