"""Reads and writes of incidents and of the outbox (SQLAlchemy Core, SQLite and PostgreSQL).

Every write goes through the store's `Writer` (BEGIN IMMEDIATE on SQLite, so it waits for
the recorder instead of failing). An incident and its notifications are written in one
transaction: a crash leaves both or neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from watchdog.domain.incidents import Event, IncidentKind
from watchdog.notify.tables import ensure, incidents, outbox
from watchdog.stats.calendar import parse_instant
from watchdog.store.chain import format_instant
from watchdog.store.connect import Writer

OPEN, RESOLVED = "open", "resolved"
PENDING, SENDING, SENT, FAILED, SUPERSEDED = "pending", "sending", "sent", "failed", "superseded"
SENDING_LEASE = timedelta(minutes=10)  # a worker that died mid-send releases its rows then


@dataclass(frozen=True)
class Incident:
    id: str
    kind: IncidentKind
    target: str
    department: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    resolution: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": self.target,
            "department": self.department,
            "status": self.status,
            "opened_at": format_instant(self.opened_at),
            "resolved_at": format_instant(self.resolved_at) if self.resolved_at else None,
            "facts": self.facts,
            "resolution": self.resolution,
        }


@dataclass(frozen=True)
class Message:
    """One notification to one route; `dedup_key` makes it happen at most once."""

    dedup_key: str
    route: str
    event: Event
    title: str
    body: str
    notify_type: str = "info"
    incident_id: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Queued:
    """An outbox row as the delivery worker sees it."""

    id: int
    message: Message
    attempts: int
    status: str
    last_error: str | None = None


class Repo:
    """Incidents and outbox over the store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.writer = Writer(engine)
        ensure(self.writer)

    # -- incidents ------------------------------------------------------------------------

    def open_incident(self, incident: Incident, messages: Sequence[Message]) -> bool:
        """Insert `incident` and its notifications; False when one is already open."""
        row = incident.to_json() | {"facts": _dumps(incident.facts), "resolution": None}
        with self.writer.transaction() as conn:
            stmt = _insert(conn, incidents).on_conflict_do_nothing().returning(incidents.c.id)
            if conn.execute(stmt, row).first() is None:
                return False
            _enqueue(conn, messages, incident.opened_at)
        return True

    def resolve_incident(
        self,
        incident: Incident,
        at: datetime,
        resolution: dict[str, Any],
        messages: Sequence[Message],
    ) -> bool:
        """Close `incident` (once) and queue its resolution; pending reminders are dropped."""
        with self.writer.transaction() as conn:
            done = conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == incident.id, incidents.c.status == OPEN)
                .values(status=RESOLVED, resolved_at=format_instant(at),
                        resolution=_dumps(resolution))
            )  # fmt: skip
            if done.rowcount != 1:
                return False
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.incident_id == incident.id, outbox.c.status == PENDING,
                       outbox.c.event == Event.REMINDER.value)
                .values(status=SUPERSEDED)
            )  # fmt: skip
            _enqueue(conn, messages, at)
        return True

    def open_incident_for(self, kind: IncidentKind, target: str) -> Incident | None:
        stmt = sa.select(incidents).where(
            incidents.c.kind == kind.value, incidents.c.target == target, incidents.c.status == OPEN
        )
        found = self._incidents(stmt)
        return found[0] if found else None

    def open_incidents(self) -> list[Incident]:
        return self._incidents(sa.select(incidents).where(incidents.c.status == OPEN))

    def incidents(self, since: datetime | None = None) -> list[Incident]:
        """Open incidents and those resolved since `since` (every one when None)."""
        return self._incidents(_since(since))

    def _incidents(self, stmt: sa.Select[Any]) -> list[Incident]:
        return _read(self.engine, stmt)

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(self, messages: Sequence[Message], now: datetime) -> int:
        """Queue messages; those whose dedup_key was seen before are dropped. Returns new."""
        with self.writer.transaction() as conn:
            return _enqueue(conn, messages, now)

    def has_unsent(self, incident_id: str, route: str) -> bool:
        stmt = sa.select(sa.func.count()).where(
            outbox.c.incident_id == incident_id,
            outbox.c.route == route,
            outbox.c.status.in_([PENDING, SENDING]),
        )
        with self.engine.connect() as conn:
            return bool(conn.execute(stmt).scalar())

    def known(self, dedup_key: str) -> bool:
        """Whether a message with this key was ever queued (sent or not)."""
        stmt = sa.select(outbox.c.id).where(outbox.c.dedup_key == dedup_key)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def claim_due(self, now: datetime, limit: int = 50) -> list[Queued]:
        """Take the due rows (pending, or sending past a dead worker's lease) for this worker."""
        stamp = format_instant(now)
        due = (
            sa.select(outbox)
            .where(outbox.c.status.in_([PENDING, SENDING]), outbox.c.next_attempt_at <= stamp)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        lease = format_instant(now + SENDING_LEASE)
        claimed: list[Queued] = []
        with self.writer.transaction() as conn:
            for row in conn.execute(due).all():
                taken = conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.id == row.id, outbox.c.status == row.status,
                           outbox.c.next_attempt_at == row.next_attempt_at)
                    .values(status=SENDING, next_attempt_at=lease)
                )  # fmt: skip
                if taken.rowcount == 1:
                    claimed.append(_queued(row))
        return claimed

    def finish(self, item: Queued, status: str, at: datetime, error: str | None = None) -> None:
        """Record a send that succeeded (`sent`) or was given up (`failed`)."""
        values: dict[str, Any] = {"status": status, "attempts": item.attempts, "last_error": error}
        if status == SENT:
            values["sent_at"] = format_instant(at)
        self._update(item.id, values)

    def retry(self, item: Queued, when: datetime, error: str | None) -> None:
        """Back to pending until `when` (a failed attempt, or quiet hours when error is None)."""
        self._update(
            item.id,
            {"status": PENDING, "attempts": item.attempts, "next_attempt_at": format_instant(when),
             "last_error": error},
        )  # fmt: skip

    def _update(self, row_id: int, values: dict[str, Any]) -> None:
        with self.writer.transaction() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.id == row_id).values(**values))

    def outbox_rows(self) -> list[Queued]:
        """Every row, oldest first (tests and `watchdog incidents --json`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()
        return [_queued(row) for row in rows]


def recorded_incidents(
    engine: sa.Engine, since: datetime | None = None, targets: Sequence[str] | None = None
) -> list[Incident]:
    """As `Repo.incidents`, without creating the tables (a read-only store): none when the
    notifications never ran; `targets` keeps only theirs."""
    if not sa.inspect(engine).has_table(incidents.name):
        return []
    stmt = _since(since)
    if targets is not None:
        stmt = stmt.where(incidents.c.target.in_(list(targets)))
    return _read(engine, stmt)


def _since(since: datetime | None) -> sa.Select[Any]:
    stmt = sa.select(incidents)
    if since is not None:
        stmt = stmt.where(
            sa.or_(incidents.c.status == OPEN, incidents.c.resolved_at >= format_instant(since))
        )
    return stmt


def _read(engine: sa.Engine, stmt: sa.Select[Any]) -> list[Incident]:
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(incidents.c.opened_at, incidents.c.id)).all()
    return [_incident(row) for row in rows]


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _enqueue(conn: sa.Connection, messages: Iterable[Message], now: datetime) -> int:
    rows = [_row(m, now) for m in messages]
    if not rows:
        return 0
    stmt = (
        _insert(conn, outbox)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(outbox.c.id)
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    return sum(1 for row in rows if conn.execute(stmt, row).first() is not None)


def _row(message: Message, now: datetime) -> dict[str, Any]:
    stamp = format_instant(now)
    return {
        "dedup_key": message.dedup_key,
        "route": message.route,
        "event": message.event.value,
        "incident_id": message.incident_id,
        "title": message.title,
        "body": message.body,
        "notify_type": message.notify_type,
        "attachments": json.dumps(list(message.attachments)),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": stamp,
        "created_at": stamp,
    }


def _queued(row: sa.Row[Any]) -> Queued:
    message = Message(
        dedup_key=row.dedup_key,
        route=row.route,
        event=Event(row.event),
        title=row.title,
        body=row.body,
        notify_type=row.notify_type,
        incident_id=row.incident_id,
        attachments=tuple(json.loads(row.attachments)),
    )
    return Queued(row.id, message, row.attempts, row.status, row.last_error)


def _incident(row: sa.Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        kind=IncidentKind(row.kind),
        target=row.target,
        department=row.department,
        status=row.status,
        opened_at=parse_instant(row.opened_at),
        resolved_at=parse_instant(row.resolved_at) if row.resolved_at else None,
        facts=json.loads(row.facts),
        resolution=json.loads(row.resolution) if row.resolution else None,
    )


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
