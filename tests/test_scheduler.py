"""The scheduler on a simulated clock: spread, jitter, budgets, back-off, maintenance, restart.

Every test runs hours of schedule in well under a second: probes are fakes that "take" time
on the fake clock, and the scheduler never sees real time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fakeclock import EPOCH, FakeClock

from watchdog.config.loader import Config, load_config
from watchdog.daemon import scheduler as scheduler_module
from watchdog.daemon.maintenance import MAINTENANCE_TAG, in_window
from watchdog.daemon.politeness import cycle_delay
from watchdog.daemon.scheduler import Resume, Scheduler
from watchdog.domain.errors import ConfigError, StoreError
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.domain.target import MaintenanceWindow, Target

MINUTE = 60.0
PARIS_TZ = ZoneInfo("Europe/Paris")


def make_target(
    target_id: str, host: str = "a.test", interval: str = "15m", **extra: Any
) -> Target:
    return Target.model_validate(
        {
            "id": target_id,
            "department": "93",
            "prefecture": "Seine-Saint-Denis",
            "procedure": "premiere_demande",
            "label": target_id,
            "platform": "anef",
            "url": f"https://{host}/{target_id}",
            "interval": interval,
            **extra,
        }
    )


def make_config(targets: list[Target], **sections: Any) -> Config:
    config = Config.model_validate({"browser": {"max_contexts": 64}, **sections})
    config.targets = targets
    return config


Behaviour = Callable[[Target, int], tuple[float, Outcome]]  # (target, attempt) -> (secs, outcome)


def steady(seconds: float = 5.0, outcome: Outcome = Outcome.NO_SLOT) -> Behaviour:
    return lambda target, attempt: (seconds, outcome)


@dataclass
class Harness:
    """A scheduler wired to fake probes that log starts, overlaps and records."""

    clock: FakeClock
    behaviour: Behaviour
    starts: list[tuple[float, str]] = field(default_factory=list)
    recorded: list[Observation] = field(default_factory=list)
    running: Counter[str] = field(default_factory=Counter)
    max_running: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)

    async def probe(self, target: Target) -> Observation:
        started = self.clock.now()
        self.starts.append((started, target.id))
        self.attempts[target.id] += 1
        seconds, outcome = self.behaviour(target, self.attempts[target.id])
        keys = (target.id, target.netloc, "*")
        for key in keys:
            self.running[key] += 1
            self.max_running[key] = max(self.max_running[key], self.running[key])
        try:
            await self.clock.sleep_until(started + seconds)
        finally:
            for key in keys:
                self.running[key] -= 1
        return observation(target, outcome, started, self.clock.now())

    async def record(self, obs: Observation, target: Target) -> None:
        self.recorded.append(obs)

    def scheduler(self, config: Config, resume: Resume | None = None, seed: int = 7) -> Scheduler:
        return Scheduler(
            config,
            self.probe,
            self.record,
            clock=self.clock,
            rng=random.Random(seed),
            resume=resume,
        )

    def starts_of(self, target_id: str) -> list[float]:
        return [t for t, tid in self.starts if tid == target_id]


def observation(target: Target, outcome: Outcome, started: float, finished: float) -> Observation:
    return Observation(
        id=f"{target.id}-{started}",
        target=target.id,
        outcome=outcome,
        detail=outcome.value,
        started_at=datetime.fromtimestamp(started, UTC),
        finished_at=datetime.fromtimestamp(finished, UTC),
        duration_s=finished - started,
        env=Env(software="test"),
    )


def simulate(
    config: Config,
    seconds: float,
    behaviour: Behaviour | None = None,
    resume: Resume | None = None,
    during: Callable[[Harness, Scheduler], Coroutine[Any, Any, None]] | None = None,
) -> tuple[Harness, Scheduler]:
    """Run the scheduler for `seconds` of simulated time, then stop and drain it."""
    clock = FakeClock()
    harness = Harness(clock, behaviour or steady())

    async def main() -> Scheduler:
        scheduler = harness.scheduler(config, resume)
        runner = asyncio.create_task(scheduler.run())
        if during is not None:
            await during(harness, scheduler)
        await clock.run_until(EPOCH + seconds)
        scheduler.stop()
        await runner
        await asyncio.wait_for(drain(clock, scheduler), 5)
        return scheduler

    return harness, asyncio.run(main())


async def drain(clock: FakeClock, scheduler: Scheduler, grace: float = 0) -> int:
    task = asyncio.create_task(scheduler.drain(grace))
    await clock.advance(grace)
    return await task


def max_in_window(times: list[float], width: float) -> int:
    """The most events in any half-open window [t, t + width)."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# -- spread and jitter ---------------------------------------------------------------------


def test_500_targets_first_runs_spread_over_the_interval() -> None:
    targets = [make_target(f"t{i}", host=f"h{i % 50}.test") for i in range(500)]
    config = make_config(targets, politeness={"per_host": {"requests_per_minute": 60}})
    harness, _ = simulate(config, 15 * MINUTE)
    firsts = {}
    for t, tid in harness.starts:
        firsts.setdefault(tid, t - EPOCH)
    assert len(firsts) == 500
    assert all(0 <= offset < 15 * MINUTE for offset in firsts.values())
    per_minute = Counter(int(offset // MINUTE) for offset in firsts.values())
    assert len(per_minute) == 15
    # 33.3 expected per minute; a uniform spread stays well inside this band.
    assert min(per_minute.values()) >= 15 and max(per_minute.values()) <= 55, per_minute
    assert max_in_window(list(firsts.values()), 10) <= 20


def test_interval_with_jitter_varies_within_bounds() -> None:
    config = make_config([make_target("solo", interval="1m")], politeness={"jitter": 0.1})
    harness, _ = simulate(config, 3 * 60 * MINUTE)
    starts = harness.starts_of("solo")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) > 150
    assert all(54 - 1e-6 <= g <= 66 + 1e-6 for g in gaps), (min(gaps), max(gaps))
    assert min(gaps) < 55.5 and max(gaps) > 64.5  # uses the whole ± band
    assert abs(sum(gaps) / len(gaps) - 60) < 1.0


def test_lateness_is_measured_and_small_when_uncontended() -> None:
    targets = [make_target(f"t{i}", host=f"h{i}.test", interval="1m") for i in range(20)]
    config = make_config(targets, politeness={"per_host": {"requests_per_minute": 60}})
    _, scheduler = simulate(config, 30 * MINUTE)
    lateness = list(scheduler.counters.lateness)
    assert len(lateness) == scheduler.counters.started > 500
    assert max(lateness) < 1e-6


def _host_near_its_budget(monkeypatch: pytest.MonkeyPatch, draws: int) -> list[float]:
    """Ten journeys on one host, each due every minute (10/min), the host allowing 12/min:
    the lateness of every start over two simulated hours, with `draws` per random choice."""
    monkeypatch.setattr(scheduler_module, "_DRAWS", range(draws))
    targets = [make_target(f"j{i}", host="pref.test", interval="1m") for i in range(10)]
    config = make_config(targets, politeness={"per_host": {"requests_per_minute": 12}})
    harness, scheduler = simulate(config, 120 * MINUTE, steady(seconds=2))
    for target in targets:  # each cycle's jitter stays in its band, whatever was chosen
        gaps = [b - a for a, b in itertools.pairwise(harness.starts_of(target.id))]
        assert min(gaps) >= 0.9 * MINUTE - 1e-6, target.id
    return sorted(scheduler.counters.lateness)


def _p99(values: list[float]) -> float:
    return values[int(len(values) * 0.99)]


def test_a_hosts_targets_fall_due_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn one at a time, ten due times on a host budgeted for twelve starts a minute
    collide, and the 5 s spacing makes them wait; the best of a few draws spreads them."""
    single = _host_near_its_budget(monkeypatch, 1)
    spread = _host_near_its_budget(monkeypatch, scheduler_module.SPREAD_DRAWS)
    assert len(spread) >= 10 * 120 * 0.99 > len(single)  # the demand is met, the interval kept
    assert _p99(single) > 5  # one draw each: a queue at the host
    assert _p99(spread) < _p99(single) / 3
    assert spread[len(spread) // 2] < 0.01  # most start on time


# -- budgets ---------------------------------------------------------------------------------


def test_per_host_token_bucket_holds_over_a_simulated_hour() -> None:
    # 40 journeys on one host each want a probe every 2 minutes (20/min); the host allows 6.
    targets = [make_target(f"j{i}", host="pref.test", interval="2m") for i in range(40)]
    targets.append(make_target("other", host="other.test", interval="1m"))
    config = make_config(
        targets, politeness={"per_host": {"requests_per_minute": 6, "concurrent": 2}}
    )
    harness, scheduler = simulate(config, 60 * MINUTE, steady(seconds=15))
    on_host = [t for t, tid in harness.starts if tid != "other"]
    assert max_in_window(on_host, MINUTE) <= 6
    assert len(on_host) >= 6 * 60 - 2  # the budget is used, not wasted
    assert harness.max_running["pref.test"] <= 2
    runs = Counter(tid for _, tid in harness.starts if tid != "other")
    assert min(runs.values()) >= 7  # every journey gets its turn (earliest due goes first)
    assert len(harness.starts_of("other")) >= 55  # the other host is unaffected
    assert max(scheduler.counters.lateness) > 60  # queued journeys show up as lateness


def test_global_bound_max_contexts() -> None:
    targets = [make_target(f"t{i}", host=f"h{i}.test", interval="1m") for i in range(12)]
    config = make_config(targets, browser={"max_contexts": 2})
    harness, _ = simulate(config, 20 * MINUTE, steady(seconds=20))
    assert harness.max_running["*"] == 2


def test_no_double_run_while_in_flight() -> None:
    # Probes take 150 s, the interval is 60 s: the target still never runs twice at once.
    config = make_config(
        [make_target("slow", interval="1m")],
        browser={"probe_timeout": "5m"},
        politeness={"per_host": {"requests_per_minute": 60, "concurrent": 4}},
    )
    harness, _ = simulate(config, 60 * MINUTE, steady(seconds=150))
    assert harness.max_running["slow"] == 1
    starts = harness.starts_of("slow")
    assert all(b - a >= 150 - 1e-6 for a, b in itertools.pairwise(starts))
    assert len(starts) >= 20


# -- back-off --------------------------------------------------------------------------------


def failing_first(n: int, outcome: Outcome = Outcome.SITE_ERROR) -> Behaviour:
    def behaviour(target: Target, attempt: int) -> tuple[float, Outcome]:
        if target.id == "flaky" and attempt <= n:
            return 1.0, outcome
        return 1.0, Outcome.NO_SLOT

    return behaviour


@pytest.mark.parametrize(
    "outcome", [Outcome.SITE_ERROR, Outcome.BLOCKED, Outcome.TIMEOUT, Outcome.NETWORK_ERROR]
)
def test_backoff_grows_to_the_cap_then_resets_after_success(outcome: Outcome) -> None:
    config = make_config(
        [make_target("flaky", interval="1m")],
        politeness={"jitter": 0, "backoff": {"factor": 2, "cap": "10m"}},
    )
    harness, _ = simulate(config, 120 * MINUTE, failing_first(6, outcome))
    starts = harness.starts_of("flaky")
    gaps = [round(b - a) for a, b in itertools.pairwise(starts)]
    # 6 failures: 2, 4, 8, then capped at 10 min; the success resets to the interval.
    assert gaps[:7] == [120, 240, 480, 600, 600, 600, 60], gaps
    assert set(gaps[7:]) == {60}


def test_backoff_slows_every_target_of_the_host_and_is_visible() -> None:
    targets = [
        make_target("flaky", host="down.test", interval="1m"),
        make_target("sibling", host="down.test", interval="1m"),
        make_target("elsewhere", host="up.test", interval="1m"),
    ]
    config = make_config(
        targets,
        politeness={
            "jitter": 0,
            "backoff": {"factor": 2, "cap": "1h"},
            "per_host": {"requests_per_minute": 60},
        },
    )
    levels: list[int] = []

    async def watch(harness: Harness, scheduler: Scheduler) -> None:
        await harness.clock.run_until(EPOCH + 30 * MINUTE)
        snap = scheduler.snapshot()
        host = next(h for h in snap.hosts if h.host == "down.test")
        levels.append(host.level)
        assert host.last_failure is Outcome.SITE_ERROR and host.multiplier == 2**host.level
        sibling = next(t for t in snap.targets if t.id == "sibling")
        assert sibling.backoff_level == host.level

    def behaviour(target: Target, attempt: int) -> tuple[float, Outcome]:
        return 1.0, Outcome.SITE_ERROR if target.netloc == "down.test" else Outcome.NO_SLOT

    harness, _ = simulate(config, 30 * MINUTE, behaviour, during=watch)
    assert levels[0] >= 3
    assert len(harness.starts_of("sibling")) < 10  # slowed with its host
    assert len(harness.starts_of("elsewhere")) >= 29  # another host keeps its pace


def test_hanging_host_never_blocks_other_hosts() -> None:
    def behaviour(target: Target, attempt: int) -> tuple[float, Outcome]:
        return (1e9, Outcome.NO_SLOT) if target.netloc == "hang.test" else (2.0, Outcome.NO_SLOT)

    targets = [make_target(f"hang{i}", host="hang.test", interval="1m") for i in range(5)]
    targets += [make_target(f"ok{i}", host=f"ok{i}.test", interval="1m") for i in range(5)]
    config = make_config(
        targets,
        browser={"max_contexts": 2, "probe_timeout": "30s"},
        scheduler={"probe_overrun": "30s"},
        politeness={"per_host": {"requests_per_minute": 60, "concurrent": 1}},
    )
    harness, scheduler = simulate(config, 60 * MINUTE, behaviour)
    for i in range(5):
        assert len(harness.starts_of(f"ok{i}")) >= 50
    hung = [t for t, tid in harness.starts if tid.startswith("hang")]
    assert harness.max_running["hang.test"] == 1
    assert len(hung) <= 12  # abandoned after 60 s, then backed off
    assert not any(o.target.startswith("hang") for o in harness.recorded)  # nothing partial
    assert scheduler.counters.abandoned == len(hung) - harness.running["hang.test"]
    host = next(h for h in scheduler.snapshot().hosts if h.host == "hang.test")
    assert host.level >= 3 and host.last_failure is Outcome.TIMEOUT


def test_cycle_delay_never_shortens_a_long_interval() -> None:
    assert cycle_delay(7200, 1.0, 3, 2.0, 3600) == 7200
    assert cycle_delay(60, 1.1, 0, 2.0, 3600) == pytest.approx(66)
    assert cycle_delay(60, 1.0, 1000, 2.0, 3600) == 3600


# -- maintenance -----------------------------------------------------------------------------


def test_maintenance_windows_tag_but_still_record() -> None:
    # EPOCH is Sunday 2025-06-15 17:06:40 in Paris.
    window = {"start": "2025-06-15T17:20:00+02:00", "end": "2025-06-15T17:40:00+02:00"}
    targets = [
        make_target("own", host="a.test", interval="2m", maintenance=[window]),
        make_target("by-host", host="b.test:8443", interval="2m"),
        make_target("never", host="c.test", interval="2m"),
    ]
    config = make_config(
        targets, maintenance={"b.test:8443": [{"weekdays": [6], "hours": "17:30-18:00"}]}
    )
    harness, _ = simulate(config, 60 * MINUTE)
    assert len(harness.recorded) >= 80
    windows = {"own": ("17:20", "17:40"), "by-host": ("17:30", "18:00")}  # Paris time
    for obs in harness.recorded:
        instants = [
            t.astimezone(PARIS_TZ).strftime("%H:%M") for t in (obs.started_at, obs.finished_at)
        ]
        low, high = windows.get(obs.target, ("", ""))  # "never" has no window
        expected = any(low <= hhmm < high for hhmm in instants)
        assert (MAINTENANCE_TAG in obs.tags) == expected, (obs.target, instants)
    assert any(MAINTENANCE_TAG in o.tags for o in harness.recorded if o.target == "own")
    assert any(MAINTENANCE_TAG in o.tags for o in harness.recorded if o.target == "by-host")


@pytest.mark.parametrize(
    ("window", "local", "inside"),
    [
        ({"hours": "22:00-02:00", "weekdays": [4]}, "2025-06-13T23:30", True),  # Friday night
        ({"hours": "22:00-02:00", "weekdays": [4]}, "2025-06-14T01:30", True),  # …into Saturday
        ({"hours": "22:00-02:00", "weekdays": [4]}, "2025-06-14T23:30", False),  # Saturday night
        ({"hours": "22:00-02:00", "weekdays": [4]}, "2025-06-13T01:30", False),  # Thursday's tail
        ({"hours": "08:00-09:00"}, "2025-06-10T08:59", True),
        ({"hours": "08:00-09:00"}, "2025-06-10T09:00", False),
        ({"weekdays": [5, 6]}, "2025-06-15T12:00", True),
        ({"weekdays": [5, 6]}, "2025-06-16T12:00", False),
        ({"start": "2025-06-10T08:00", "end": "2025-06-10T10:00"}, "2025-06-10T09:00", True),
        ({"start": "2025-06-10T08:00", "end": "2025-06-10T10:00"}, "2025-06-10T10:00", False),
    ],
)
def test_maintenance_window_matching(window: dict[str, Any], local: str, inside: bool) -> None:
    instant = datetime.fromisoformat(local).replace(tzinfo=PARIS_TZ)
    assert in_window(MaintenanceWindow.model_validate(window), instant) is inside


@pytest.mark.parametrize(
    "window",
    [
        {},
        {"hours": "09:00-09:00"},
        {"hours": "25:00-26:00"},
        {"start": "2025-06-10T08:00"},
        {"start": "2025-06-10T10:00", "end": "2025-06-10T08:00"},
        {"hours": "08:00-09:00", "start": "2025-06-10T08:00", "end": "2025-06-10T10:00"},
    ],
)
def test_bad_maintenance_windows_are_refused(window: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MaintenanceWindow.model_validate(window)


# -- restart, reload, drain ------------------------------------------------------------------


def test_restart_resumes_from_last_observations_without_a_burst() -> None:
    targets = [make_target(f"t{i}", host=f"h{i % 10}.test") for i in range(100)]
    config = make_config(targets, politeness={"per_host": {"requests_per_minute": 60}})
    rng = random.Random(1)
    last = {t.id: EPOCH - rng.uniform(0, 14 * MINUTE) for t in targets[:90]}
    last.update({t.id: EPOCH - 5 * 60 * MINUTE for t in targets[90:]})  # overdue: down 5 h
    harness, _ = simulate(config, 20 * MINUTE, resume=Resume(last_started=last))
    firsts: dict[str, float] = {}
    for t, tid in harness.starts:
        firsts.setdefault(tid, t)
    for target in targets[:90]:
        low, high = last[target.id] + 0.9 * 15 * MINUTE, last[target.id] + 1.1 * 15 * MINUTE
        assert low - 1e-6 <= firsts[target.id] <= high + 1e-6
    overdue = sorted(firsts[t.id] - EPOCH for t in targets[90:])
    assert all(0 <= o < 15 * MINUTE for o in overdue) and overdue[-1] - overdue[0] > 60
    assert max_in_window([t - EPOCH for t in firsts.values()], 10) <= 6


def test_restart_restores_backoff_level() -> None:
    config = make_config([make_target("flaky", interval="1m")], politeness={"jitter": 0})
    resume = Resume(last_started={"flaky": EPOCH}, backoff={"a.test": 3})
    harness, _ = simulate(config, 30 * MINUTE, resume=resume)
    assert harness.starts_of("flaky")[0] - EPOCH == pytest.approx(480)


def test_reload_adds_and_removes_targets() -> None:
    first = make_config([make_target("stay", interval="1m"), make_target("go", interval="1m")])
    second = make_config([make_target("stay", interval="1m"), make_target("new", interval="1m")])

    async def swap(harness: Harness, scheduler: Scheduler) -> None:
        await harness.clock.run_until(EPOCH + 10 * MINUTE)
        scheduler.reload(second)

    harness, scheduler = simulate(first, 20 * MINUTE, during=swap)
    assert all(t < EPOCH + 10 * MINUTE + 5 for t in harness.starts_of("go"))
    assert harness.starts_of("new") and min(harness.starts_of("new")) >= EPOCH + 10 * MINUTE
    assert max(harness.starts_of("stay")) > EPOCH + 18 * MINUTE
    assert [t.id for t in scheduler.snapshot().targets] == ["new", "stay"]


def test_drain_lets_quick_probes_finish_and_abandons_the_rest() -> None:
    def behaviour(target: Target, attempt: int) -> tuple[float, Outcome]:
        return (5.0 if target.id == "quick" else 500.0), Outcome.NO_SLOT

    targets = [
        make_target("quick", host="q.test", interval="1m"),
        make_target("long", host="l.test", interval="1m"),
    ]
    config = make_config(targets, browser={"probe_timeout": "10m"}, politeness={"jitter": 0})
    clock = FakeClock()
    harness = Harness(clock, behaviour)

    async def main() -> int:
        scheduler = harness.scheduler(
            config, Resume(last_started={"quick": EPOCH - 58, "long": EPOCH - 59})
        )
        runner = asyncio.create_task(scheduler.run())
        await clock.run_until(EPOCH + 3)  # both in flight now
        assert scheduler.snapshot().in_flight == 2
        scheduler.stop()
        await runner
        abandoned = await drain(clock, scheduler, grace=30)
        assert clock.now() - EPOCH < 34
        return abandoned

    assert asyncio.run(main()) == 1
    assert [o.target for o in harness.recorded] == ["quick"]
    assert len(harness.starts) == 2  # nothing new after stop()


def test_a_failing_store_or_probe_never_stops_the_schedule() -> None:
    config = make_config([make_target("t", interval="1m")], politeness={"jitter": 0})
    clock = FakeClock()
    harness = Harness(clock, steady())
    calls = Counter[str]()

    async def flaky_probe(target: Target) -> Observation:
        calls["probe"] += 1
        if calls["probe"] == 2:
            raise RuntimeError("a bug in a probe")
        return await harness.probe(target)

    async def flaky_record(obs: Observation, target: Target) -> None:
        calls["record"] += 1
        if calls["record"] == 1:
            raise StoreError("database unreachable")
        harness.recorded.append(obs)

    async def main() -> Scheduler:
        scheduler = Scheduler(config, flaky_probe, flaky_record, clock=clock, rng=random.Random(1))
        runner = asyncio.create_task(scheduler.run())
        await clock.run_until(EPOCH + 10 * MINUTE)
        scheduler.stop()
        await runner
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.counters.failed == 2
    assert calls["probe"] >= 9 and len(harness.recorded) == calls["probe"] - 2


def test_no_double_run_when_a_target_is_removed_and_readded_mid_probe() -> None:
    both = make_config(
        [make_target("slow", interval="1m")],
        browser={"probe_timeout": "5m"},
        politeness={"per_host": {"requests_per_minute": 60, "concurrent": 4}},
    )
    empty = make_config([], browser={"probe_timeout": "5m"})

    async def flap(harness: Harness, scheduler: Scheduler) -> None:
        await harness.clock.run_until(EPOCH + 61)  # "slow" is in flight (150 s probes)
        assert harness.running["slow"] == 1
        scheduler.reload(empty)
        scheduler.reload(both)
        await harness.clock.run_until(EPOCH + 120)

    harness, _ = simulate(both, 10 * MINUTE, steady(seconds=150), during=flap)
    assert harness.max_running["slow"] == 1


def test_bad_windows_and_scheduler_keys_are_located_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        "maintenance:\n"
        "  www.ain.gouv.fr:\n"
        '    - {hours: "09:00-09:00"}\n'
        "scheduler: {grace_period: soon}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = sorted(str(p) for p in info.value.problems)
    assert problems[0].startswith(f"{path}:3: maintenance.www.ain.gouv.fr[0]: ")
    assert "hours: an empty range" in problems[0]
    assert problems[1].startswith(f"{path}:4: scheduler.grace_period: ")


def test_the_host_key_follows_the_url_however_the_target_was_made() -> None:
    """`netloc` and `host` are kept per URL text (the dispatcher asks them of every waiting
    target): a copy with another URL, or a URL changed in place, gets its own."""
    first = make_target("t1", host="A.test:8443")
    assert (first.netloc, first.host) == ("a.test:8443", "a.test")
    moved = first.model_copy(update={"url": "https://b.test/t1"})
    assert (moved.netloc, moved.host) == ("b.test", "b.test")
    first.url = "https://c.test:81/t1"
    assert (first.netloc, first.host) == ("c.test:81", "c.test")
    assert make_target("t2", host="A.test:8443").netloc == "a.test:8443"
