"""Tables of the observation store (SQLAlchemy Core), identical on SQLite and PostgreSQL.

`observations.doc` is the exact canonical JSON that was hashed; the other columns are copies
of some of its values, kept for indexes and SQL. `watchdog verify` checks every copy against
the document, so a column edited alone is detected.

Datetime columns hold the canonical text of `watchdog.chain` (UTC, fixed width, `Z`), so text
order is time order on both backends and a column compares byte for byte with the document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from watchdog.errors import StoreError

SCHEMA_VERSION = 1

metadata = sa.MetaData()

chain_heads = sa.Table(
    "chain_heads",
    metadata,
    sa.Column("target", sa.String, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=True),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("target", sa.String, sa.ForeignKey("chain_heads.target"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("slots", sa.Integer, nullable=True),
    sa.Column("earliest_slot", sa.String(32), nullable=True),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
    sa.UniqueConstraint("target", "seq", name="uq_observations_target_seq"),
    # Covers per-target time ranges and the per-day outcome counts of reports; it also
    # serves every (target, started_at) query, so no separate index on that prefix.
    sa.Index("ix_observations_target_started_outcome", "target", "started_at", "outcome"),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.String(32), nullable=False),
)

# The columns that copy a value of the hashed document (all but seq, hash and doc).
DOC_COLUMNS = (
    "id",
    "target",
    "started_at",
    "finished_at",
    "outcome",
    "detail",
    "slots",
    "earliest_slot",
    "tags",
    "prev_hash",
)

# Built once: json.dumps with options builds a new encoder on every call (this runs per row).
_TAGS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# version -> upgrade from version - 1; run in order inside one transaction.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}


def column_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The indexed column values for a hashed document: one rule for writing and verifying.

    `tags` holds the list as compact JSON (a copy for SQL filters; the hash covers the doc).
    """
    values = {name: doc.get(name) for name in DOC_COLUMNS}
    values["tags"] = _TAGS_JSON(doc.get("tags", []))
    return values


def ensure_schema(conn: sa.Connection) -> None:
    """Create the tables on an empty database, upgrade an older one, refuse a newer one."""
    metadata.create_all(conn, checkfirst=True)
    current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    if current is None:
        _record_version(conn, SCHEMA_VERSION)
        return
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {current}, newer than this watchdog's "
            f"{SCHEMA_VERSION}: upgrade the watchdog"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](conn)
        _record_version(conn, version)


def _record_version(conn: sa.Connection, version: int) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    conn.execute(sa.insert(schema_version).values(version=version, applied_at=now))
