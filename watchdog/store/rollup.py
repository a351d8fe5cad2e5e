"""Counts kept at ingest (schema version 5): `observation_counts`, one row per target × UTC
hour × the values the report's statistics group by (watchdog/stats/queries.py).

A report over a year of 10 M observations once grouped every row three times (the per-hour
counts, the facts, the lead times) and read every document once (the assisted reads); it now
sums these counts, a few rows per target and hour, and reads rows only for the partial
hours at a period's edges. The counts must stay exactly what grouping the rows gives:

- `add` runs in the transaction of every append (watchdog/store/db.py), from the very
  column values written, and adds them with an UPSERT (SQLite and PostgreSQL alike);
- `delete` deletes rows (retention's prune) and counts again the hours they touched, in the
  same transaction;
- `upgrade` (version 4 → 5) fills `observations.captcha_solved_by` from the documents and
  counts the existing rows, target by target, logging its progress;
- `check` (`watchdog verify`) compares the counts with the rows they summarise, and names
  each count that disagrees: a report is evidence.

`grouped` is the one SQL rule for a key (the upgrade, `delete`, `check` and bench.bigstore
use it); `key` is the same rule in Python for the rows an append writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from watchdog.domain.models import Outcome
from watchdog.store.documents import decompress
from watchdog.store.schema import (
    MIGRATION_BATCH,
    V5_COPIES,
    _copies,
    chain_heads,
    doc_dicts,
    observation_counts,
    observations,
    pages_by_id,
)

log = logging.getLogger(__name__)

HOUR_LEN = 13  # "YYYY-MM-DDTHH" (watchdog.stats.calendar.HOUR_KEY_LEN)
AVAILABLE = Outcome.AVAILABLE.value
KEYS = tuple(c.name for c in observation_counts.primary_key.columns)
COLUMNS = tuple(column.name for column in observations.columns)
MAX_PROBLEMS = 50
_I = {name: COLUMNS.index(name) for name in COLUMNS}

Key = tuple[str, str, str, str, int, str, str, str, str, str, int]


def key(row: Sequence[Any]) -> Key:
    """The counts' key of an observation row (a tuple in `observations` column order)."""
    outcome, earliest = row[_I["outcome"]], row[_I["earliest_slot"]]
    lead = outcome == AVAILABLE and earliest is not None
    return (
        row[_I["target"]],
        row[_I["started_at"]][:HOUR_LEN],
        outcome,
        row[_I["detail"]],
        1 if row[_I["simulated"]] else 0,
        _text(row[_I["screenshots"]]),
        _text(row[_I["engine"]]),
        _text(row[_I["published_next"]]),
        _text(row[_I["captcha_solved_by"]]),
        earliest[:HOUR_LEN] if lead else "",
        1 if lead and (row[_I["slots"]] or 0) >= 2 else 0,
    )


def _text(value: str | None) -> str:
    return "" if value is None else value


def add(conn: sa.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Count `rows` (just inserted, in `observations` column order) into the counts."""
    counts: dict[Key, list[Any]] = {}
    for row in rows:
        at = row[_I["started_at"]]
        seen = counts.get(k := key(row))
        if seen is None:
            counts[k] = [1, at, at]
        else:
            seen[0] += 1
            seen[1], seen[2] = min(seen[1], at), max(seen[2], at)
    if counts:
        params = [
            {**dict(zip(KEYS, k, strict=True)), "n": n, "first": first, "last": last}
            for k, (n, first, last) in counts.items()
        ]
        conn.execute(_upsert(conn.dialect.name), params)


@cache
def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(observation_counts)
    table, new = observation_counts.c, stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(KEYS),
        set_={
            "n": table.n + new.n,
            "first": sa.case((new.first < table.first, new.first), else_=table.first),
            "last": sa.case((new.last > table.last, new.last), else_=table.last),
        },
    )


def _lit(value: str | int) -> sa.ColumnElement[Any]:
    """A constant written into the SQL, so that GROUP BY repeats the select's expressions
    word for word (PostgreSQL would see two bound parameters as two expressions)."""
    if isinstance(value, int):
        return sa.literal_column(str(value), sa.Integer)
    return sa.literal_column(f"'{value}'", sa.String)


def _key_columns() -> list[sa.ColumnElement[Any]]:
    o = observations.c
    lead = sa.and_(o.outcome == _lit(AVAILABLE), o.earliest_slot.is_not(None))
    blank = _lit("")
    return [
        o.target.label("target"),
        sa.func.substr(o.started_at, _lit(1), _lit(HOUR_LEN)).label("hour"),
        o.outcome.label("outcome"),
        o.detail.label("detail"),
        sa.case((o.simulated == sa.true(), _lit(1)), else_=_lit(0)).label("simulated"),
        sa.func.coalesce(o.screenshots, blank).label("screenshots"),
        sa.func.coalesce(o.engine, blank).label("engine"),
        sa.func.coalesce(o.published_next, blank).label("published_next"),
        sa.func.coalesce(o.captcha_solved_by, blank).label("solved_by"),
        sa.case(
            (lead, sa.func.substr(o.earliest_slot, _lit(1), _lit(HOUR_LEN))), else_=blank
        ).label("earliest"),
        sa.case((sa.and_(lead, o.slots >= _lit(2)), _lit(1)), else_=_lit(0)).label("several"),
    ]


def grouped(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The counts of the rows matching `where`, as `observation_counts` holds them."""
    keys = _key_columns()
    return (
        sa.select(
            *keys,
            sa.func.count().label("n"),
            sa.func.min(observations.c.started_at).label("first"),
            sa.func.max(observations.c.started_at).label("last"),
        )
        .where(*where)
        .group_by(*[k.element for k in keys])
    )


def fill(*where: sa.ColumnElement[bool]) -> sa.Insert:
    """INSERT the counts of the rows matching `where` (none of their hours counted yet)."""
    return sa.insert(observation_counts).from_select([*KEYS, "n", "first", "last"], grouped(*where))


def next_hour(hour: str) -> str:
    """The hour key after `hour`."""
    moment = datetime.strptime(hour, "%Y-%m-%dT%H") + timedelta(hours=1)
    return moment.strftime("%Y-%m-%dT%H")


def delete(conn: sa.Connection, target: str, where: sa.ColumnElement[bool]) -> int:
    """Delete the rows of `target` matching `where`, and count again the hours they were in
    (from the rows left there). Returns how many rows were deleted."""
    o, c = observations.c, observation_counts.c
    span = conn.execute(
        sa.select(sa.func.min(o.started_at), sa.func.max(o.started_at)).where(
            o.target == target, where
        )
    ).one()
    deleted = conn.execute(sa.delete(observations).where(o.target == target, where)).rowcount
    if span[0] is None:
        return int(deleted)
    first, last = span[0][:HOUR_LEN], span[1][:HOUR_LEN]
    conn.execute(
        sa.delete(observation_counts).where(c.target == target, c.hour.between(first, last))
    )
    conn.execute(fill(o.target == target, o.started_at >= first, o.started_at < next_hour(last)))
    return int(deleted)


def upgrade(conn: sa.Connection) -> None:
    """Version 4 → 5: fill `captcha_solved_by` from the documents, then count every row."""
    _copy_solved_by(conn)
    _count_all(conn, "schema upgrade to version 5")


def recount(conn: sa.Connection) -> None:
    """Count every row again, the counts held so far dropped (`watchdog verify --recount`,
    once the cause of a disagreement is known)."""
    conn.execute(sa.delete(observation_counts))
    _count_all(conn, "recount")


def _count_all(conn: sa.Connection, what: str) -> None:
    targets = [
        row[0]
        for row in conn.execute(
            sa.select(observations.c.target).distinct().order_by(observations.c.target)
        )
    ]
    total = len(targets)
    for done, target in enumerate(targets, 1):
        conn.execute(fill(observations.c.target == target))
        if done % 20 == 0 or done == total:
            log.info("%s: %d of %d chain(s) counted", what, done, total)


def _copy_solved_by(conn: sa.Connection) -> None:
    """`captcha_solved_by` from each document that names it: text documents are found with
    LIKE, compressed ones are decompressed one by one (the mark is searched in their text,
    and a document that holds it parsed)."""
    o = observations.c
    mark = '"captcha_solved_by"'
    found: list[dict[str, Any]] = []
    text = sa.select(o.id, o.doc).where(o.zdoc.is_(None), o.doc.like(f"%{mark}%"))
    for hit in conn.execute(text):
        found.append({"b_id": hit.id, "b_value": _solved_by(hit.doc)})
    total = conn.execute(sa.select(sa.func.count()).where(o.zdoc.is_not(None))).scalar() or 0
    if total:
        log.info("schema upgrade to version 5: reading %d compressed document(s)", total)
    dicts = {d.id: bytes(d.data) for d in conn.execute(sa.select(doc_dicts))}
    needle = mark.encode()
    update = (
        sa.update(observations)
        .where(o.id == sa.bindparam("b_id"))
        .values(captcha_solved_by=sa.bindparam("b_value"))
    )
    compressed = sa.select(o.id, o.zdoc, o.zdict).where(o.zdoc.is_not(None))
    progress = "schema upgrade to version 5: %d of %d document(s) read"
    for rows in pages_by_id(conn, compressed, total, progress, MIGRATION_BATCH, log):
        for row in rows:
            data = decompress(bytes(row.zdoc), dicts.get(row.zdict, b"") if row.zdict else b"")
            if needle in data:
                found.append({"b_id": row.id, "b_value": _solved_by(data.decode())})
        _write_solved_by(conn, update, found)  # a page's finds, not the store's, in memory
        found.clear()
    _write_solved_by(conn, update, found)  # the text documents' when none is compressed


def _write_solved_by(conn: sa.Connection, update: sa.Update, found: list[dict[str, Any]]) -> None:
    values = [f for f in found if f["b_value"] is not None]
    if values:
        conn.execute(update, values)


def _solved_by(text: str) -> str | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return _copies(doc, V5_COPIES)["captcha_solved_by"] if isinstance(doc, dict) else None


class Tally:
    """The counts of one chain's rows as a full verify reads them (in chain order, every
    column): `compare` then checks them against the stored counts of that target, with no
    second pass over the rows."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.counts: dict[Key, list[Any]] = {}

    def add(self, row: Sequence[Any]) -> None:
        at = row[_I["started_at"]]
        seen = self.counts.get(k := key(row))
        if seen is None:
            self.counts[k] = [1, at, at]
        else:
            seen[0] += 1
            seen[1], seen[2] = min(seen[1], at), max(seen[2], at)

    def compare(self, conn: sa.Connection) -> tuple[int, list[str]]:
        c = observation_counts.c
        stored = {
            tuple(r[:-3]): tuple(r[-3:])
            for r in conn.execute(sa.select(observation_counts).where(c.target == self.target))
        }
        rows = {k: tuple(v) for k, v in self.counts.items()}
        return len(stored), _differences(rows, stored)


def _differences(
    rows: dict[tuple[Any, ...], tuple[Any, ...]], stored: dict[tuple[Any, ...], tuple[Any, ...]]
) -> list[str]:
    problems = []
    for k in sorted(set(rows) | set(stored)):
        want, have = rows.get(k), stored.get(k)
        if want != have:
            problems.append(
                f"the counts of {k[0]} at hour {k[1]} ({_describe(k)}) say "
                f"{_span(have)}, the rows they summarise {_span(want)}"
            )
    return problems


def check(conn: sa.Connection, since: dict[str, int] | None = None) -> tuple[int, list[str]]:
    """Compare the counts with the rows they summarise: (how many counts were compared, a
    line per disagreement). With `since` ({target: seq}), only the hours from the first row
    after that seq (an incremental verify) of those targets."""
    o, c = observations.c, observation_counts.c
    if since is None:
        targets = sorted(
            {r[0] for r in conn.execute(sa.select(chain_heads.c.target))}
            | {r[0] for r in conn.execute(sa.select(c.target).distinct())}
        )
        scopes: list[tuple[str, str]] = [(t, "") for t in targets]
    else:
        scopes = []
        for target, seq in sorted(since.items()):
            first = conn.execute(
                sa.select(sa.func.min(o.started_at)).where(o.target == target, o.seq > seq)
            ).scalar()
            if first is not None:
                scopes.append((target, first[:HOUR_LEN]))
    compared, more = 0, 0
    problems: list[str] = []
    for target, hour in scopes:
        rows = {
            tuple(r[:-3]): tuple(r[-3:])
            for r in conn.execute(grouped(o.target == target, o.started_at >= hour))
        }
        counts = {
            tuple(r[:-3]): tuple(r[-3:])
            for r in conn.execute(
                sa.select(observation_counts).where(c.target == target, c.hour >= hour)
            )
        }
        compared += len(counts)
        for k in sorted(set(rows) | set(counts)):
            want, have = rows.get(k), counts.get(k)
            if want == have:
                continue
            if len(problems) < MAX_PROBLEMS:
                problems.append(
                    f"the counts of {k[0]} at hour {k[1]} ({_describe(k)}) say "
                    f"{_span(have)}, the rows they summarise {_span(want)}"
                )
            else:
                more += 1
    if more:
        problems.append(f"and {more} more count(s) that disagree with their rows")
    return compared, problems


def _describe(k: tuple[Any, ...]) -> str:
    named = dict(zip(KEYS, k, strict=True))
    parts = [f"{name} {named[name]!r}" for name in KEYS[2:] if named[name] not in ("", 0)]
    return ", ".join(parts)


def _span(value: tuple[Any, ...] | None) -> str:
    if value is None:
        return "none"
    n, first, last = value
    return f"{n} observation(s) from {first} to {last}"
