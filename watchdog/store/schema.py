"""Tables of the observation store (SQLAlchemy Core), identical on SQLite and PostgreSQL.

`observations.doc` is the exact canonical JSON that was hashed; the other columns are copies
of some of its values, kept for indexes and SQL. `watchdog verify` checks every copy against
the document, so a column edited alone is detected.

Datetime columns hold the canonical text of `watchdog.store.chain` (UTC, fixed width, `Z`), so text
order is time order on both backends and a column compares byte for byte with the document.

Schema version 2 copies what the report's statistics read from `env` (`simulated`,
`screenshots`, `engine`) and `published_next`, so that no report parses a document; a v1
store is upgraded on open (`MIGRATIONS`), its copies filled from its documents by the same
rule (`column_values`) in the transaction that adds them.

Schema version 3 adds `pruned_segments`: one signed summary per pruned stretch of a chain
(watchdog/store/retention.py). The table is created on open like every other; the version is
raised so that an older watchdog, which would read a pruned chain as a cut one, refuses the
store instead.

Schema version 4 stores a document compressed against a per-target dictionary
(watchdog/store/documents.py): `doc` is then '' and `zdoc` holds the compressed canonical
JSON, `zdict` the `doc_dicts.id` of the dictionary, kept once with its SHA-256. Rows written
before keep their text in `doc` (`zdoc` NULL); the upgrade only adds the two columns and the
table. Readers never read `doc` alone: they select DOCUMENT (the three columns) and
`Store.scan` gives the text back under the name `doc`.

Schema version 5 copies `env.captcha_solved_by` into a column (no query reads a document with
LIKE for it) and keeps `observation_counts` (watchdog/store/rollup.py): the observations
counted per target × UTC hour × the values the report groups by, written in the transaction
of every append and of every prune, so that a report reads counts instead of every row. The
upgrade fills the column from the documents and the counts from the rows, with progress.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from watchdog.domain.errors import StoreError
from watchdog.store.references import parse_document

SCHEMA_VERSION = 5

log = logging.getLogger(__name__)

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
    # Version 2 (after doc: ALTER TABLE adds them there on an upgraded store too). NULL where
    # the document has no such value (older documents) or one of another type.
    sa.Column("simulated", sa.Boolean, nullable=True),
    sa.Column("screenshots", sa.String(32), nullable=True),
    sa.Column("engine", sa.String(32), nullable=True),
    sa.Column("published_next", sa.String(32), nullable=True),
    # Version 4 (watchdog/store/documents.py): the compressed document and its dictionary.
    sa.Column("zdoc", sa.LargeBinary, nullable=True),
    sa.Column("zdict", sa.Integer, nullable=True),
    # Version 5: env.captcha_solved_by (who answered the captcha before this read).
    sa.Column("captcha_solved_by", sa.String(32), nullable=True),
    sa.UniqueConstraint("target", "seq", name="uq_observations_target_seq"),
)

# Every column the report's statistics read, in (target, started_at) order: the per-hour
# counts, the runs and the per-detail facts are all read from it alone, never the table.
# It also serves every (target, started_at) query, so no separate index on that prefix.
REPORT_INDEX = sa.Index(
    "ix_observations_target_started_report",
    observations.c.target,
    observations.c.started_at,
    observations.c.outcome,
    observations.c.detail,
    observations.c.simulated,
    observations.c.screenshots,
    observations.c.engine,
    observations.c.published_next,
)
V1_INDEX = "ix_observations_target_started_outcome"  # (target, started_at, outcome)

# A pruned stretch seq first_seq..last_seq of one chain: `doc` is the canonical JSON of its
# summary (watchdog/store/retention.py), `signature` its HMAC under the checkpoint key.
pruned_segments = sa.Table(
    "pruned_segments",
    metadata,
    sa.Column("target", sa.String, primary_key=True),
    sa.Column("first_seq", sa.Integer, primary_key=True),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(64), nullable=False),
)

# Compression dictionaries (version 4): `data` primes the DEFLATE of the documents whose
# `zdict` names `id`; `sha256` is its SHA-256, which `watchdog verify` checks.
doc_dicts = sa.Table(
    "doc_dicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String, nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# Version 5 (watchdog/store/rollup.py): how many observations of `target` started in the UTC
# `hour` ("YYYY-MM-DDTHH") with these values, and the first and last of them. The key holds no
# NULL (a primary key cannot): '' stands for a missing text, `simulated` is 1 or 0, and
# `earliest` (the hour of earliest_slot) and `several` (slots >= 2) are set for an `available`
# observation with an earliest slot only ('' and 0 otherwise): what the lead times count.
observation_counts = sa.Table(
    "observation_counts",
    metadata,
    sa.Column("target", sa.String, primary_key=True),
    sa.Column("hour", sa.String(16), primary_key=True),
    sa.Column("outcome", sa.String(32), primary_key=True),
    sa.Column("detail", sa.Text, primary_key=True),
    sa.Column("simulated", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("screenshots", sa.String(32), primary_key=True),
    sa.Column("engine", sa.String(32), primary_key=True),
    sa.Column("published_next", sa.String(32), primary_key=True),
    sa.Column("solved_by", sa.String(32), primary_key=True),
    sa.Column("earliest", sa.String(16), primary_key=True),
    sa.Column("several", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("first", sa.String(32), nullable=False),
    sa.Column("last", sa.String(32), nullable=False),
)

# What a reader selects for an observation's document; `Store.scan` turns them into `doc`.
DOCUMENT = (observations.c.doc, observations.c.zdoc, observations.c.zdict)
DOCUMENT_PARTS = ("zdoc", "zdict")

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
    "simulated",
    "screenshots",
    "engine",
    "published_next",
    "captcha_solved_by",
)
# Version 2's copies: (column, path in the document, the type a value must have).
V2_COPIES: tuple[tuple[str, tuple[str, ...], type], ...] = (
    ("simulated", ("env", "simulated"), bool),
    ("screenshots", ("env", "screenshots"), str),
    ("engine", ("env", "engine"), str),
    ("published_next", ("published_next",), str),
)
# Version 5's copy (the report's assisted reads).
V5_COPIES: tuple[tuple[str, tuple[str, ...], type], ...] = (
    ("captcha_solved_by", ("env", "captcha_solved_by"), str),
)
ENV_COPIES = V2_COPIES + V5_COPIES
MIGRATION_BATCH = 5000
MIGRATION_LOG_EVERY = 100_000

# Built once: json.dumps with options builds a new encoder on every call (this runs per row).
_TAGS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def column_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The indexed column values for a hashed document: one rule for writing and verifying.

    `tags` holds the list as compact JSON (a copy for SQL filters; the hash covers the doc).
    """
    values = {name: doc.get(name) for name in DOC_COLUMNS}
    values["tags"] = _TAGS_JSON(doc.get("tags", []))
    values.update(_copies(doc))
    return values


def _copies(
    doc: dict[str, Any], copies: tuple[tuple[str, tuple[str, ...], type], ...] = ENV_COPIES
) -> dict[str, Any]:
    """The ENV_COPIES of `doc`: None where a value is missing or not of its column's type
    (a document written by the model always has the type; a damaged one fails its hash)."""
    values: dict[str, Any] = {}
    for name, path, kind in copies:
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values[name] = value if isinstance(value, kind) else None
    return values


def _upgrade_to_2(conn: sa.Connection) -> None:
    """Add the V2_COPIES columns, fill them from the documents, swap in REPORT_INDEX."""
    preparer = conn.dialect.identifier_preparer
    for name, _path, _kind in V2_COPIES:
        column = observations.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE observations ADD COLUMN {preparer.quote(name)} {kind}")
    _backfill(conn)
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {V1_INDEX}")
    REPORT_INDEX.create(conn)


def _backfill(conn: sa.Connection) -> None:
    """Fill the version 2 copies batch by batch in id order, logging progress."""
    total = conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar() or 0
    if total:
        log.info("schema upgrade to version 2: filling %d observation(s)", total)
    select = sa.select(observations.c.id, observations.c.doc)
    update = (
        sa.update(observations)
        .where(observations.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name, _path, _kind in V2_COPIES})
    )
    progress = "schema upgrade to version 2: %d of %d observation(s) filled"
    for rows in pages_by_id(conn, select, total, progress):
        params = [
            {
                "b_id": row.id,
                **{f"b_{k}": v for k, v in _copies(_document(row.doc), V2_COPIES).items()},
            }
            for row in rows
        ]
        conn.execute(update, params)


def pages_by_id(
    conn: sa.Connection,
    select: sa.Select[Any],
    total: int,
    progress: str,
    batch: int | None = None,
    logger: logging.Logger = log,
) -> Iterator[Sequence[sa.Row[Any]]]:
    """The rows of `select` (of `observations`) a page of `batch` at a time, in id order
    (keyset: a store's rows do not fit in memory, and a driver may buffer a whole result,
    streamed or not), logging `progress` (% done, % total) to `logger` every
    MIGRATION_LOG_EVERY rows and at the end. `batch`: MIGRATION_BATCH when the call is made.
    An upgrade's loop: each page is handled before the next is read."""
    page = select.where(observations.c.id > sa.bindparam("after"))
    page = page.order_by(observations.c.id).limit(batch or MIGRATION_BATCH)
    done, after = 0, ""
    while rows := conn.execute(page, {"after": after}).all():
        yield rows
        after = rows[-1].id
        previous, done = done, done + len(rows)
        if done // MIGRATION_LOG_EVERY > previous // MIGRATION_LOG_EVERY or done == total:
            logger.info(progress, done, total)


def _document(text: str) -> dict[str, Any]:
    """A stored document, or {} when it is not a JSON object (verify names that one)."""
    return parse_document(text) or {}


# version -> upgrade from version - 1; run in order inside one transaction.
def _upgrade_to_3(_conn: sa.Connection) -> None:
    """Nothing to change: `create_all` has just made `pruned_segments`."""


def _upgrade_to_4(conn: sa.Connection) -> None:
    """Add the compressed-document columns (`create_all` has just made `doc_dicts`). Rows
    stored so far keep their text in `doc`; new ones are compressed."""
    preparer = conn.dialect.identifier_preparer
    for name in DOCUMENT_PARTS:
        kind = observations.c[name].type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE observations ADD COLUMN {preparer.quote(name)} {kind}")


def _upgrade_to_5(conn: sa.Connection) -> None:
    """Add `captcha_solved_by`, fill it from the documents, count the rows into
    `observation_counts` (`create_all` has just made it): watchdog/store/rollup.py."""
    from watchdog.store import rollup  # it reads this module's tables

    preparer = conn.dialect.identifier_preparer
    for name, _path, _kind in V5_COPIES:
        kind = observations.c[name].type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE observations ADD COLUMN {preparer.quote(name)} {kind}")
    rollup.upgrade(conn)


MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    2: _upgrade_to_2,
    3: _upgrade_to_3,
    4: _upgrade_to_4,
    5: _upgrade_to_5,
}


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
