"""`watchdog worker`: probes run as procrastinate jobs on PostgreSQL, by N workers on M machines.

Two tasks, one app per worker process:

- `watchdog.dispatch`, periodic (every `workers.dispatch_every`; procrastinate defers one job
  per tick whichever worker sees it first): first it settles the probes of lost workers (jobs
  left `doing` by a worker whose heartbeat stopped: each becomes a `probe_error` observation
  with detail `worker_lost` and its job is marked failed, never retried), then it takes the
  targets whose cycle has come (watchdog/workers/rows.py, under an advisory lock) and defers
  one `watchdog.probe` job for each, with the **queueing lock** `target:<id>` (never two
  waiting probes for one target: a cycle whose previous probe still waits is skipped and
  logged) and the **lock** `host:<host:port>#<slot>` (procrastinate runs jobs sharing a lock one
  at a time, so at most `politeness.per_host.concurrent` probes of one host run at once).
- `watchdog.probe`: claims the job in `worker_probes`, takes the host's next token from its
  shared row (waiting for it when the budget says so), runs the probe as `watchdog run` does
  (the same Runner, deadline and maintenance tags) and appends the observation with a guard
  that settles the claim in the same transaction as the chain append. The chain stays linear
  because `Store.append` locks the target's chain head row (SELECT … FOR UPDATE).

Announced publications (issue 19): a probe that reads the instant of the site's next
publication (`published_next`) plans probes around it in its target's schedule row (the
scheduler's `PublicationPlan`, watchdog/daemon/scheduler.py); the dispatcher enqueues them when
they are due, with the same queueing lock and host lock as any probe, none while the host
backs off, and the probe that serves one says so (`env.planned_for`, `env.planned_offset_s`).

Vantages (issue 17): a worker probes from `watchdog.vantage` and takes jobs from the queue
`probes` (targets that ask for no vantage: any worker) and `probes@<its vantage>`; a target
that asks for vantages gets one job per vantage and cycle, each on its vantage's queue. Each
worker checks its vantage's canary and attributes its failures as `watchdog run` does
(watchdog/daemon/vantage.py).

Each worker serves `/healthz` and `/metrics` (`listen`, or `--port`), writes its Prometheus
`file_sd` entry when `workers.file_sd_dir` is set, and opens and resolves incidents after its
own observations (the store keeps one open incident per kind and target, whoever opens it);
only the worker with `workers.notifier: true` sends them (outbox, reminders, digests).

Checkpoints and their RFC 3161 timestamps (issue 19): written by exactly one worker, the one
holding the checkpoint role, a PostgreSQL session advisory lock that passes to another worker
when its holder's connection ends (watchdog/workers/checkpoints.py).

`watchdog run` (one process, no PostgreSQL needed) is unchanged; this mode is its scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform as host_platform
import random
import socket
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job, Status
from procrastinate.schema import SchemaManager
from ulid import ULID

from watchdog import __version__
from watchdog.config.loader import Config
from watchdog.daemon.listener import start_listener
from watchdog.daemon.maintenance import in_maintenance, tagged, windows_for
from watchdog.daemon.scheduler import PUBLICATION
from watchdog.daemon.service import store_health, vantage_health
from watchdog.daemon.vantage import Vantage
from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import Metrics
from watchdog.metrics.sre import add_process_collectors
from watchdog.notify.service import Notifications
from watchdog.store import Store
from watchdog.store import connect as engines
from watchdog.store.atomic import write_atomically
from watchdog.store.timestamps import Authority
from watchdog.store.usage import Sizer, disk
from watchdog.workers import rows
from watchdog.workers.checkpoints import EVERY_S, CheckpointRole

log = logging.getLogger(__name__)

PROBE_TASK = "watchdog.probe"
DISPATCH_TASK = "watchdog.dispatch"
PROBES_QUEUE = "probes"
DISPATCH_QUEUE = "dispatch"
WORKER_LOST = "worker_lost"
# Serialises the creation of procrastinate's schema by workers starting together.
SCHEMA_LOCK_KEY = 0x57A7_C4D0_5C4E_3A00 & 0x7FFF_FFFF_FFFF_FFFF


class WorkersNeedPostgres(WatchdogError):
    """`watchdog worker` shares its queue and budgets through PostgreSQL only."""


def conninfo(config: Config) -> str:
    """The libpq URL of the store's PostgreSQL (procrastinate's connector speaks libpq)."""
    given = config.watchdog.database_url  # None: SQLite, refused before its folder is made
    url = engines.parse_url(config.watchdog.data_dir, given) if given is not None else None
    if url is None or url.get_backend_name() != "postgresql":
        raise WorkersNeedPostgres(
            "watchdog worker needs watchdog.database_url on PostgreSQL (postgresql://…): the "
            "workers share their queue, budgets and chains there; on one machine, "
            "`watchdog run` needs none of it"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def probes_queue(vantage: str | None) -> str:
    """The queue of a probe: `probes` (any worker), or `probes@<vantage>` (that vantage's)."""
    return f"{PROBES_QUEUE}@{vantage}" if vantage else PROBES_QUEUE


def host_lock(target: Target, concurrent: int) -> str:
    """The procrastinate lock of a probe of `target`: one of `concurrent` slots of its host."""
    slot = zlib.crc32(target.id.encode()) % concurrent
    return f"host:{target.netloc}#{slot}"


def ensure_schema(engine: sa.Engine) -> None:
    """procrastinate's tables and functions, then ours; created once, whoever starts first."""
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
        exists = conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if exists is None:
            cursor = conn.connection.cursor()  # no parameters: its % signs stay as written
            cursor.execute(SchemaManager.get_schema())
            cursor.close()
    rows.ensure_tables(engine)


class Worker:
    """One worker process: its procrastinate app, store, runner and the two tasks."""

    def __init__(self, config: Config, store: Store, name: str | None = None) -> None:
        self.config = config
        self.store = store
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.metrics = Metrics()
        add_process_collectors(self.metrics.registry)
        self.metrics.declare(t for t in config.targets if t.enabled)
        self.runner = Runner(config, store.blobs.put, on_network=self.metrics.network)
        self.started_at = datetime.now(UTC)
        self.recorded = 0
        self.lost = 0  # probes of lost workers this worker recorded as worker_lost
        self.port: int | None = None
        self.vantage: Vantage | None = None
        self.notifications: Notifications | None = None
        self.file_sd: Path | None = None
        self.sizer = Sizer(store.engine, store.blobs.root)  # watchdog_store_bytes, as `run`
        self.rng = random.Random(config.scheduler.seed)
        self.checkpoints = CheckpointRole(store, Authority.of(config), self.metrics, self.name)
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo(config),
                min_size=1,
                max_size=config.workers.concurrency + 2,
            )
        )
        self.probe_task = self.app.task(name=PROBE_TASK, queue=PROBES_QUEUE, pass_context=True)(
            self.probe_job
        )
        every = int(config.workers.dispatch_every.total_seconds())
        dispatch = self.app.task(name=DISPATCH_TASK, queue=DISPATCH_QUEUE)(self.dispatch_job)
        # Sixth cron field: seconds. The queueing lock keeps at most one tick waiting.
        self.app.periodic(
            cron=f"* * * * * */{every}", periodic_id="dispatch", queueing_lock="dispatch"
        )(dispatch)

    @property
    def engine(self) -> sa.Engine:
        return self.store.engine

    # -- running ------------------------------------------------------------------------

    async def run(self) -> int:
        """Work until SIGTERM/SIGINT; in-flight probes get `scheduler.grace_period`."""
        await asyncio.to_thread(ensure_schema, self.engine)
        last = await asyncio.to_thread(self.store.last_per_target)
        await asyncio.to_thread(self.runner.memory.seed, last.values(), self.store.blobs.get)
        config = self.config
        workers = config.workers
        self.vantage = await asyncio.to_thread(Vantage, config, self.store, self.metrics)
        self.notifications = await asyncio.to_thread(
            Notifications.for_daemon, config, self.store, self.metrics.registry
        )
        http, self.port = await start_listener(
            config.listen.host, config.listen.port, self.health, self.exposition,
            self.notifications.add_routes if workers.notifier else None,
        )  # fmt: skip
        if workers.notifier:
            self.notifications.start()
        canary: asyncio.Task[None] | None = None
        checkpoints = asyncio.create_task(self._checkpoint_forever(), name="checkpoints")
        queues = [DISPATCH_QUEUE, PROBES_QUEUE, probes_queue(config.watchdog.vantage)]
        self.sizer.start()
        try:
            self.file_sd = await asyncio.to_thread(self._write_file_sd)
            await self.vantage.check(self.runner.host)  # before any probe: is our network up?
            canary = asyncio.create_task(self.vantage.run(self.runner.host), name="canary")
            log.info("worker %s (vantage %s%s): %d targets, %d jobs at once, on %s; /healthz "
                     "and /metrics on http://%s:%s", self.name, config.watchdog.vantage,
                     ", notifier" if workers.notifier else "", len(config.targets),
                     workers.concurrency, self.store.url, config.listen.host,
                     self.port)  # fmt: skip
            async with self.app.open_async():
                await self.app.run_worker_async(
                    queues=queues,
                    name=self.name,
                    concurrency=workers.concurrency,
                    update_heartbeat_interval=workers.heartbeat.total_seconds(),
                    stalled_worker_timeout=workers.stalled_after.total_seconds(),
                    shutdown_graceful_timeout=self.config.scheduler.grace_period.total_seconds(),
                    delete_jobs="successful",
                    install_signal_handlers=True,
                )
        finally:
            self.sizer.stop()
            checkpoints.cancel()
            with contextlib.suppress(BaseException):
                await checkpoints
            await asyncio.to_thread(self.checkpoints.stop)  # covers this worker's last probes
            if canary is not None:
                canary.cancel()
                with contextlib.suppress(BaseException):
                    await canary
            if self.file_sd is not None:
                self.file_sd.unlink(missing_ok=True)
            await self.notifications.stop()
            await http.cleanup()
            await self.runner.close()
        log.info("worker %s stopped", self.name)
        return 0

    async def _checkpoint_forever(self) -> None:
        """Try for the checkpoint role, and checkpoint while holding it, every EVERY_S."""
        while True:
            try:
                await asyncio.to_thread(self.checkpoints.tick)
            except Exception:  # a fault of ours must not end the role's loop for good
                log.exception("checkpoint role: unexpected failure; next try in %gs", EVERY_S)
            await asyncio.sleep(EVERY_S)

    # -- the probe task -----------------------------------------------------------------

    async def probe_job(
        self,
        context: JobContext,
        target: str,
        dispatched_at: float,
        vantage: str | None = None,
        planned_offset: float | None = None,
    ) -> None:
        job_id = context.job.id
        assert job_id is not None
        found = self.config.target(target)
        if found is None or not found.enabled:
            log.warning("job %s: target %s is not in this worker's catalog: skipped", job_id,
                        target)  # fmt: skip
            return
        now = time.time()
        await asyncio.to_thread(rows.claim, self.engine, job_id, target, self.name,
                                os.getpid(), now)  # fmt: skip
        budget = self.config.politeness.per_host
        key = rows.schedule_key(target, vantage)
        start = await asyncio.to_thread(rows.reserve_start, self.engine, job_id, found, budget, key)
        wait = start - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        outcome = Outcome.PROBE_ERROR
        try:
            outcome = await self._probe_and_record(job_id, found, key, planned_offset)
        except BaseException:  # cancelled past the grace period, or a fault outside the runner:
            # nothing recorded, and the claim says so (its job ends failed, not stalled)
            await asyncio.shield(
                asyncio.to_thread(rows.settle_abandoned, self.engine, job_id, time.time())
            )
            raise
        finally:
            await asyncio.to_thread(rows.note_outcome, self.engine, found.netloc, budget,
                                    outcome, time.time())  # fmt: skip

    async def _probe_and_record(
        self, job_id: int, target: Target, key: str, planned_offset: float | None
    ) -> Outcome:
        deadline = self.config.browser.probe_timeout + self.config.scheduler.probe_overrun
        try:
            obs = await asyncio.wait_for(self.runner.probe(target), deadline.total_seconds())
        except TimeoutError:
            await asyncio.to_thread(rows.settle_abandoned, self.engine, job_id, time.time())
            log.warning("probe of %s overran its deadline: abandoned, nothing recorded",
                        target.id)  # fmt: skip
            return Outcome.TIMEOUT
        except StoreError as exc:  # its evidence could not be written (a full disk…)
            self.store.health.dropped(1)
            raise StoreError(f"{exc}; the observation is dropped") from exc
        if self.vantage is not None:
            obs = await self.vantage.attribute(obs, target)
        obs = self._tagged(obs, target)
        if planned_offset is not None:
            env = obs.env.model_copy(
                update={"planned_for": PUBLICATION, "planned_offset_s": round(planned_offset, 3)}
            )
            obs = obs.model_copy(update={"env": env})
        guard = rows.settle_recorded(job_id, obs.id, time.time())
        sealed = await asyncio.to_thread(self.store.append, obs, guard)
        self.recorded += 1
        if sealed.published_next is not None:
            offsets = self.config.publication_for(target).offsets_s()
            instant = sealed.published_next.timestamp()
            if await asyncio.to_thread(rows.announce, self.engine, key, instant, offsets,
                                       time.time()):  # fmt: skip
                log.info("%s: publication announced for %s: %d probe(s) planned around it",
                         key, sealed.published_next.isoformat(), len(offsets))  # fmt: skip
        self.metrics.observe(sealed, target)
        if self.notifications is not None:  # opens or resolves incidents; sends nothing here
            await self.notifications.on_observation(sealed, target)
        tags = f" [{', '.join(sealed.tags)}]" if sealed.tags else ""
        log.info("%s: %s (%s) in %.1fs%s", target.id, sealed.outcome, sealed.detail,
                 sealed.duration_s, tags)  # fmt: skip
        return sealed.outcome

    def _tagged(self, obs: Observation, target: Target) -> Observation:
        windows = windows_for(self.config, target)
        maintenance = in_maintenance(windows, obs.started_at, obs.finished_at)
        if maintenance:
            return obs.model_copy(update={"tags": tagged(obs.tags, maintenance)})
        return obs

    # -- the dispatcher -----------------------------------------------------------------

    async def dispatch_job(self, timestamp: int) -> None:
        await self.reap()
        now = time.time()
        due = await asyncio.to_thread(self._take_due, now)
        concurrent = self.config.politeness.per_host.concurrent
        for item in due:
            deferrer = self.probe_task.configure(
                queueing_lock=f"target:{item.key}",
                lock=host_lock(item.target, concurrent),
                queue=probes_queue(item.vantage),
            )
            where: dict[str, Any] = {"vantage": item.vantage} if item.vantage else {}
            if item.planned_offset is not None:
                where["planned_offset"] = item.planned_offset
            try:
                await deferrer.defer_async(target=item.target.id, dispatched_at=now, **where)
            except AlreadyEnqueued:
                log.warning("%s: its previous probe still waits for a worker; this cycle is "
                            "skipped", item.key)  # fmt: skip

    def _take_due(self, now: float) -> list[rows.Due]:
        with self.engine.begin() as conn:
            return rows.take_due(conn, self.config, now, self._last_seen, self.rng)

    def _last_seen(self) -> dict[str, rows.Seen]:
        """Each target's last start and announced publication in the store."""
        return {
            tid: rows.Seen(
                obs.started_at.timestamp(),
                obs.published_next.timestamp() if obs.published_next is not None else None,
            )
            for tid, obs in self.store.last_per_target().items()
        }

    async def reap(self) -> int:
        """Record the probes of lost workers as `worker_lost` and fail their jobs; how many."""
        stalled_after = self.config.workers.stalled_after.total_seconds()
        manager = self.app.job_manager
        lost = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            if job.task_name == PROBE_TASK and await self._record_lost(job):
                lost += 1
            try:
                await manager.finish_job(job, Status.FAILED, delete_job=False)
            except Exception as exc:  # finished meanwhile (its worker came back): leave it
                log.info("job %s of a stalled worker: %s", job.id, exc)
        return lost

    async def _record_lost(self, job: Job) -> bool:
        assert job.id is not None
        target_id = str(job.task_kwargs.get("target"))
        claim = await asyncio.to_thread(rows.claimed, self.engine, job.id)
        now = time.time()
        started, worker = claim if claim is not None else (now, f"worker #{job.worker_id}")
        obs = self._lost_observation(target_id, worker, job.id, started, now)
        target = self.config.target(target_id)
        if target is not None:
            obs = self._tagged(obs, target)
        guard = rows.settle_lost(job.id, target_id, obs.id, now)
        try:
            sealed = await asyncio.to_thread(self.store.append, obs, guard)
        except rows.AlreadySettled:
            return False
        if target is not None:  # like any observation this process records: its series and
            self.metrics.observe(sealed, target)  # the incident engine
            if self.notifications is not None:
                await self.notifications.on_observation(sealed, target)
        log.error("%s: worker %s lost during job %s: recorded as probe_error/%s, not retried",
                  target_id, worker, job.id, WORKER_LOST)  # fmt: skip
        self.lost += 1
        return True

    def _lost_observation(
        self, target: str, worker: str | None, job_id: int, started: float, now: float
    ) -> Observation:
        started_at = datetime.fromtimestamp(started, UTC)
        finished_at = datetime.fromtimestamp(max(now, started), UTC)
        return Observation(
            id=str(ULID()),
            target=target,
            outcome=Outcome.PROBE_ERROR,
            detail=WORKER_LOST,
            message=(
                f"worker {worker} stopped sending heartbeats during this probe (job {job_id}): "
                "its result is unknown; the probe is not retried, the next cycle probes again"
            ),
            started_at=started_at,
            finished_at=finished_at,
            duration_s=round((finished_at - started_at).total_seconds(), 3),
            env=Env(
                software=f"prefecture-watchdog {__version__}",
                os=host_platform.platform(),
                simulated=self.config.watchdog.simulated,
            ),
            vantage=self.config.watchdog.vantage,
        )

    # -- what Prometheus and a load balancer see ------------------------------------------

    def health(self) -> dict[str, Any]:
        writes = self.store.health.snapshot()
        return {
            "status": "ok" if writes.writable else "unhealthy",
            "role": "worker",
            "version": __version__,
            "worker": self.name,
            "notifier": self.config.workers.notifier,
            "started_at": self.started_at.isoformat(),
            "targets": len(self.config.targets),
            "observations_recorded": self.recorded,
            "worker_lost_recorded": self.lost,
            "store": store_health(writes),
            "vantage": vantage_health(self.vantage),
            "checkpoints": self._checkpoint_health(),
        }

    def _checkpoint_health(self) -> dict[str, Any]:
        last = self.checkpoints.last
        return {
            "role": self.checkpoints.held,
            "last_written": last.created_at if last is not None else None,
            "last_digest": last.digest if last is not None else None,
        }

    def exposition(self) -> bytes:
        self.metrics.store_health(self.store.health.snapshot())
        self.metrics.store_usage(self.sizer.last, disk(self.config.watchdog.data_dir))
        return self.metrics.exposition()

    def _write_file_sd(self) -> Path | None:
        """This worker's Prometheus file_sd entry, `workers.file_sd_dir`/<name>.json."""
        folder = self.config.workers.file_sd_dir
        if folder is None:
            return None
        assert self.port is not None
        path = folder / f"{_file_name(self.name)}.json"
        entry = file_sd_entry(self.config, self.name, self.port)
        data = (json.dumps(entry, indent=2) + "\n").encode()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data, prefix=".file-sd-")
        except OSError as exc:  # Prometheus would never find this worker: say so, and stop
            raise WatchdogError(
                f"cannot write the Prometheus file_sd entry {path} (workers.file_sd_dir): "
                f"{exc.strerror or exc}"
            ) from exc
        log.info("worker %s: Prometheus file_sd entry written to %s", self.name, path)
        return path


def file_sd_entry(config: Config, name: str, port: int) -> list[dict[str, Any]]:
    """What Prometheus' file_sd reads for one worker: its address and labels."""
    host = config.listen.host
    if host in ("", "0.0.0.0", "::"):  # every interface: the name other machines use
        host = socket.getfqdn()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    labels = {"vantage": config.watchdog.vantage, "worker": name}
    return [{"targets": [address], "labels": labels}]


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run_worker(config: Config, name: str | None = None) -> int:
    """Entry point of `watchdog worker`."""
    conninfo(config)  # PostgreSQL or a clear refusal, before anything opens
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)  # lifecycle and one line per probe, even without -v
    store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
    try:
        return asyncio.run(Worker(config, store, name).run())
    finally:
        store.close()
