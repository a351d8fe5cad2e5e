"""Tables of incidents and of the notification outbox, beside the store's own (same engine).

Identical on SQLite and PostgreSQL. Instants are canonical UTC text (`watchdog.store.chain`), as in
the store. Two constraints carry the "never twice" promises across restarts and workers:
at most one open incident per (kind, target), and one outbox row per `dedup_key`.
"""

from __future__ import annotations

import sqlalchemy as sa

from watchdog.store.connect import Writer

metadata = sa.MetaData()

incidents = sa.Table(
    "notify_incidents",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("department", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("opened_at", sa.String(32), nullable=False),
    sa.Column("resolved_at", sa.String(32), nullable=True),
    sa.Column("facts", sa.Text, nullable=False),  # JSON: figures and evidence at opening
    sa.Column("resolution", sa.Text, nullable=True),  # JSON: figures at resolution
    sa.Index(
        "uq_notify_incidents_open",
        "kind",
        "target",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
    sa.Index("ix_notify_incidents_opened", "opened_at"),
)

outbox = sa.Table(
    "notify_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String, nullable=False, unique=True),
    sa.Column("route", sa.String, nullable=False),  # a route id from the config, never a URL
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("incident_id", sa.String(32), nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("notify_type", sa.String(16), nullable=False),  # Apprise: info|success|warning|…
    sa.Column("attachments", sa.Text, nullable=False),  # JSON list of evidence sha256
    sa.Column("status", sa.String(16), nullable=False),  # pending|sending|sent|failed|superseded
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.String(32), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("sent_at", sa.String(32), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),  # redacted, never a URL
    sa.Index("ix_notify_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_notify_outbox_incident", "incident_id", "route"),
)


def ensure(writer: Writer) -> None:
    """Create the tables when missing (idempotent; PostgreSQL workers take the schema lock)."""
    with writer.transaction(schema_change=True) as conn:
        metadata.create_all(conn, checkfirst=True)
