"""Per-host politeness: a token bucket, a concurrency bound and exponential back-off (§5).

Every target on one host (key: host:port, as written in the target URL) shares one
`HostState`. One probe takes one token, however many HTTP requests its journey makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from watchdog.config.loader import PerHostBudget
from watchdog.domain.models import Outcome

# The host is struggling or refusing us: slow down.
BACKOFF_OUTCOMES = frozenset(
    {Outcome.BLOCKED, Outcome.SITE_ERROR, Outcome.TIMEOUT, Outcome.NETWORK_ERROR}
)
# The host answered with a working page: back to the normal pace. Anything else
# (maintenance, unrecognized, probe_error) says nothing about load and leaves the level alone.
RESET_OUTCOMES = frozenset(
    {Outcome.AVAILABLE, Outcome.NO_SLOT, Outcome.CAPTCHA, Outcome.QUEUE, Outcome.CLOSED}
)
MAX_LEVEL = 64  # factor**level stays finite; the cap binds long before


@dataclass
class TokenBucket:
    """Probe starts to one host at least 60/`per_minute` seconds apart (capacity one).

    Capacity one makes the budget hold over every sliding minute, not only on average.
    """

    per_minute: float
    next_free: float = -math.inf

    @property
    def spacing(self) -> float:
        return 60.0 / self.per_minute

    def ready(self, now: float) -> bool:
        return now >= self.next_free

    def take(self, now: float) -> None:
        self.next_free = max(now, self.next_free) + self.spacing


@dataclass
class HostState:
    """Budget, in-flight count and back-off of one host."""

    key: str
    bucket: TokenBucket
    concurrent: int
    active: int = 0
    level: int = 0
    last_failure: Outcome | None = None
    failing_since: float | None = None

    @classmethod
    def new(cls, key: str, budget: PerHostBudget, level: int = 0) -> HostState:
        return cls(key, TokenBucket(budget.requests_per_minute), budget.concurrent, level=level)

    def apply_budget(self, budget: PerHostBudget) -> None:
        """Take a reloaded budget; the spacing already promised stays honoured."""
        self.bucket.per_minute = budget.requests_per_minute
        self.concurrent = budget.concurrent

    def can_start(self, now: float) -> bool:
        return self.active < self.concurrent and self.bucket.ready(now)

    def note(self, outcome: Outcome, now: float) -> None:
        """Raise the back-off level after a failure; reset it after a working page."""
        if outcome in BACKOFF_OUTCOMES:
            if self.level == 0:
                self.failing_since = now
            self.level = min(self.level + 1, MAX_LEVEL)
            self.last_failure = outcome
        elif outcome in RESET_OUTCOMES:
            self.level = 0
            self.failing_since = None


def cycle_delay(interval: float, jitter: float, level: int, factor: float, cap: float) -> float:
    """Seconds from one start to the next: interval·jitter, stretched by factor**level.

    The stretch never exceeds `cap`, and never shortens a target's own interval.
    """
    base = interval * jitter
    if level <= 0:
        return base
    stretched = interval * factor ** min(level, MAX_LEVEL)
    return max(base, min(stretched, cap))
