"""What every worker shares in PostgreSQL: per-host budgets, per-target schedules, probe claims.

Three tables beside the store's, created on a worker's start:

- `worker_hosts`: one row per host (host:port): the token bucket's next free start, the
  back-off level, the last failure and since when it fails. A worker reserves a start under
  `SELECT … FOR UPDATE` and applies the very `TokenBucket`/`HostState` logic of
  watchdog/daemon/politeness.py to the row, so the budget holds across workers and machines.
- `worker_targets`: one row per target (per target and vantage, `<id>@<vantage>`, for a
  target that asks for vantages): the start of its previous cycle (`anchor`) and the
  jitter drawn for the next one: the dispatcher moves the anchor when it enqueues the probe,
  the probe when its host's token lets it start. `plan` holds the probes planned around the
  publication instants its pages announced (`published_next`, issue 19): the very
  `PublicationPlan` of watchdog/daemon/scheduler.py, so the dispatcher plans, prunes and serves
  them as `watchdog run` does — never for a host in back-off, each probe still taking its
  host's token.
- `worker_probes`: one row per probe job: which target, which worker (host:pid), since when,
  the start its host's token granted, and how it settled (`running`, `recorded`, `lost`,
  `recorded_late`, `abandoned`). A probe's row is settled in the transaction that chains its
  observation (a `Store.append` guard), so a probe is either recorded by its worker or
  declared `worker_lost`, never both unnoticed.

Times are Unix seconds (the workers' clocks are assumed synchronised, e.g. by NTP).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from watchdog.config.loader import Config, PerHostBudget
from watchdog.daemon.politeness import HostState, cycle_delay
from watchdog.daemon.scheduler import PublicationPlan
from watchdog.domain.models import Outcome
from watchdog.domain.target import Target
from watchdog.store.db import Guard

# Serialises the dispatchers' reads and writes of the schedule, and the table creation.
DISPATCH_LOCK_KEY = 0x57A7_C4D0_D15B_A7C4 & 0x7FFF_FFFF_FFFF_FFFF
TABLES_LOCK_KEY = 0x57A7_C4D0_7AB1_E500 & 0x7FFF_FFFF_FFFF_FFFF

RUNNING = "running"
RECORDED = "recorded"
LOST = "lost"
RECORDED_LATE = "recorded_late"  # recorded by a worker already declared lost
ABANDONED = "abandoned"  # nothing recorded: overran its deadline, cancelled, or failed

metadata = sa.MetaData()

hosts = sa.Table(
    "worker_hosts",
    metadata,
    sa.Column("host", sa.Text, primary_key=True),
    sa.Column("next_free", sa.Float, nullable=False),
    sa.Column("level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure", sa.Text),
    sa.Column("failing_since", sa.Float),
)

targets = sa.Table(
    "worker_targets",
    metadata,
    sa.Column("target", sa.Text, primary_key=True),
    sa.Column("anchor", sa.Float),  # start of the previous cycle; None: first_due applies
    sa.Column("first_due", sa.Float, nullable=False),
    sa.Column("jitter", sa.Float, nullable=False, server_default="1"),
    sa.Column("plan", postgresql.JSONB),  # PublicationPlan.to_json(); None: nothing announced
)

probes = sa.Table(
    "worker_probes",
    metadata,
    sa.Column("job_id", sa.BigInteger, primary_key=True),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("worker", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("token_at", sa.Float),  # the start its host's budget granted
    sa.Column("settled_at", sa.Float),
    sa.Column("observation", sa.Text),
)


def ensure_tables(engine: sa.Engine) -> None:
    """Create the three tables if missing (workers starting together take turns)."""
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(TABLES_LOCK_KEY)))
        metadata.create_all(conn, checkfirst=True)
        # Tables made by a version without publication plans get the column.
        conn.execute(sa.text("ALTER TABLE worker_targets ADD COLUMN IF NOT EXISTS plan jsonb"))


# -- hosts: the shared politeness budget -----------------------------------------------------


def _lock_host(conn: sa.Connection, key: str, budget: PerHostBudget) -> HostState:
    """The host's row, locked for this transaction, as politeness.HostState."""
    conn.execute(
        postgresql.insert(hosts)
        .values(host=key, next_free=float("-inf"), level=0)
        .on_conflict_do_nothing()
    )
    row = conn.execute(sa.select(hosts).where(hosts.c.host == key).with_for_update()).one()
    state = HostState.new(key, budget, row.level)
    state.bucket.next_free = row.next_free
    state.last_failure = Outcome(row.last_failure) if row.last_failure else None
    state.failing_since = row.failing_since
    return state


def _save_host(conn: sa.Connection, state: HostState) -> None:
    conn.execute(
        sa.update(hosts)
        .where(hosts.c.host == state.key)
        .values(
            next_free=state.bucket.next_free,
            level=state.level,
            last_failure=state.last_failure.value if state.last_failure else None,
            failing_since=state.failing_since,
        )
    )


def reserve_start(
    engine: sa.Engine, job_id: int, target: Target, budget: PerHostBudget, key: str | None = None
) -> float:
    """Take the host's next token: the time at which this probe may start (now or later).

    The bucket's `take` is politeness.TokenBucket's: starts to one host stay 60/rpm seconds
    apart whichever worker makes them. `now` is read once the row is locked. The target's
    next cycle counts from this start, as in `watchdog run` (a probe that waited for its
    host does not shorten the next interval).
    """
    with engine.begin() as conn:
        state = _lock_host(conn, target.netloc, budget)
        now = time.time()
        start = max(now, state.bucket.next_free)
        state.bucket.take(now)
        _save_host(conn, state)
        schedule = key or target.id
        conn.execute(sa.update(targets).where(targets.c.target == schedule).values(anchor=start))
        conn.execute(sa.update(probes).where(probes.c.job_id == job_id).values(token_at=start))
    return start


def note_outcome(
    engine: sa.Engine, key: str, budget: PerHostBudget, outcome: Outcome, now: float
) -> None:
    """Raise or reset the host's back-off level after a probe (politeness.HostState.note)."""
    with engine.begin() as conn:
        state = _lock_host(conn, key, budget)
        state.note(outcome, now)
        _save_host(conn, state)


def host_levels(conn: sa.Connection) -> dict[str, int]:
    return {row.host: row.level for row in conn.execute(sa.select(hosts.c.host, hosts.c.level))}


# -- targets: the schedule -------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A target whose cycle has come (from `vantage`, None: from any), and when it came;
    `planned_offset`: this start serves a probe planned that far from an announced instant."""

    target: Target
    due: float
    vantage: str | None = None
    planned_offset: float | None = None

    @property
    def key(self) -> str:
        """Its row in `worker_targets`, and its queueing lock."""
        return schedule_key(self.target.id, self.vantage)


def schedule_key(target_id: str, vantage: str | None) -> str:
    return f"{target_id}@{vantage}" if vantage else target_id


def cycles(config: Config) -> list[tuple[Target, str | None]]:
    """What is scheduled: each enabled target once per vantage it asks for, or once."""
    found: list[tuple[Target, str | None]] = []
    for target in config.targets:
        if target.enabled:
            found += [(target, v) for v in target.vantages] or [(target, None)]
    return found


@dataclass(frozen=True)
class Seen:
    """A target's last observation in the store: its start, and the publication it announced."""

    started: float
    announced: float | None = None


LastSeen = Callable[[], Mapping[str, Seen]]  # read only when a target is new to the schedule


def take_due(
    conn: sa.Connection, config: Config, now: float, last_seen: LastSeen, rng: random.Random
) -> list[Due]:
    """Targets due now, under the dispatch lock; each gets anchor = now (no second dispatch
    while its probe waits) and a new jitter, and its probe moves the anchor to its start.

    A target seen for the first time resumes from its last observation (`last_seen`) when
    that cycle has not passed yet, and otherwise starts at a random offset in its interval, so
    that a catalog never fires together (as watchdog/daemon/scheduler.py does); a publication
    that observation announced is planned. A target is also due when a probe planned around an
    announced instant is (`PublicationPlan`: none while its host backs off, none more than a
    minute late); the start serves it, and `Due.planned_offset` says so.
    """
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(DISPATCH_LOCK_KEY)))
    wanted = [Due(t, 0.0, v) for t, v in cycles(config)]
    rows = {row.target: row for row in conn.execute(sa.select(targets).with_for_update())}
    new = [d for d in wanted if d.key not in rows]
    if new:
        _add_new(conn, new, now, last_seen(), rng, config)
        rows = {row.target: row for row in conn.execute(sa.select(targets))}
    levels = host_levels(conn)
    backoff = config.politeness.backoff
    spread = config.politeness.jitter
    due: list[Due] = []
    plans: dict[str, dict[str, Any]] = {}
    for cycle in wanted:
        target = cycle.target
        row = rows[cycle.key]
        level = levels.get(target.netloc, 0)
        when = row.first_due
        if row.anchor is not None:
            delay = cycle_delay(
                target.interval.total_seconds(),
                row.jitter,
                level,
                backoff.factor,
                backoff.cap.total_seconds(),
            )
            when = row.anchor + delay
        plan = PublicationPlan.from_json(row.plan)
        plan.prune(now, level > 0)
        planned = plan.next(level > 0)
        if planned is not None:
            when = min(when, planned)
        if when <= now:
            due.append(Due(target, when, cycle.vantage, plan.serve(now, level > 0)))
        if row.plan is not None and plan.to_json() != row.plan:
            plans[cycle.key] = plan.to_json()
    if plans:
        conn.execute(
            sa.update(targets)
            .where(targets.c.target == sa.bindparam("b_target"))
            .values(plan=sa.bindparam("b_plan")),
            [{"b_target": key, "b_plan": plan} for key, plan in plans.items()],
        )
    if due:
        conn.execute(
            sa.update(targets)
            .where(targets.c.target == sa.bindparam("b_target"))
            .values(anchor=sa.bindparam("b_anchor"), jitter=sa.bindparam("b_jitter")),
            [
                {
                    "b_target": d.key,
                    "b_anchor": now,
                    "b_jitter": 1.0 + rng.uniform(-spread, spread),
                }
                for d in due
            ],
        )
    due.sort(key=lambda d: (d.due, d.key))
    return due


def _add_new(
    conn: sa.Connection,
    new: Iterable[Due],
    now: float,
    last_seen: Mapping[str, Seen],
    rng: random.Random,
    config: Config,
) -> None:
    spread = config.politeness.jitter
    values = []
    for cycle in new:
        interval = cycle.target.interval.total_seconds()
        seen = last_seen.get(cycle.target.id)
        last = seen.started if seen is not None else None
        jitter = 1.0 + rng.uniform(-spread, spread)
        anchor = last if last is not None and last + interval * jitter >= now else None
        plan = None
        if seen is not None and seen.announced is not None:
            found = PublicationPlan()
            found.announce(seen.announced, config.publication_for(cycle.target).offsets_s(), now)
            plan = found.to_json()
        values.append(
            {"target": cycle.key, "anchor": anchor, "jitter": jitter,
             "first_due": now + rng.uniform(0, interval), "plan": plan}
        )  # fmt: skip
    if values:
        conn.execute(postgresql.insert(targets).on_conflict_do_nothing(), values)


def announce(engine: sa.Engine, key: str, instant: float, offsets: list[float], now: float) -> bool:
    """Plan the probes around a publication `instant` a probe of schedule row `key` read
    (nothing when that instant is already planned); False when nothing changed."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(targets.c.plan).where(targets.c.target == key).with_for_update()
        ).first()
        if row is None:  # the target left the schedule meanwhile
            return False
        plan = PublicationPlan.from_json(row.plan)
        if not plan.announce(instant, offsets, now):
            return False
        conn.execute(sa.update(targets).where(targets.c.target == key).values(plan=plan.to_json()))
    return True


# -- probes: claims settled with the chain ---------------------------------------------------


def claim(engine: sa.Engine, job_id: int, target: str, worker: str, pid: int, now: float) -> None:
    """Note that `worker` runs job `job_id` for `target` from `now` on."""
    with engine.begin() as conn:
        conn.execute(
            postgresql.insert(probes)
            .values(job_id=job_id, target=target, worker=worker, pid=pid, state=RUNNING,
                    started_at=now)
            .on_conflict_do_nothing()
        )  # fmt: skip


class AlreadySettled(Exception):
    """The probe was recorded by its worker meanwhile: no `worker_lost` for it."""


def settle_recorded(job_id: int, obs_id: str, now: float) -> Guard:
    """Guard for the worker's own append: `recorded` (or `recorded_late` after a loss)."""

    def guard(conn: sa.Connection) -> None:
        state = sa.case((probes.c.state == LOST, RECORDED_LATE), else_=RECORDED)
        conn.execute(
            sa.update(probes)
            .where(probes.c.job_id == job_id)
            .values(state=state, settled_at=now, observation=obs_id)
        )

    return guard


def settle_lost(job_id: int, target: str, obs_id: str, now: float) -> Guard:
    """Guard for a `worker_lost` append: only a probe still `running` (or never claimed)."""

    def guard(conn: sa.Connection) -> None:
        insert = postgresql.insert(probes).values(
            job_id=job_id, target=target, state=LOST, started_at=now, settled_at=now,
            observation=obs_id,
        )  # fmt: skip
        settled = conn.execute(
            insert.on_conflict_do_update(
                index_elements=[probes.c.job_id],
                set_={"state": LOST, "settled_at": now, "observation": obs_id},
                where=probes.c.state == RUNNING,
            ).returning(probes.c.job_id)
        ).first()
        if settled is None:
            raise AlreadySettled(job_id)

    return guard


def settle_abandoned(engine: sa.Engine, job_id: int, now: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(probes)
            .where(probes.c.job_id == job_id, probes.c.state == RUNNING)
            .values(state=ABANDONED, settled_at=now)
        )


def claimed(engine: sa.Engine, job_id: int) -> tuple[float, str | None] | None:
    """When job `job_id` started and by whom (None: never claimed)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(probes.c.started_at, probes.c.worker).where(probes.c.job_id == job_id)
        ).first()
    return (row.started_at, row.worker) if row is not None else None
