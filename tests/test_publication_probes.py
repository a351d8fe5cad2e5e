"""Probes planned around an announced publication, and the life of the slots it released
(issue 19, item 3), against the simulator's RDV-Préfecture on a simulated clock.

The simulator serves real pages on loopback; its clock is the scheduler's fake clock, so an
hour of schedule runs in a second. A probe reads `creneau/` over HTTP (the sanctioned operator
token skips the captcha) and the real RDV-Préfecture classifier reads it; it then « takes » 20 s
of simulated time. The clock never moves while a page is on its way (`LoopbackClock`).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fakeclock import FakeClock

from probes.rdv_prefecture import Options, classify
from watchdog.config.loader import Config, load_config
from watchdog.daemon.scheduler import PUBLICATION, Resume, Scheduler
from watchdog.domain.clock import PARIS
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.domain.target import PublicationProbes, Target
from watchdog.probe.session import PageState
from watchdog.simulator.scenario import Publish, Scenario
from watchdog.simulator.testing import RunningSimulator, http_client, running, slot_lives
from watchdog.stats.calendar import Period
from watchdog.stats.slotlife import lifetimes
from watchdog.store.db import Store

TOKEN = "op-secret-token"
PROBE_S = 20.0  # simulated time one probe takes
SPACING = 10.0  # the host's budget: 6 starts a minute
START = datetime(2026, 12, 7, 9, 40, tzinfo=PARIS)
ANNOUNCED = datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)
END = datetime(2026, 12, 7, 10, 20, tzinfo=PARIS)
PUBLISH = {
    "at": ["10:00"],
    "lifetime": "2m",
    "slots": 4,
    "first_slot_in_days": 14,
    "taken": {"share": 0.5, "after": "20s"},
}
DEFAULT_OFFSETS = [-60.0, 15.0, 60.0, 300.0]


class LoopbackClock(FakeClock):
    """A fake clock that holds still while a page is on its way over loopback."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.busy = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def settle(self) -> None:
        while True:
            await super().settle()
            if not self.busy:
                return
            await self.idle.wait()  # real I/O: wait for the answer, not for time

    async def fetch(self, sim: RunningSimulator, url: str) -> PageState:
        self.busy += 1
        self.idle.clear()
        try:
            async with (
                http_client() as client,
                client.get(url, headers={"X-Operator-Token": TOKEN}) as response,
            ):
                html = await response.text()
                return PageState(str(response.url), response.status, html)
        finally:
            self.busy -= 1
            if not self.busy:
                self.idle.set()


@dataclass
class Run:
    clock: LoopbackClock
    sim: RunningSimulator
    recorded: list[Observation] = field(default_factory=list)
    running: int = 0
    most_running: int = 0

    async def probe(self, target: Target) -> Observation:
        started = self.clock.now()
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            state = await self.clock.fetch(self.sim, target.url)
            reading = classify(state, Options())
            await self.clock.sleep_until(started + PROBE_S)
        finally:
            self.running -= 1
        assert reading is not None, state.html[:500]
        return Observation(
            id=f"{target.id}-{started}",
            target=target.id,
            outcome=reading.outcome,
            detail=reading.detail,
            slots=reading.slots,
            slots_seen=list(reading.slots_seen) if reading.slots_seen is not None else None,
            earliest_slot=reading.earliest_slot,
            published_next=reading.published_next,
            started_at=datetime.fromtimestamp(started, UTC),
            finished_at=datetime.fromtimestamp(self.clock.now(), UTC),
            duration_s=PROBE_S,
            env=Env(software="test", simulated=True),
        )

    async def record(self, obs: Observation, target: Target) -> None:
        self.recorded.append(obs)


def _scenario(publish: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(
        {
            "simulated": True,
            "seed": 3,
            "operator_token": TOKEN,
            "targets": [
                {
                    "key": "rdv-publish",
                    "platform": "rdv_prefecture",
                    "id": 4087,
                    "behaviour": [{"publish": publish}],
                }
            ],
        }
    )


def _config(url: str, interval: str, spacing: float = SPACING, **target: Any) -> Config:
    config = Config.model_validate(
        {
            "watchdog": {"min_interval": "2m", "allowed_hosts": ["127.0.0.1"]},
            "politeness": {"per_host": {"requests_per_minute": 60 / spacing, "concurrent": 1}},
        }
    )
    config.targets = [
        Target.model_validate(
            {
                "id": "val-de-marne-rdv",
                "department": "94",
                "prefecture": "Val-de-Marne",
                "procedure": "remise_titre",
                "label": "Remise de titre",
                "platform": "rdv_prefecture",
                "url": url,
                "interval": interval,
                **target,
            }
        )
    ]
    return config


def _simulate(
    publish: dict[str, Any],
    interval: str = "15m",
    resume: Resume | None = None,
    spacing: float = SPACING,
    **target: Any,
) -> Run:
    async def main() -> Run:
        clock = LoopbackClock(START.timestamp())
        sim_clock = lambda: datetime.fromtimestamp(clock.now(), UTC)  # noqa: E731
        async with running(_scenario(publish), clock=sim_clock) as sim:
            run = Run(clock, sim)
            url = sim.entry_url("rdv-publish") + "creneau/"
            config = _config(url, interval, spacing, **target)
            scheduler = Scheduler(
                config, run.probe, run.record, clock=clock, rng=random.Random(5), resume=resume
            )
            task = asyncio.create_task(scheduler.run())
            await clock.run_until(END.timestamp())
            scheduler.stop()
            await task
            await scheduler.drain(60)
            await clock.settle()
        return run

    return asyncio.run(main())


def _planned(run: Run) -> list[Observation]:
    return [o for o in run.recorded if o.env.planned_for == PUBLICATION]


def test_probes_run_at_the_planned_instants_within_the_host_budget() -> None:
    run = _simulate(PUBLISH)
    planned = _planned(run)
    assert [o.env.planned_offset_s for o in planned] == DEFAULT_OFFSETS
    for obs in planned:
        when = ANNOUNCED.timestamp() + (obs.env.planned_offset_s or 0)
        started = obs.started_at.timestamp()
        # At the instant planned, or as soon as the host's budget and a probe in flight allow.
        assert when <= started <= when + PROBE_S + SPACING, (obs.env, obs.started_at)
    # Every probe read the announcement first: the plan came from the page, not from us.
    first = run.recorded[0]
    assert first.published_next == ANNOUNCED and first.env.planned_for is None
    starts = sorted(o.started_at.timestamp() for o in run.recorded)
    assert all(b - a >= SPACING for a, b in pairwise(starts))
    assert run.most_running == 1  # concurrent: 1
    # The planned probes are ordinary observations: they saw the slots, then their absence.
    assert [o.outcome for o in planned] == [
        Outcome.NO_SLOT,
        Outcome.AVAILABLE,
        Outcome.AVAILABLE,
        Outcome.NO_SLOT,
    ]
    assert [o.slots for o in planned] == [0, 4, 2, 0]


def test_the_floor_is_relaxed_only_in_the_announced_window() -> None:
    run = _simulate(PUBLISH)
    floor = 120.0
    reach = 30 * 60.0
    ordered = sorted(run.recorded, key=lambda o: o.started_at)
    close = [
        (a, b)
        for a, b in pairwise(ordered)
        if (b.started_at - a.started_at).total_seconds() < floor
    ]
    assert close, "the plan should bring probes closer than the floor"
    for a, b in close:
        near = [o for o in (a, b) if o.env.planned_for == PUBLICATION]
        assert near, (a.started_at, b.started_at)
        for obs in near:
            assert abs(obs.started_at.timestamp() - ANNOUNCED.timestamp()) <= reach
    # Outside the window the target keeps its own interval (15 m ± 10 %).
    regular = [o for o in ordered if o.env.planned_for is None]
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in pairwise(regular)]
    assert all(g >= floor for g in gaps)


def test_the_host_budget_wins_over_the_plan() -> None:
    """One start every 2 minutes on this host: T+15 s waits for its token (until T+1 min) and
    serves T+1 min too; no start ever comes sooner than the budget allows."""
    run = _simulate(PUBLISH, spacing=120.0)
    planned = _planned(run)
    assert [o.env.planned_offset_s for o in planned] == [-60.0, 15.0, 300.0]
    assert planned[1].started_at.timestamp() == ANNOUNCED.timestamp() + 60
    starts = sorted(o.started_at.timestamp() for o in run.recorded)
    assert all(b - a >= 120.0 for a, b in pairwise(starts))


def test_a_target_can_plan_its_own_offsets_or_none() -> None:
    own = _simulate(PUBLISH, publication={"before": ["30s"], "after": ["45s"]})
    assert [o.env.planned_offset_s for o in _planned(own)] == [-30.0, 45.0]
    off = _simulate(PUBLISH, publication={"enabled": False})
    assert _planned(off) == []


def test_an_announcement_read_before_a_restart_is_still_planned() -> None:
    resume = Resume(
        last_started={"val-de-marne-rdv": START.timestamp() - 60},
        announced={"val-de-marne-rdv": ANNOUNCED.timestamp()},
    )
    run = _simulate(PUBLISH, interval="1h", resume=resume)
    assert [o.env.planned_offset_s for o in _planned(run)] == DEFAULT_OFFSETS


def test_slot_lifetime_bounds_hold_the_simulators_ground_truth(tmp_path: Path) -> None:
    """The observations, stored and read back by the statistics' own query, bound each
    slot's true stay on the page (the simulator's log) and name the publication it followed."""
    run = _simulate(PUBLISH)
    store = Store.open(tmp_path / "data")
    try:
        for obs in sorted(run.recorded, key=lambda o: o.started_at):
            store.append(obs)
        found = lifetimes(store, ["val-de-marne-rdv"], Period(START, END + timedelta(hours=1)))
    finally:
        store.close()
    life = found["val-de-marne-rdv"]
    assert life.readings == len(run.recorded)
    truth = slot_lives(Publish.model_validate(PUBLISH), START, END)
    assert len(life.episodes) == len(truth) == 4
    for episode in life.episodes:
        slot = next(t for t in truth if t.key == episode.identity)
        assert episode.vanished and episode.appeared_after is not None
        assert episode.appeared_after <= slot.appeared <= episode.first_seen
        assert episode.last_seen <= slot.vanished <= (episode.gone_by or END)
        upper = episode.upper_s
        assert upper is not None
        assert episode.lower_s <= slot.lifetime <= upper
        assert episode.publication == ANNOUNCED
    # The quick half was seen once: its bound is under two and a half minutes (truth: 20 s).
    quick = [e for e in life.episodes if e.readings == 1]
    assert len(quick) == 2 and all((e.upper_s or 0) <= 150 for e in quick)
    [publication] = life.publications
    assert (publication.instant, publication.count, publication.gone) == (ANNOUNCED, 4, 4)
    gone_by = max(s.vanished for s in truth)
    assert (gone_by - ANNOUNCED).total_seconds() <= (publication.gone_within_s or 0)
    # T−1 min (before), T+15 s and T+1 min (slots), T+5 min (all gone): the plan's readings.
    assert publication.readings >= 4


# -- configuration ----------------------------------------------------------------------------


def test_default_offsets() -> None:
    assert PublicationProbes().offsets_s() == DEFAULT_OFFSETS
    assert PublicationProbes(enabled=False).offsets_s() == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{after: [10s, 15s]}", "at least 10s apart"),
        ("{before: [31m]}", "within 30m"),
        ("{after: [1s, 20s, 40s, 1m, 2m, 3m, 4m]}", "at most 6"),
        ("{after: [-1m]}", "invalid duration"),
        ("{every: 1m}", "unknown key"),
    ],
)
def test_bad_publication_settings_are_located(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "watchdog.yaml"
    path.write_text(f"probing:\n  publication: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:2: probing.publication")
    assert message in problems[0]


def test_planned_offsets_round_trip_the_schema() -> None:
    target = PublicationProbes.model_validate({"before": ["2m"], "after": ["10s", "90s"]})
    assert target.offsets_s() == [-120.0, 10.0, 90.0]
    assert timedelta(seconds=90) in target.after


def test_a_host_in_back_off_gets_no_planned_probe() -> None:
    """The first probe reads the announcement, every later one is refused (403): back-off
    wins over the plan, so none of its probes runs."""

    async def main() -> list[Observation]:
        clock = FakeClock(START.timestamp())
        recorded: list[Observation] = []

        async def probe(target: Target) -> Observation:
            started = clock.now()
            await clock.sleep_until(started + PROBE_S)
            first = not recorded
            return Observation(
                id=f"o-{started}",
                target=target.id,
                outcome=Outcome.NO_SLOT if first else Outcome.BLOCKED,
                detail="x",
                published_next=ANNOUNCED if first else None,
                started_at=datetime.fromtimestamp(started, UTC),
                finished_at=datetime.fromtimestamp(clock.now(), UTC),
                duration_s=PROBE_S,
                env=Env(software="test"),
            )

        async def record(obs: Observation, target: Target) -> None:
            recorded.append(obs)

        config = _config("http://127.0.0.1:9/rdvpref/reservation/demarche/1/creneau/", "2m")
        scheduler = Scheduler(config, probe, record, clock=clock, rng=random.Random(5))
        task = asyncio.create_task(scheduler.run())
        await clock.run_until(END.timestamp())
        scheduler.stop()
        await task
        await scheduler.drain(60)
        return recorded

    recorded = asyncio.run(main())
    assert len(recorded) > 2
    assert [o for o in recorded if o.env.planned_for is not None] == []
