"""A simulated clock for the scheduler: an hour of schedule runs in milliseconds.

`run_until(t)` lets every runnable task settle, then jumps to the earliest sleeper, wakes it,
and repeats until `t`. Nothing touches real time or I/O, so the order of events is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

EPOCH = 1_750_000_000.0  # a fixed, arbitrary start (2025-06-15T15:06:40Z)
SETTLE_LIMIT = 10_000


class FakeClock:
    def __init__(self, start: float = EPOCH) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Run every ready callback until the loop has nothing left to do at this instant."""
        loop = asyncio.get_running_loop()
        for _ in range(SETTLE_LIMIT):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", None):
                return
        raise AssertionError("tasks never settled: a busy loop without awaiting the clock?")

    async def run_until(self, end: float) -> None:
        """Advance simulated time to `end`, waking sleepers in time order."""
        while True:
            await self.settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            if not self._sleepers or self._sleepers[0][0] > end:
                break
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            future.set_result(None)
        self._now = max(self._now, end)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        await self.run_until(self._now + seconds)
