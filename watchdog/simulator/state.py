"""The simulator's mutable state: journeys (sessions), rate-limit counters, log, clock."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from watchdog.simulator.availability import Availability, Draw, availability, draw, to_paris
from watchdog.simulator.log import BookingRoute, LogEntry, RequestLog
from watchdog.simulator.scenario import Scenario, Target

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Journey:
    """One attempt at one target by one session, with the rule drawn when it started."""

    sid: str
    target: Target
    draw: Draw
    started_at: datetime
    captcha_ok_at: datetime | None = None
    planning: str | None = None
    motives: tuple[str, ...] = ()


class RateLimiter:
    """Per target and client: at most N requests per sliding window, then 403 (and a ban)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._banned_until: dict[tuple[str, str], float] = {}

    def allow(self, target: Target, client: str, now: float) -> bool:
        limit = target.rate_limit
        if limit is None:
            return True
        key = (target.key, client)
        if self._banned_until.get(key, 0.0) > now:
            return False
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - limit.window:
            hits.popleft()
        hits.append(now)
        if len(hits) <= limit.requests:
            return True
        if limit.ban > 0:
            self._banned_until[key] = now + limit.ban
        return False

    def clear(self) -> None:
        self._hits.clear()
        self._banned_until.clear()


@dataclass
class SimState:
    """Everything the handlers share; reachable as `app[SIM_STATE]`."""

    scenario: Scenario
    clock: Clock
    log: RequestLog
    booking_routes: Sequence[BookingRoute] = ()
    journeys: dict[tuple[str, str], Journey] = field(default_factory=dict)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _rngs: dict[str, random.Random] = field(default_factory=dict)

    def now(self) -> datetime:
        """Europe/Paris wall time from the injected clock."""
        return to_paris(self.clock())

    def rng(self, target: Target) -> random.Random:
        """One seeded generator per target, so targets never disturb each other's draws."""
        if target.key not in self._rngs:
            self._rngs[target.key] = random.Random(f"{self.scenario.seed}:{target.key}")
        return self._rngs[target.key]

    def journey(self, sid: str | None, target: Target) -> Journey | None:
        return self.journeys.get((sid, target.key)) if sid else None

    def start_journey(self, sid: str, target: Target) -> Journey:
        """Draw the journey's rule now and keep it for the session."""
        now = self.now()
        journey = Journey(sid, target, draw(target, now, self.rng(target)), now)
        self.journeys[(sid, target.key)] = journey
        return journey

    def availability(self, journey: Journey) -> Availability:
        return availability(journey.draw, self.now())

    def reset(self) -> None:
        """Forget the log, sessions and counters; restart every random sequence."""
        self.log.clear()
        self.journeys.clear()
        self.limiter.clear()
        self._rngs.clear()


def new_session_id(length: int = 32) -> str:
    return secrets.token_hex(length // 2).upper()


SIM_STATE = web.AppKey("sim_state", SimState)
LOG_ENTRY = web.RequestKey("sim_log_entry", LogEntry)


def sim_state(request: web.Request) -> SimState:
    return request.app[SIM_STATE]


def note(request: web.Request, target: Target, step: str) -> None:
    """Record in the request's log entry which target and step it reached."""
    entry = request.get(LOG_ENTRY)
    if entry is not None:
        entry.target, entry.step = target.key, step
