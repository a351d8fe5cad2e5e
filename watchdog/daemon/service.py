"""`watchdog run`: the scheduler, the recorder and the HTTP listener in one process.

SIGTERM/SIGINT: no new probe starts; in-flight probes get `scheduler.grace_period` to
finish and be recorded; the rest are cancelled and write nothing; exit 0.
SIGHUP: reload the configuration. A bad file is rejected (each problem logged as
file:line: key: message) and the running configuration stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from probes import options_of
from watchdog import __version__
from watchdog.a11y.timelimits import with_session_end
from watchdog.assist.desk import AssistedSession, Desk
from watchdog.assist.record import session_record
from watchdog.config.loader import Config, load_config
from watchdog.daemon.audits import SUBSTITUTE, AuditSchedule, Key
from watchdog.daemon.listener import SchedulerMetrics, start_listener
from watchdog.daemon.scheduler import Resume, Scheduler
from watchdog.daemon.state import StateFile, build_state, read_state, state_path, write_state
from watchdog.daemon.vantage import Vantage
from watchdog.domain.errors import ConfigError, StoreError
from watchdog.domain.models import (
    AuditProfile,
    Observation,
    Outcome,
    audit_chain,
    substitute_chain,
)
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import Metrics
from watchdog.metrics.sre import add_process_collectors
from watchdog.notify.service import Notifications
from watchdog.stats.slotlife import SlotTracker, reading_of
from watchdog.store import Store
from watchdog.store.checkpoint import Checkpointer
from watchdog.store.record import last_session_end
from watchdog.store.timestamps import Authority
from watchdog.store.usage import Sizer, disk
from watchdog.store.writes import WriteSnapshot
from watchdog.substitute.check import Checker

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

STATE_EVERY_S = 2.0
AUDITS_EVERY_S = 600.0  # how often the last audits are read for the metrics
RECENT_AUDITS = 20  # the last runs of an audit chain read to find each profile's last
# Threads for observation writes: SQLite takes one writer at a time, PostgreSQL a few.
STORE_WRITERS = 4
# Settings read once at start; a reload that changes them is applied at the next restart.
RESTART_ONLY = (
    "watchdog.data_dir",
    "watchdog.database_url",
    "watchdog.vantage",  # the network probes leave from: the browser is launched through it
    "watchdog.proxy",
    "listen",
    "assist.host",  # the desk's socket; its limits apply to the sessions parked after a reload
    "assist.port",
    "assist.expose",
    "browser.executable_path",
    "browser.headless",
    "checkpoints",  # the checkpointer's time-stamping authority
)


class Daemon:
    """One long-running watchdog over one store; `run()` returns the exit status."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = Path(config.source)
        self.metrics = Metrics()
        add_process_collectors(self.metrics.registry)  # process_*, python_info, python_gc_*
        self.scheduler_metrics = SchedulerMetrics(self.metrics.registry)
        self._sizer: Sizer | None = None  # the store's size, in a thread of its own
        self.started_at = datetime.now(UTC)
        self.reloads = 0
        self._audits_read = 0.0  # monotonic time the last audits were read
        self.last_reload_error: str | None = None
        self.last_reload: dict[str, Any] | None = None  # the last reload: when, file, ok, why
        self.port: int | None = None
        self._stop = asyncio.Event()
        self._store: Store | None = None
        self._runner: Runner | None = None
        self._vantage: Vantage | None = None
        self._scheduler: Scheduler | None = None
        self._audits: AuditSchedule | None = None  # audits inside `watchdog run` (issue 18)
        self._reloading = asyncio.Lock()
        self._background: set[asyncio.Task[bool]] = set()
        self.notifications: Notifications | None = None  # incidents and Apprise (issue 5)
        # Assisted sessions (issue 16): pages parked at a captcha for a person, and the desk
        # where the person answers (the workbench's assist pages, served in this process).
        self.desk: Desk | None = None
        self.desk_url: str | None = None
        # Their own threads: a write waiting out a lock or a full disk (up to 2 minutes) must
        # not hold asyncio's default pool, which frames screenshots and writes the evidence.
        self._writes = ThreadPoolExecutor(STORE_WRITERS, thread_name_prefix="store-write")
        self._slot_trackers: dict[str, SlotTracker] = {}

    # -- wiring ---------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        assert self._store is not None, "store used before run()"
        return self._store

    @property
    def scheduler(self) -> Scheduler:
        assert self._scheduler is not None, "scheduler used before run()"
        return self._scheduler

    async def _probe(self, target: Target) -> Observation:
        assert self._runner is not None
        try:
            obs = await self._runner.probe(target)
        except StoreError as exc:  # its evidence could not be written (a full disk…)
            self.store.health.dropped(1)
            raise StoreError(f"{exc}; the observation is dropped") from exc
        assert self._vantage is not None
        return await self._vantage.attribute(obs, target)

    async def _record(self, obs: Observation, target: Target) -> None:
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(self._writes, self.store.append, obs)
        if self.desk is not None and sealed.env.assisted_session is not None:
            self.desk.note_read(sealed)  # its hash goes in the session's record
        self.metrics.observe(sealed, target)
        self._slots_gone(sealed, target)
        if self.notifications is not None:  # returns promptly: delivery runs on its own
            await self.notifications.on_observation(sealed, target)
        tags = f" [{', '.join(sealed.tags)}]" if sealed.tags else ""
        log.info("%s: %s (%s) in %.1fs%s", target.id, sealed.outcome, sealed.detail,
                 sealed.duration_s, tags)  # fmt: skip

    def _slots_gone(self, obs: Observation, target: Target) -> None:
        """Follow the target's slots from reading to reading; each one gone is a sample of
        `watchdog_slot_lifetime_seconds` (its bounds, watchdog/stats/slotlife.py)."""
        if obs.slots_seen is None and obs.published_next is None:
            return
        tracker = self._slot_trackers.setdefault(target.id, SlotTracker())
        for episode in tracker.feed(reading_of(obs)):
            self.metrics.slot_gone(target, episode.upper_s)

    def _on_start(self, target: Target, planned: float, actual: float) -> None:
        self.scheduler_metrics.lateness.observe(max(actual - planned, 0.0))

    async def _last_started(self) -> dict[str, float]:
        last = await asyncio.to_thread(self.store.last_per_target)
        return {tid: obs.started_at.timestamp() for tid, obs in last.items()}

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, minutes: float | None = None) -> int:
        config = self.config
        self._store = await asyncio.to_thread(
            Store.open, config.watchdog.data_dir, config.watchdog.database_url
        )
        self._sizer = Sizer(self.store.engine, self.store.blobs.root)
        self._sizer.start()
        try:
            return await self._run_with_store(minutes)
        finally:
            self._sizer.stop()
            self.store.stop_retrying()  # past drain() only if run failed: do not wait 2 min
            self._writes.shutdown()
            self.store.close()

    async def _run_with_store(self, minutes: float | None) -> int:
        config = self.config
        if any(_assisted(t) for t in config.targets):
            self.desk = Desk(config.assist, config.host_allowed,
                             simulated=config.watchdog.simulated)  # fmt: skip
        self._runner = Runner(
            config, self.store.blobs.put, on_network=self.metrics.network, desk=self.desk
        )
        self._vantage = await asyncio.to_thread(Vantage, config, self.store, self.metrics)
        self.checkpoints = Checkpointer(
            self.store, config.watchdog.data_dir, Authority.of(config), self.metrics.timestamped
        )
        last = await asyncio.to_thread(self.store.last_per_target)
        await asyncio.to_thread(self._runner.memory.seed, last.values(), self.store.blobs.get)
        previous = read_state(state_path(config.watchdog.data_dir))
        resume = Resume(
            last_started=await self._last_started(),
            backoff=previous.backoff() if previous is not None else {},
            announced={
                tid: obs.published_next.timestamp()
                for tid, obs in last.items()
                if obs.published_next is not None
            },
        )
        self._scheduler = Scheduler(
            config, self._probe, self._record, resume=resume, on_start=self._on_start
        )
        self.metrics.declare(config.targets)
        self.scheduler_metrics.declare(config.targets)
        last_audits = await self._refresh_audits()
        self._audits = AuditSchedule(
            config, self._scheduler, self._audit, substitute=self._substitute, last=last_audits
        )
        self.notifications = await asyncio.to_thread(
            Notifications.for_daemon, config, self.store, self.metrics.registry
        )
        http, self.port = await start_listener(
            config.listen.host, config.listen.port, self.health, self.exposition,
            self.notifications.add_routes,
        )  # fmt: skip
        self.notifications.start()
        desk_server = await self._open_desk()
        try:
            return await self._serve(minutes)
        finally:
            if self.desk is not None:  # no parked page outlives the daemon
                await self.desk.close()
            if desk_server is not None:
                await desk_server.close()
            await self.notifications.stop()
            await http.cleanup()
            await self._runner.close()

    async def _open_desk(self) -> DeskServer | None:
        """The workbench with its assist pages, in this process (the parked pages are this
        process's browser's), on `assist.host:assist.port`."""
        if self.desk is None:
            return None
        from watchdog.workbench.server import TOKEN_ENV, address, bind_socket, binding, server

        self.desk.reader = self._assisted_read
        self.desk.budget = self.scheduler.take_budget
        self.desk.recorder = self._record_session
        self.desk.put_blob = self.store.blobs.put
        if self.notifications is not None:  # `assist_needed` attaches the parked captcha
            self.notifications.engine.captcha_of = self.desk.captcha_shown
        settings = self.config.assist
        token = os.environ.get(TOKEN_ENV) or None
        bound = binding(settings.host, settings.port, settings.expose, token)
        sock = bind_socket(bound.host, bound.port)
        self.desk_url = address(bound, sock) + "assistance"
        app = server(self.config, self.store, bound, desk=self.desk)
        task = asyncio.create_task(app.serve(sockets=[sock]), name="assist-desk")
        shown = f"{self.desk_url}?token={bound.token}" if bound.token and not token else ""
        log.info("assist desk on %s%s", self.desk_url,
                 f" (open {shown} once)" if shown else "")  # fmt: skip
        return DeskServer(app, task, sock)

    async def _assisted_read(self, session: AssistedSession, first: bool) -> bool:
        """One read of creneau/ in an assisted session, recorded like any observation;
        False once the site has ended the session (its captcha again, or another page)."""
        assert self._runner is not None
        obs = await self._runner.read_assisted(session, first)
        await self.scheduler.record_read(obs, session.target)
        on_slots = obs.final_url is not None and "/creneau/" in obs.final_url
        return on_slots and obs.outcome is not Outcome.CAPTCHA

    async def _record_session(self, session: AssistedSession) -> None:
        """An ended assisted session's record, in its own chain (watchdog/assist/record.py)."""
        obs = session_record(session, f"prefecture-watchdog {__version__}",
                             simulated=self.config.watchdog.simulated)  # fmt: skip
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(self._writes, self.store.append, obs)
        self.metrics.assisted_session(session.target, sealed)

    async def _serve(self, minutes: float | None) -> int:
        self._install_signals()
        log.info("watchdog %s running %d targets from %s; /healthz and /metrics on http://%s:%s",
                 __version__, len(self.config.targets), self.path, self.config.listen.host,
                 self.port)  # fmt: skip
        assert self._vantage is not None and self._runner is not None
        await self._vantage.check(self._runner.host)  # before any probe: is our network up?
        dispatcher = asyncio.create_task(self.scheduler.run(), name="scheduler")
        writer = asyncio.create_task(self._write_state_forever(), name="state-writer")
        canary = asyncio.create_task(self._vantage.run(self._runner.host), name="canary")
        assert self._audits is not None
        audits = asyncio.create_task(self._audits.run(), name="audits")
        stop = asyncio.create_task(self._stop.wait())
        try:
            # The dispatcher only returns on stop(); if it dies, its error surfaces below.
            await asyncio.wait(
                {stop, dispatcher},
                timeout=minutes * 60 if minutes is not None else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            log.info("stopping: no new probes; %d in flight", self.scheduler.snapshot().in_flight)
            self.scheduler.stop()
            audits.cancel()  # an audit under way writes nothing, as a cancelled probe
            with contextlib.suppress(asyncio.CancelledError):
                await audits
            await dispatcher
            grace = self.config.scheduler.grace_period.total_seconds()
            # A write still retrying (a locked or full store) gives up with the grace period.
            asyncio.get_running_loop().call_later(grace, self.store.stop_retrying)
            abandoned = await self.scheduler.drain(grace)
        finally:
            stop.cancel()
            writer.cancel()
            canary.cancel()
            audits.cancel()
            self._remove_signals()
        self._save_state(running=False)
        self.checkpoints.tick(self.scheduler.counters.recorded)  # the last ones recorded
        log.info("stopped: %d observations recorded, %d probes abandoned at shutdown",
                 self.scheduler.counters.recorded, abandoned)  # fmt: skip
        return 0

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._schedule_reload)

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    def request_stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None:
            log.info("received %s", sig.name)
        self._stop.set()

    # -- reload ---------------------------------------------------------------------------

    def _schedule_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_crash)

    async def reload(self) -> bool:
        """Load the config file again and switch to it whole, or keep the running one whole.

        Whatever the new file holds (a bomb, a tag, a bad value) ends as a rejected reload
        in the log and in /healthz (`last_reload`: when, which file, why), never as a crash;
        the load runs in a daemon thread so that SIGTERM never waits for it."""
        async with self._reloading:
            log.info("reloading %s", self.path)
            try:
                new = await _in_daemon_thread(load_config, self.path)
                kept = self._kept(new)
                runner = self._new_runner(kept)  # built before anything running is touched
            except ConfigError as exc:
                problems = [str(problem) for problem in exc.problems]
                for problem in problems:
                    log.error("reload rejected: %s", problem)
                return self._reload_failed(f"{len(problems)} configuration problem(s)", problems)
            except Exception as exc:  # any other failure must leave the running config whole
                log.error("reload rejected: %s: %s", type(exc).__name__, exc)
                return self._reload_failed(f"{type(exc).__name__}: {exc}", [])
            self._switch(kept, runner, await self._last_started())
            self._reload_result(ok=True, error=None, problems=[])
            return True

    def _reload_failed(self, error: str, problems: list[str]) -> bool:
        log.error("reload rejected: %s; the previous configuration keeps running", error)
        self.last_reload_error = "\n".join(problems) or error
        self._reload_result(ok=False, error=error, problems=problems)
        return False

    def _reload_result(self, *, ok: bool, error: str | None, problems: list[str]) -> None:
        self.last_reload = {
            "at": datetime.now(UTC).isoformat(),
            "file": str(self.path),
            "ok": ok,
            "error": error,
            "problems": problems[:20],  # the log has them all
        }

    def _kept(self, new: Config) -> Config:
        """`new`, less the settings read once at start (RESTART_ONLY), which stay as they are."""
        old = self.config
        for key in RESTART_ONLY:
            if _setting(old, key) != _setting(new, key):
                log.warning("reload: %s changed; it takes effect at the next restart", key)
        kept = new.model_copy(update={"watchdog": new.watchdog.model_copy(
            update={"data_dir": old.watchdog.data_dir, "database_url": old.watchdog.database_url,
                    "vantage": old.watchdog.vantage, "proxy": old.watchdog.proxy}
        ), "listen": old.listen, "assist": new.assist.model_copy(
            update={"host": old.assist.host, "port": old.assist.port, "expose": old.assist.expose}
        )})  # fmt: skip
        kept._source = new.source
        return kept

    def _new_runner(self, kept: Config) -> Runner:
        assert self._runner is not None
        return Runner(kept, self.store.blobs.put, self._runner.host, self._runner.memory,
                      self.metrics.network, desk=self.desk)  # fmt: skip

    def _switch(self, kept: Config, runner: Runner, last_started: dict[str, float]) -> None:
        old = self.config
        self._forget_removed(old, kept)
        self.metrics.declare(kept.targets)
        self.scheduler_metrics.declare(kept.targets)
        self._runner = runner
        if self._vantage is not None:
            self._vantage.reconfigure(kept)  # the canary's URL, pace and timeout
        self.scheduler.reload(kept, last_started)
        if self._audits is not None:
            self._audits.reload(kept)
        if self.notifications is not None:
            self.notifications.reload(kept)
        if self.desk is not None:  # limits for the sessions parked from now on
            self.desk.settings = kept.assist
        elif any(_assisted(t) for t in kept.targets):
            log.warning(
                "reload: captcha: assisted needs the assist desk, which starts with "
                "the daemon; those journeys record the captcha until the next restart"
            )
        self.config = kept
        self.reloads += 1
        self.last_reload_error = None
        added = {t.id for t in kept.targets} - {t.id for t in old.targets}
        removed = {t.id for t in old.targets} - {t.id for t in kept.targets}
        log.info("reloaded: %d targets (%d added, %d removed)", len(kept.targets), len(added),
                 len(removed))  # fmt: skip

    def _forget_removed(self, old: Config, new: Config) -> None:
        remaining = {t.id for t in new.targets}
        for target in old.targets:
            if target.id not in remaining:
                self.metrics.forget(target.id, target.platform)
                self.scheduler_metrics.forget(target.id)

    # -- state and endpoints --------------------------------------------------------------

    async def _write_state_forever(self) -> None:
        while True:
            state = self._state(running=True)  # taken on the loop, written in a thread
            await asyncio.to_thread(self._write, state)
            await asyncio.to_thread(self.checkpoints.tick, self.scheduler.counters.recorded)
            if time.monotonic() - self._audits_read >= AUDITS_EVERY_S:
                await self._refresh_audits()
            await asyncio.sleep(STATE_EVERY_S)

    async def _refresh_audits(self) -> dict[Key, float]:
        """`watchdog_a11y_violations` and `watchdog_a11y_step_load_seconds` from each
        target's last audit of each profile in the store (audits also run in other processes,
        `watchdog audit`): read at start, then every AUDITS_EVERY_S. Returns when each
        (target, profile) last ran, for the audit schedule to resume from."""
        self._audits_read = time.monotonic()
        ids = [t.id for t in self.config.targets]
        try:
            last = await asyncio.to_thread(self._last_audits, ids)
        except StoreError as exc:  # the gauges keep their values; read again next time
            log.warning("last accessibility audits not read: %s", exc)
            return {}
        for (target_id, _profile), found in sorted(last.items(), key=lambda kv: kv[1].id):
            if found.audit is not None:
                self.metrics.audited(target_id, found.audit)
        checked = await self._refresh_substitute(ids)
        return {key: found.started_at.timestamp() for key, found in last.items()} | checked

    async def _refresh_substitute(self, ids: list[str]) -> dict[Key, float]:
        """`watchdog_substitute_channel` from each target's last substitute channel check
        (scheduled here, or run by `watchdog substitute`, another process), read with the
        audits; returns when each target was last checked, for the schedule to resume from."""
        chains = [substitute_chain(i) for i in ids]
        try:
            last = await asyncio.to_thread(self.store.last_of, chains)
        except StoreError as exc:  # the gauges keep their values; read again next time
            log.warning("last substitute channel checks not read: %s", exc)
            return {}
        checked: dict[Key, float] = {}
        for target_id, chain in zip(ids, chains, strict=True):
            found = last.get(chain)
            if found is not None and found.substitute is not None:
                self.metrics.substitute_checked(target_id, found.substitute)
                checked[(target_id, SUBSTITUTE)] = found.started_at.timestamp()
        return checked

    def _last_audits(self, ids: list[str]) -> dict[Key, Observation]:
        """The last audit of each (target, profile) among its chain's last RECENT_AUDITS."""
        found: dict[Key, Observation] = {}
        for target_id in ids:
            for obs in self.store.latest_of(audit_chain(target_id), RECENT_AUDITS):
                if obs.audit is not None:
                    found.setdefault((target_id, obs.audit.profile), obs)
        return found

    async def _audit(self, target: Target, profile: AuditProfile) -> Observation:
        """One scheduled audit (AuditSchedule): run, stored in the target's audit chain, its
        gauges replaced."""
        assert self._runner is not None
        observation = await self._runner.probe(target, audit=True, profile=profile)
        end = await asyncio.to_thread(last_session_end, self.store, target.id)
        observation = with_session_end(observation, end)  # an assisted session's lifetime
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(self._writes, self.store.append, observation)
        if sealed.audit is not None:
            self.metrics.audited(target.id, sealed.audit)
        log.info("%s: audit (%s) stored in %s: %s", target.id, profile.value, sealed.target,
                 sealed.outcome)  # fmt: skip
        return sealed

    async def _substitute(self, target: Target) -> Observation:
        """One scheduled substitute channel check (AuditSchedule, holding the target's host):
        each page request paced by its host's budget, stored in the target's substitute chain,
        its gauge replaced."""
        first = [target.netloc]  # the hold took the first start on the booking host

        async def pace(netloc: str) -> None:
            if first and first.pop() == netloc:
                return
            await self.scheduler.take_netloc(netloc)

        checker = Checker(self.config, self.store.blobs.put, pace)
        observation = await checker.observe(target)
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(self._writes, self.store.append, observation)
        if sealed.substitute is not None:
            self.metrics.substitute_checked(target.id, sealed.substitute)
        log.info("%s: substitute channel check stored in %s: %s", target.id, sealed.target,
                 sealed.detail)  # fmt: skip
        return sealed

    def _save_state(self, *, running: bool) -> None:
        self._write(self._state(running=running))

    def _state(self, *, running: bool) -> StateFile:
        return build_state(
            self.scheduler.snapshot(),
            self.scheduler.counters,
            running=running,
            config=str(self.path),
            started_at=self.started_at,
        )

    def _write(self, state: StateFile) -> None:
        try:
            write_state(state_path(self.config.watchdog.data_dir), state)
        except OSError as exc:
            log.warning("cannot write the state file: %s", exc)

    def health(self) -> dict[str, Any]:
        snap = self.scheduler.snapshot()
        counters = self.scheduler.counters
        writes = self.store.health.snapshot()
        status = "stopping" if snap.stopping else "ok" if writes.writable else "unhealthy"
        return {
            "status": status,
            "version": __version__,
            "started_at": self.started_at.isoformat(),
            "config": str(self.path),
            "targets": len(snap.targets),
            "in_flight": snap.in_flight,
            "probes_started": counters.started,
            "observations_recorded": counters.recorded,
            "probes_abandoned": counters.abandoned,
            "failures": counters.failed,
            "hosts_backing_off": sum(1 for h in snap.hosts if h.level > 0),
            "reloads": self.reloads,
            "last_reload_error": self.last_reload_error,
            "last_reload": self.last_reload,
            "store": store_health(writes),
            "vantage": vantage_health(self._vantage),
        }

    def exposition(self) -> bytes:
        self.scheduler_metrics.refresh(self.scheduler.snapshot())
        self.metrics.store_health(self.store.health.snapshot())
        size = self._sizer.last if self._sizer is not None else None  # free disk: one statvfs
        self.metrics.store_usage(size, disk(self.config.watchdog.data_dir))
        return self.metrics.exposition()


@dataclass
class DeskServer:
    """The in-process workbench that serves the assist desk."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    sock: socket.socket

    async def close(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 10)
        self.sock.close()


def _assisted(target: Target) -> bool:
    return getattr(options_of(target), "captcha", None) == "assisted"


def store_health(writes: WriteSnapshot) -> dict[str, Any]:
    """The store part of /healthz: failing writes now (none once they succeed), counters."""
    failing = [
        {"kind": f.kind.value, "since": f.since.isoformat(), "attempts": f.attempts,
         "error": f.error}
        for f in writes.failing
    ]  # fmt: skip
    return {
        "writable": writes.writable,
        "failing": failing,
        "write_errors": {kind.value: n for kind, n in writes.errors.items()},
        "observations_dropped": writes.dropped,
    }


def vantage_health(vantage: Vantage | None) -> dict[str, Any] | None:
    """The vantage part of /healthz: its name and its last canary check."""
    if vantage is None:
        return None
    last = vantage.last
    canary = None
    if last is not None:
        canary = {"url": last.url, "ok": last.ok, "at": last.at.isoformat(),
                  "status": last.status, "detail": last.detail}  # fmt: skip
    return {"name": vantage.name, "canary": canary}


def _setting(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


async def _in_daemon_thread(function: Callable[[Path], Config], path: Path) -> Config:
    """`function(path)` in a daemon thread: unlike asyncio.to_thread's pool, which
    asyncio.run joins on exit, a slow load can never hold back a SIGTERM'd daemon."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Config] = loop.create_future()

    def settle(result: Config | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(cast(Config, result))

    def work() -> None:
        result: Config | None = None
        error: BaseException | None = None
        try:
            result = function(path)
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="config-reload", daemon=True).start()
    return await done


def _log_crash(task: asyncio.Task[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reload failed", exc_info=task.exception())


def run_daemon(config: Config, minutes: float | None) -> int:
    """Entry point of `watchdog run`."""
    for logger in (log, logging.getLogger("watchdog.assist")):
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # lifecycle, one line per probe and assisted session
    return asyncio.run(Daemon(config).run(minutes))
