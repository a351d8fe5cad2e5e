"""This process's vantage (issue 17): its canary loop and the attribution of its failures.

Shared by `watchdog run` and `watchdog worker`. Every `watchdog.canary.every` the canary page
is fetched through the vantage's network (watchdog/engine/canary.py), the check is kept in the
store's `canary_checks` (never an observation) and shown as `watchdog_canary_up{vantage}`.
Before an observation is recorded, `attribute` turns a failure that is our network's into
`probe_error` (watchdog/domain/vantage.py): out of every rate and every incident.

A reload of `watchdog run` hands the new canary settings over (`reconfigure`): a new or changed
URL is checked at once, a new `every` or `timeout` applies from that check on, and a canary
removed stops being checked (its last check no longer speaks for the network). The vantage's
name and its proxy are the network the process was started on: they change at a restart only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from watchdog.config.loader import Config
from watchdog.domain.models import Observation
from watchdog.domain.target import Target
from watchdog.domain.vantage import UNREACHED, CanaryCheck, attribute
from watchdog.engine.browser import BrowserHost
from watchdog.engine.canary import check_canary
from watchdog.metrics.registry import Metrics
from watchdog.store import Store, record
from watchdog.store.canaries import Canaries

log = logging.getLogger(__name__)

RECENT = 16  # observations of the target read to find another vantage's view


class Vantage:
    """The canary of this process's vantage, and what it says of each failure."""

    def __init__(self, config: Config, store: Store, metrics: Metrics | None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.canaries = Canaries(store.engine)
        self.last: CanaryCheck | None = None
        self._changed = asyncio.Event()  # the canary's settings changed (a reload)

    @property
    def name(self) -> str:
        return self.config.watchdog.vantage

    async def check(self, host: BrowserHost) -> CanaryCheck | None:
        """One canary check, kept and shown; None when no canary is configured."""
        check = await check_canary(self.config, host)
        if check is None:
            return None
        if self.last is None or self.last.ok != check.ok:
            how = "answers" if check.ok else f"FAILS ({check.detail})"
            log.warning("canary of vantage %s (%s) %s", self.name, check.url, how)
        self.last = check
        if self.metrics is not None:
            self.metrics.canary(check)
        try:
            await asyncio.to_thread(self.canaries.add, check)
        except Exception as exc:  # the check still counts in memory and in the metric
            log.warning("canary check of %s not stored: %s", self.name, exc)
        return check

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded configuration (its canary settings; name and proxy stay)."""
        before = self.config.watchdog.canary
        self.config = config
        after = config.watchdog.canary
        if after == before:
            return
        if after.url != before.url:
            self.last = None  # a check of another page, or of none, says nothing now
        log.info("canary of vantage %s: %s", self.name,
                 f"{after.url} every {after.every}" if after.url else "none")  # fmt: skip
        self._changed.set()

    async def run(self, host: BrowserHost) -> None:
        """Check the canary every `watchdog.canary.every` until cancelled (the first check is
        the caller's, made before any probe starts: `check`); with no canary, wait for a
        reload that sets one, and check a new or changed one at once."""
        while True:
            settings = self.config.watchdog.canary
            every = settings.every.total_seconds() if settings.url is not None else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), every)
            self._changed.clear()
            if self.config.watchdog.canary.url is not None:
                await self.check(host)

    async def attribute(self, obs: Observation, target: Target) -> Observation:
        """`obs`, or `obs` as this vantage's own failure (`probe_error`, kept out of rates)."""
        if obs.outcome not in UNREACHED:
            return obs
        others = await asyncio.to_thread(record.recent, self.store, target.id, RECENT)
        settings = self.config.watchdog.canary
        found = attribute(obs, self.last, settings.stale_after, others, target.interval)
        if found is not obs:
            log.warning("%s: %s from vantage %s attributed to our network (%s)", target.id,
                        obs.outcome.value, obs.vantage, found.detail)  # fmt: skip
        return found
