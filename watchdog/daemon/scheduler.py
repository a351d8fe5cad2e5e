"""The asyncio scheduler: when each target is probed, and how politely (docs/design.md §1, §5).

One dispatcher loop decides every start; probes run as tasks. A target is due every
`interval` (± jitter), its first run at a random offset in [0, interval) so a catalog never
fires together; after a restart it resumes from its last observation. Each random draw (the
first offset, each cycle's jitter) is the best of a few: the one that falls due farthest from
the other targets of its host, so that a host's targets come due apart and its budget's
spacing seldom makes one wait. A start also needs a token from its host's bucket, a free
slot under the host's `concurrent` bound and one under `browser.max_contexts`. A host that
answers `blocked`, `site_error`, `timeout` or `network_error` stretches its targets' cycles
by factor**level up to the cap.

When a target's page announces its next publication (`published_next`, issue 19), a few
probes are planned around that instant (`probing.publication`, or the target's own
`publication`): these alone may come closer together than the target's interval and the
`min_interval` floor, never closer than 10 s, never beyond 30 minutes of the instant, and each
still takes its host's token and a free slot under `concurrent`. A host in back-off gets no
planned probe, and one more than `PLAN_LATE` late is dropped. A planned start also restarts the
regular cycle, and its observation says so (`env.planned_for`, `env.planned_offset_s`).
`PublicationPlan` holds these rules; the workers' dispatcher (watchdog/workers/rows.py) applies
the same class to each target's row in PostgreSQL.

Time comes from an injectable `Clock` so tests run a simulated hour in milliseconds.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from watchdog.config.loader import Config
from watchdog.daemon.maintenance import in_maintenance, tagged, windows_for
from watchdog.daemon.politeness import HostState, TokenBucket, cycle_delay
from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import PLANNED_GAP, Target
from watchdog.domain.vantage import wanted_here

log = logging.getLogger(__name__)

Probe = Callable[[Target], Awaitable[Observation]]
Record = Callable[[Observation, Target], Awaitable[None]]
StartHook = Callable[[Target, float, float], None]  # (target, planned, actual)
Backing = frozenset[str] | None  # the host keys backing off now; None: look each one up
LATENESS_SAMPLES = 100_000
PLAN_LATE = 60.0  # a planned probe this late (budget, back-off, a probe in flight) is dropped
PLANNED_INSTANTS_KEPT = 8  # announced instants remembered per target (no plan made twice)
PUBLICATION = "publication"
# Random draws per offset or jitter, of which the one farthest from the host's other targets'
# due times is kept: still random in its range, seldom on top of another (issue 20, item 2).
SPREAD_DRAWS = 16
_DRAWS = range(SPREAD_DRAWS)


class Clock(Protocol):
    """Seconds since the Unix epoch, and a way to wait for one of them."""

    def now(self) -> float: ...

    async def sleep_until(self, when: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        delay = when - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class PublicationPlan:
    """The probes planned around announced publication instants of one target (issue 19).

    `entries` are (when, the announced instant), in order, never two closer than PLANNED_GAP;
    `announced` remembers the last instants planned, so that reading one again plans nothing.
    """

    entries: list[tuple[float, float]] = field(default_factory=list)
    announced: deque[float] = field(default_factory=lambda: deque(maxlen=PLANNED_INSTANTS_KEPT))

    def announce(self, instant: float, offsets: list[float], now: float) -> bool:
        """Plan the probes around a newly announced `instant` (merged with those still
        planned; two closer than the least gap are one); False if it was already known."""
        if instant in self.announced:
            return False
        self.announced.append(instant)
        wanted = sorted(
            self.entries + [(instant + o, instant) for o in offsets if instant + o > now]
        )
        self.entries = []
        for when, announced in wanted:
            if not self.entries or when - self.entries[-1][0] >= PLANNED_GAP.total_seconds():
                self.entries.append((when, announced))
        return True

    def prune(self, now: float, backing_off: bool) -> None:
        """Drop planned probes too late to matter (PLAN_LATE), or due while the host backs off."""
        limit = now if backing_off else now - PLAN_LATE
        while self.entries and self.entries[0][0] < limit:
            self.entries.pop(0)

    def next(self, backing_off: bool) -> float | None:
        """When the next planned probe is due; None: none planned, or the host backs off."""
        return self.entries[0][0] if self.entries and not backing_off else None

    def serve(self, now: float, backing_off: bool) -> float | None:
        """A start now serves every planned probe due by now: the offset from its instant of
        the first one (None: it serves none, or the host backs off and they are dropped)."""
        if not self.entries or self.entries[0][0] > now:
            return None
        when, instant = self.entries[0]
        while self.entries and self.entries[0][0] <= now:
            self.entries.pop(0)
        return None if backing_off else when - instant

    def to_json(self) -> dict[str, list[Any]]:
        return {"entries": [list(e) for e in self.entries], "announced": list(self.announced)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PublicationPlan:
        plan = cls()
        if data:
            plan.entries = [(float(w), float(i)) for w, i in data.get("entries", [])]
            plan.announced.extend(float(i) for i in data.get("announced", []))
        return plan


class ProbeOverrun(Exception):
    """The runner overran its own deadline by more than `scheduler.probe_overrun`."""


@dataclass
class TargetState:
    target: Target
    first_due: float  # used until the first start
    anchor: float | None = None  # start of the previous run
    jitter: float = 1.0  # this cycle's interval multiplier, in [1 - j, 1 + j]
    in_flight: bool = False
    runs: int = 0
    last_outcome: Outcome | None = None
    last_finished: float | None = None
    plan: PublicationPlan = field(default_factory=PublicationPlan)  # around announced instants


@dataclass(frozen=True)
class TargetStatus:
    id: str
    host: str
    due: float
    in_flight: bool
    runs: int
    last_outcome: Outcome | None
    backoff_level: int


@dataclass(frozen=True)
class HostStatus:
    host: str
    level: int
    multiplier: float
    active: int
    concurrent: int
    requests_per_minute: float
    last_failure: Outcome | None
    failing_since: float | None


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    targets: list[TargetStatus]
    hosts: list[HostStatus]
    in_flight: int
    stopping: bool


@dataclass(frozen=True)
class Resume:
    """Where a restarted scheduler picks up: last starts (from the store) and back-off levels."""

    last_started: Mapping[str, float] = field(default_factory=dict)
    backoff: Mapping[str, int] = field(default_factory=dict)
    announced: Mapping[str, float] = field(default_factory=dict)  # the last `published_next`


@dataclass
class Counters:
    started: int = 0
    recorded: int = 0
    abandoned: int = 0
    failed: int = 0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=LATENESS_SAMPLES))


class Scheduler:
    """Runs `probe` for each due target and hands each observation to `record`."""

    def __init__(
        self,
        config: Config,
        probe: Probe,
        record: Record,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        resume: Resume | None = None,
        on_start: StartHook | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random(config.scheduler.seed)
        self.counters = Counters()
        self._probe = probe
        self._record = record
        self._on_start = on_start
        self._targets: dict[str, TargetState] = {}
        self._by_host: dict[str, list[TargetState]] = {}  # the targets of each host key
        self._hosts: dict[str, HostState] = {}
        self._other_hosts: dict[str, TokenBucket] = {}  # hosts only requested outside probes
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0  # probes holding a browser context (max_contexts)
        self._in_flight: set[str] = set()  # by id: a target removed and re-added mid-probe too
        self._wake = asyncio.Event()
        self._stopping = False
        resume = resume or Resume()
        self._apply(config, resume.last_started, resume.backoff)
        for target_id, instant in resume.announced.items():
            if (state := self._targets.get(target_id)) is not None:
                self._announce(state, instant, self.clock.now())

    # -- configuration ------------------------------------------------------------------

    def reload(self, config: Config, last_started: Mapping[str, float] | None = None) -> None:
        """Switch to `config`: new targets are spread, removed ones dropped, others kept."""
        self.config = config
        self._apply(config, last_started or {}, {})
        self._wake.set()

    def _apply(
        self, config: Config, last_started: Mapping[str, float], backoff: Mapping[str, int]
    ) -> None:
        now = self.clock.now()
        budget = config.politeness.per_host
        wanted = {t.id: t for t in config.targets if probed_here(config, t)}
        for target_id in set(self._targets) - set(wanted):
            del self._targets[target_id]
        self._by_host = {}
        for target in wanted.values():
            host = self._hosts.get(target.netloc)
            if host is None:
                host = HostState.new(target.netloc, budget, backoff.get(target.netloc, 0))
                self._hosts[target.netloc] = host
            state = self._targets.get(target.id)
            if state is None:
                state = self._new_state(target, last_started.get(target.id), now)
                self._targets[target.id] = state
            else:
                state.target = target
            self._by_host.setdefault(target.netloc, []).append(state)
        in_use = {t.netloc for t in wanted.values()}
        for key, host in list(self._hosts.items()):
            host.apply_budget(budget)
            if host.active == 0 and key not in in_use:
                del self._hosts[key]

    def _new_state(self, target: Target, last: float | None, now: float) -> TargetState:
        """Resume from the last observation; a new or long-overdue target gets a random offset."""
        interval = target.interval.total_seconds()
        state = TargetState(target, first_due=now)
        dues = self._host_dues(state)
        offset = self._spread(
            lambda: self.rng.uniform(0, interval), lambda d: now + d, dues, interval
        )
        state.first_due = now + offset
        if last is not None:
            state.anchor, state.jitter = last, self._cycle_jitter(state, last, dues, now)
            if self._due(state) < now:  # missed while we were down: spread, no herd
                state.anchor = None
        return state

    def _draw_jitter(self) -> float:
        spread = self.config.politeness.jitter
        return 1.0 + self.rng.uniform(-spread, spread)

    def _cycle_jitter(
        self, state: TargetState, anchor: float, dues: list[float], now: float | None = None
    ) -> float:
        interval = state.target.interval.total_seconds()

        def due(jitter: float) -> float:
            return anchor + interval * jitter

        return self._spread(self._draw_jitter, due, dues, interval, now)

    def _host_dues(self, state: TargetState) -> list[float]:
        """The regular due times of the other targets of `state`'s host."""
        others = self._by_host.get(state.target.netloc, ())
        return [self._regular_due(o, False) for o in others if o is not state]

    @staticmethod
    def _spread(
        draw: Callable[[], float],
        due_of: Callable[[float], float],
        dues: list[float],
        period: float,
        not_before: float | None = None,
    ) -> float:
        """One `draw()`; with other targets on the host (`dues`), the best of a few: the one
        whose due time (`due_of`) lies farthest from its nearest neighbour's, as phases of
        `period` (the target's interval: a due time recurs, so the distance wraps around,
        and no part of the range is favoured), the first of equals; not before `not_before`
        where a draw allows it (a resumed target is not made overdue by the choice). The
        value stays within the range of one draw, and the targets of a host fall due apart.
        """
        if not dues or period <= 0:
            return draw()
        phases = sorted(due % period for due in dues)

        def room(value: float) -> tuple[bool, float]:
            at = due_of(value)
            phase, i = at % period, bisect.bisect_left(phases, at % period)
            nearest = min(
                min(gap, period - gap)
                for gap in (abs(phase - phases[i - 1]), abs(phase - phases[i % len(phases)]))
            )
            return not_before is None or at >= not_before, nearest

        return max((draw() for _ in _DRAWS), key=room)

    # -- schedule -----------------------------------------------------------------------

    def _due(self, state: TargetState, backing: Backing = None) -> float:
        """When `state`'s next probe is due. `backing`: the hosts backing off now, when the
        caller has gathered them (a dispatch asks this of every waiting target)."""
        off = self._backing_off(state, backing)
        regular = self._regular_due(state, off)
        planned = state.plan.next(off)
        return regular if planned is None else min(regular, planned)

    def _backing_off(self, state: TargetState, backing: Backing = None) -> bool:
        if backing is not None:
            return bool(backing) and state.target.netloc in backing
        host = self._hosts.get(state.target.netloc)
        return host is not None and host.level > 0

    def _backing_hosts(self) -> frozenset[str]:
        """The hosts backing off now (their level above 0): usually none."""
        return frozenset(key for key, host in self._hosts.items() if host.level > 0)

    def _regular_due(self, state: TargetState, backing_off: bool) -> float:
        if state.anchor is None:
            return state.first_due
        backoff = self.config.politeness.backoff
        host = self._hosts.get(state.target.netloc) if backing_off else None
        delay = cycle_delay(
            state.target.interval.total_seconds(),
            state.jitter,
            host.level if host is not None else 0,
            backoff.factor,
            backoff.cap.total_seconds(),
        )
        return state.anchor + delay

    def _announce(self, state: TargetState, instant: float, now: float) -> None:
        offsets = self.config.publication_for(state.target).offsets_s()
        state.plan.announce(instant, offsets, now)

    def _prune_plans(self, now: float, backing: Backing = None) -> None:
        for state in self._targets.values():
            if state.plan.entries:
                state.plan.prune(now, self._backing_off(state, backing))

    def _waiting(self, backing: Backing = None) -> list[tuple[float, str, TargetState]]:
        """Targets not in flight as (due, id, state), in no order: a heap's input."""
        return [
            (self._due(s, backing), s.target.id, s)
            for s in self._targets.values()
            if s.target.id not in self._in_flight
        ]

    def _dispatch(self, now: float) -> float | None:
        """Start what may start now; return when to look again (None: on the next event).

        Every waiting target's due time is computed, but they are not sorted: a heap gives
        them earliest first (ties by id) only as far as this dispatch goes, which is rarely
        past the few that are due."""
        backing = self._backing_hosts()
        self._prune_plans(now, backing)
        wake: float | None = None
        pending = self._waiting(backing)
        heapq.heapify(pending)
        while pending:
            due, _id, state = heapq.heappop(pending)
            if due > now:
                return due if wake is None else min(wake, due)
            if self._active >= self.config.browser.max_contexts:
                return wake
            host = self._hosts[state.target.netloc]
            if host.can_start(now):
                self._start(state, host, due, now)
            elif host.active < host.concurrent:
                ready = host.bucket.next_free
                wake = ready if wake is None else min(wake, ready)
        return wake

    def _start(self, state: TargetState, host: HostState, planned: float, now: float) -> None:
        offset = state.plan.serve(now, self._backing_off(state))
        state.in_flight = True
        self._in_flight.add(state.target.id)
        state.anchor, state.jitter = now, self._cycle_jitter(state, now, self._host_dues(state))
        state.runs += 1
        host.active += 1
        self._active += 1
        host.bucket.take(now)
        self.counters.started += 1
        self.counters.lateness.append(now - planned)
        if self._on_start is not None:
            self._on_start(state.target, planned, now)
        task = asyncio.create_task(
            self._run_one(state, host, offset), name=f"probe:{state.target.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until `stop()`; in-flight probes are left to `drain()`."""
        while not self._stopping:
            self._wake.clear()
            wake = self._dispatch(self.clock.now())
            await self._wait(wake)

    async def _wait(self, wake: float | None) -> None:
        await wake_or_sleep(self._wake, self.clock, wake)

    async def _run_one(self, state: TargetState, host: HostState, offset: float | None) -> None:
        target = state.target
        outcome = Outcome.PROBE_ERROR
        try:
            obs = await self._probe_with_deadline(target)
            outcome = obs.outcome
            if obs.published_next is not None:
                self._announce(state, obs.published_next.timestamp(), self.clock.now())
            if offset is not None:
                env = obs.env.model_copy(
                    update={"planned_for": PUBLICATION, "planned_offset_s": round(offset, 3)}
                )
                obs = obs.model_copy(update={"env": env})
            await _shielded(self._record_one(obs, target))
        except ProbeOverrun:
            outcome = Outcome.TIMEOUT
            self.counters.abandoned += 1
            log.warning("probe of %s overran its deadline: abandoned, nothing recorded", target.id)
        except WatchdogError as exc:  # e.g. the store is unreachable: said once per probe
            self.counters.failed += 1
            log.error("%s: %s", target.id, exc)
        except Exception:  # a bug in a probe or the runner must not stop the schedule
            self.counters.failed += 1
            log.exception("probe of %s failed outside the runner", target.id)
        finally:
            now = self.clock.now()
            state.in_flight = False
            self._in_flight.discard(target.id)
            state.last_outcome, state.last_finished = outcome, now
            host.active -= 1
            self._active -= 1
            host.note(outcome, now)
            self._wake.set()

    async def _probe_with_deadline(self, target: Target) -> Observation:
        browser = self.config.browser.probe_timeout + self.config.scheduler.probe_overrun
        deadline = self.clock.now() + browser.total_seconds()
        probe = asyncio.ensure_future(self._probe(target))
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
        try:
            await asyncio.wait({probe, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not probe.done():
                probe.cancel()
        if not probe.done() or probe.cancelled():
            raise ProbeOverrun(target.id)
        return probe.result()

    async def _record_one(self, obs: Observation, target: Target) -> None:
        windows = windows_for(self.config, target)
        maintenance = in_maintenance(windows, obs.started_at, obs.finished_at)
        if maintenance:
            obs = obs.model_copy(update={"tags": tagged(obs.tags, maintenance)})
        await self._record(obs, target)
        self.counters.recorded += 1

    async def take_budget(self, target: Target) -> None:
        """Wait for a start in `target`'s host budget and take it: an assisted session's read
        (watchdog/assist/) counts against the same per-host pace as the probes."""
        host = self._hosts.get(target.netloc)
        if host is not None:
            await self._take(host.bucket)

    async def take_netloc(self, netloc: str) -> None:
        """As `take_budget`, for a request to any host:port (a substitute channel check's
        pages, watchdog/substitute/): a host no target probes gets a budget of its own."""
        host = self._hosts.get(netloc)
        if host is not None:
            await self._take(host.bucket)
            return
        per_minute = self.config.politeness.per_host.requests_per_minute
        bucket = self._other_hosts.setdefault(netloc, TokenBucket(per_minute))
        bucket.per_minute = per_minute  # a reloaded budget
        await self._take(bucket)

    async def _take(self, bucket: TokenBucket) -> None:
        while not bucket.ready(self.clock.now()):
            await self.clock.sleep_until(bucket.next_free)
        bucket.take(self.clock.now())

    @contextlib.asynccontextmanager
    async def hold(self, target: Target) -> AsyncIterator[Callable[[Outcome], None]]:
        """Run something outside the schedule on `target`'s host as a probe (an accessibility
        audit, watchdog/daemon/audits.py): wait for a start in the host's budget, a slot under
        its `concurrent` bound and one under `browser.max_contexts`, hold them while it runs,
        and let the outcome it reports (through the callable yielded) drive the back-off."""
        while True:
            now = self.clock.now()
            host = self._hosts.get(target.netloc)
            free = self._active < self.config.browser.max_contexts
            if host is None or (free and host.can_start(now)):
                break
            ready = host.bucket.next_free if host.active < host.concurrent else now + 1.0
            await self.clock.sleep_until(max(ready, now + 0.001))
        outcome: list[Outcome] = []
        if host is not None:
            host.active += 1
            host.bucket.take(now)
        self._active += 1
        try:
            yield outcome.append
        finally:
            self._active -= 1
            if host is not None:
                host.active -= 1
                if outcome:
                    host.note(outcome[-1], self.clock.now())
            self._wake.set()

    def backing_off(self, target: Target) -> bool:
        """Whether `target`'s host is in back-off (its probes' cycles are stretched)."""
        host = self._hosts.get(target.netloc)
        return host is not None and host.level > 0

    async def record_read(self, obs: Observation, target: Target) -> None:
        """An observation made outside the schedule (an assisted session's read): tagged for
        maintenance windows and counted like a probe's."""
        await self._record_one(obs, target)

    # -- stopping -----------------------------------------------------------------------

    def stop(self) -> None:
        """Take no new probe; `run()` returns at once."""
        self._stopping = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def drain(self, grace: float) -> int:
        """Let in-flight probes finish for `grace` seconds, then cancel the rest; return how many.

        A cancelled probe writes nothing: its observation never reaches `record`.
        """
        pending = set(self._tasks)
        if pending:
            timer = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + grace))
            while pending and not timer.done():
                await asyncio.wait({*pending, timer}, return_when=asyncio.FIRST_COMPLETED)
                pending = {t for t in pending if not t.done()}
            timer.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("abandoned %d probe(s) still running after the grace period", len(pending))
        return len(pending)

    # -- state --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        factor = self.config.politeness.backoff.factor
        targets = [
            TargetStatus(
                id=s.target.id,
                host=s.target.netloc,
                due=self._due(s),
                in_flight=s.in_flight,
                runs=s.runs,
                last_outcome=s.last_outcome,
                backoff_level=self._hosts[s.target.netloc].level,
            )
            for s in sorted(self._targets.values(), key=lambda s: s.target.id)
        ]
        hosts = [
            HostStatus(
                host=h.key,
                level=h.level,
                multiplier=factor**h.level,
                active=h.active,
                concurrent=h.concurrent,
                requests_per_minute=h.bucket.per_minute,
                last_failure=h.last_failure,
                failing_since=h.failing_since,
            )
            for h in sorted(self._hosts.values(), key=lambda h: h.key)
        ]
        return Snapshot(self.clock.now(), targets, hosts, self._active, self._stopping)


async def wake_or_sleep(event: asyncio.Event, clock: Clock, until: float | None) -> None:
    """Return when `event` is set or, if `until` is given, when the clock reaches it."""
    waiters: list[asyncio.Task[object]] = [asyncio.create_task(event.wait())]
    if until is not None:
        waiters.append(asyncio.create_task(clock.sleep_until(until)))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _shielded(record: Awaitable[None]) -> None:
    """Finish a started write even if the probe's task is cancelled: no half-recorded probe."""
    task = asyncio.ensure_future(record)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def probed_here(config: Config, target: Target) -> bool:
    """Enabled, and asking for this process's vantage (or for none in particular)."""
    return target.enabled and wanted_here(target.vantages, config.watchdog.vantage)
