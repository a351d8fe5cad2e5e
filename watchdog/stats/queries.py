"""The SQL aggregations behind the statistics (SQLite and PostgreSQL alike).

Counts are grouped in the database, and the one per-attempt query (`attempts`, for runs) is
streamed from its index, so memory follows the length of the period and the number of
targets, never the number of observations. No query reads a document but `examples` and
`recent` (a bounded few) and `slot_readings` (only those of observations that offered
slots). Instants are canonical UTC text, so `substr(started_at, 1, 13)` is the UTC hour and
text comparison is time comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from watchdog.domain import rates
from watchdog.domain.models import Outcome, assist_chain, audit_chain, substitute_chain
from watchdog.stats.calendar import HOUR_KEY_LEN, Period
from watchdog.store.chain import format_instant
from watchdog.store.schema import DOCUMENT
from watchdog.store.schema import observation_counts as counts
from watchdog.store.schema import observations as obs

EXCLUDED = [o.value for o in rates.EXCLUDED]
AVAILABLE = Outcome.AVAILABLE.value
NO_SLOT = Outcome.NO_SLOT.value
PERSON = "person"  # env.captcha_solved_by of a read after a person answered the captcha
# The column copies of document values that `facts` groups by (schema.ENV_COPIES).
FACTS = ("simulated", "screenshots", "engine", "published_next")


def _const(value: str | int) -> sa.ColumnElement[Any]:
    """A constant written into the SQL (our own keys and lengths, never user input).

    SQLite sees `substr(x, ?, ?)` twice as two expressions (the select list and GROUP BY) and
    evaluates both for every row; with constants written in, it computes the key once.
    """
    if isinstance(value, int):
        return sa.literal_column(str(value), sa.Integer)
    if "'" in value:
        raise ValueError(f"not a constant for SQL: {value!r}")
    return sa.literal_column(f"'{value}'", sa.String)


def _hour(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.func.substr(column, _const(1), _const(HOUR_KEY_LEN))


def _where(targets: Sequence[str], period: Period) -> list[sa.ColumnElement[bool]]:
    return [
        obs.c.target.in_(list(targets)),
        obs.c.started_at >= format_instant(period.since),
        obs.c.started_at < format_instant(period.until),
    ]


def hourly(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, UTC hour, outcome, n, first, last): served by the (target, started_at,
    outcome) index alone, never the documents."""
    hour = _hour(obs.c.started_at).label("hour")
    return (
        sa.select(
            obs.c.target,
            hour,
            obs.c.outcome,
            sa.func.count().label("n"),
            sa.func.min(obs.c.started_at).label("first"),
            sa.func.max(obs.c.started_at).label("last"),
        )
        .where(*_where(targets, period))
        .group_by(obs.c.target, hour, obs.c.outcome)
    )


def window(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(n, first, last) of every observation of `targets` in the period, whatever its outcome:
    one range scan of the (target, started_at) index, no grouping."""
    columns: list[sa.ColumnElement[Any]] = [
        sa.func.count().label("n"),
        sa.func.min(obs.c.started_at).label("first"),
        sa.func.max(obs.c.started_at).label("last"),
    ]
    return sa.select(*columns).where(*_where(targets, period))


def facts(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, outcome, detail, simulated, screenshots, engine, published_next, n, first,
    last): what the report once parsed the documents for, grouped from their column copies
    (schema version 2), all in the (target, started_at, …) report index: no document read."""
    keys = [obs.c[name] for name in ("target", "outcome", "detail", *FACTS)]
    return (
        sa.select(
            *keys,
            sa.func.count().label("n"),
            sa.func.min(obs.c.started_at).label("first"),
            sa.func.max(obs.c.started_at).label("last"),
        )
        .where(*_where(targets, period))
        .group_by(*keys)
    )


def captcha_offers(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, doc) of the captcha observations that recorded what the captcha offered: the
    record is in the document only (canonical JSON writes `"captcha":{"…` when there is one)."""
    return sa.select(obs.c.target, *DOCUMENT).where(
        *_where(targets, period),
        obs.c.outcome == _const(Outcome.CAPTCHA.value),
        obs.c.doc.like('%"captcha":{"%'),
    )


def audits(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target's audit chain, doc) of the accessibility audits of `targets` in the period, in
    chain order (issue 18): they live in their own chains, which no other query reads."""
    chains = [audit_chain(t) for t in targets]
    return (
        sa.select(obs.c.target, *DOCUMENT)
        .where(*_where(chains, period))
        .order_by(obs.c.target, obs.c.seq)
    )


def assisted(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, n) of the reads made after a person answered the captcha: the column copy of
    `env.captcha_solved_by` (schema version 5), no document read."""
    return (
        sa.select(obs.c.target, sa.func.count())
        .where(*_where(targets, period), obs.c.captcha_solved_by == _const(PERSON))
        .group_by(obs.c.target)
    )


def assist_sessions(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(assist chain, doc) of the records of the assisted sessions of `targets` parked in the
    period (issue 16): their own chains, which no other query reads."""
    chains = [assist_chain(t) for t in targets]
    return sa.select(obs.c.target, *DOCUMENT).where(*_where(chains, period))


def substitute_checks(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(chain, doc) of the substitute channel checks of `targets` in the period, in chain
    order (issue 18): their own chains, which no other query reads."""
    chains = [substitute_chain(t) for t in targets]
    return (
        sa.select(obs.c.target, *DOCUMENT)
        .where(*_where(chains, period))
        .order_by(obs.c.target, obs.c.seq)
    )


def lead_times(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, UTC start hour, local earliest-slot hour, several, n) of attempts with a slot."""
    start = _hour(obs.c.started_at).label("start")
    earliest = _hour(obs.c.earliest_slot).label("earliest")
    several = sa.case((obs.c.slots >= 2, 1), else_=0).label("several")
    return (
        sa.select(obs.c.target, start, earliest, several, sa.func.count().label("n"))
        .where(
            *_where(targets, period),
            obs.c.outcome == AVAILABLE,
            obs.c.earliest_slot.is_not(None),
        )
        .group_by(obs.c.target, start, earliest, several)
    )


def attempts(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, started_at, outcome) of every attempt outside EXCLUDED, in time order per
    target: read from the (target, started_at, outcome) index in its own order, no sort.

    Runs without any slot are a property of the sequence, not a count: `compute` streams
    these narrow rows once instead of having the database number and regroup them.
    """
    return (
        sa.select(obs.c.target, obs.c.started_at, obs.c.outcome)
        .where(*_where(targets, period), obs.c.outcome.not_in(EXCLUDED))
        .order_by(obs.c.target, obs.c.started_at)
    )


def examples(
    target: str, period: Period, outcome: Outcome, *, latest: bool = True
) -> sa.Select[Any]:
    """The latest (or first) observation of `target` with `outcome` and a framed capture.

    Used by the weekly digest (watchdog/notify/digest.py). It scans documents until one
    matches: the report itself uses `recent`, whose cost is bounded.
    """
    order = obs.c.started_at.desc() if latest else obs.c.started_at.asc()
    return (
        sa.select(*DOCUMENT, obs.c.hash, obs.c.seq)
        .where(
            *_where([target], period),
            obs.c.outcome == outcome.value,
            obs.c.doc.like('%"framed":"%'),
        )
        .order_by(order)
        .limit(1)
    )


def recent(target: str, period: Period, outcome: Outcome, limit: int) -> sa.Select[Any]:
    """The latest `limit` observations of `target` with `outcome` (newest first): where to
    look for an example capture without scanning a whole period of documents."""
    return (
        sa.select(*DOCUMENT, obs.c.hash)
        .where(*_where([target], period), obs.c.outcome == outcome.value)
        .order_by(obs.c.started_at.desc())
        .limit(limit)
    )


def slot_readings(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, started_at, finished_at, outcome, published_next, doc) in time order: what the
    slot lifetimes read (watchdog/stats/slotlife.py). The document only of an observation that
    offered slots (its `slots_seen`); a no-slot page and an announcement need none."""
    offered = [
        sa.case((obs.c.slots > 0, part), else_=sa.null()).label(part.name) for part in DOCUMENT
    ]
    return (
        sa.select(
            obs.c.target,
            obs.c.started_at,
            obs.c.finished_at,
            obs.c.outcome,
            obs.c.published_next,
            *offered,
        )
        .where(
            *_where(targets, period),
            sa.or_(
                obs.c.outcome.in_([AVAILABLE, NO_SLOT]),
                obs.c.published_next.is_not(None),
            ),
        )
        .order_by(obs.c.target, obs.c.started_at)
    )


def latest(target: str, period: Period) -> sa.Select[Any]:
    """Seq of the latest observation of `target` in the period, from the time index."""
    return (
        sa.select(obs.c.seq)
        .where(*_where([target], period))
        .order_by(obs.c.started_at.desc())
        .limit(1)
    )


def chain_end(target: str, period: Period, from_seq: int = 0) -> sa.Select[Any]:
    """Seq and hash of the last observation of `target` in the period (the index anchor).

    With `from_seq`, the seq of `latest`, the (target, seq) index finds it among the few
    observations from there on, instead of sorting the whole period by seq.
    """
    return (
        sa.select(obs.c.seq, obs.c.hash, obs.c.id)
        .where(*_where([target], period), obs.c.seq >= from_seq)
        .order_by(obs.c.seq.desc())
        .limit(1)
    )


# -- the same figures from the counts kept at ingest (schema version 5, store/rollup.py) --
#
# A period is read as its whole UTC hours, from `observation_counts`, and its partial hours
# at either edge, from the rows with the queries above: `split` cuts it. Each query below
# gives the rows of its row-based namesake, in the same shape, so that `compute` folds the
# two alike.


def split(period: Period) -> tuple[tuple[str, str] | None, list[Period]]:
    """The whole UTC hours of `period` as [first, end) hour keys (None: not one), and the
    partial hours before and after them as periods read from the rows."""
    since, until = period.since.astimezone(UTC), period.until.astimezone(UTC)
    floor = since.replace(minute=0, second=0, microsecond=0)
    first = floor if floor == since else floor + timedelta(hours=1)
    end = until.replace(minute=0, second=0, microsecond=0)
    if first >= end:
        return None, [period]
    edges = []
    if since < first:
        edges.append(Period(since, first))
    if end < until:
        edges.append(Period(end, until))
    return (_hour_key(first), _hour_key(end)), edges


def _hour_key(moment: datetime) -> str:
    return format_instant(moment)[:HOUR_KEY_LEN]


def _in_hours(targets: Sequence[str], hours: tuple[str, str]) -> list[sa.ColumnElement[bool]]:
    return [counts.c.target.in_(list(targets)), counts.c.hour >= hours[0], counts.c.hour < hours[1]]


def _span_columns() -> list[sa.ColumnElement[Any]]:
    return [
        sa.func.sum(counts.c.n).label("n"),
        sa.func.min(counts.c.first).label("first"),
        sa.func.max(counts.c.last).label("last"),
    ]


def hourly_counts(targets: Sequence[str], hours: tuple[str, str]) -> sa.Select[Any]:
    """`hourly`'s rows over whole hours, from the counts (in their key's order: no sort)."""
    c = counts.c
    return (
        sa.select(c.target, c.hour, c.outcome, *_span_columns())
        .where(*_in_hours(targets, hours))
        .group_by(c.target, c.hour, c.outcome)
    )


def facts_counts(targets: Sequence[str], hours: tuple[str, str]) -> sa.Select[Any]:
    """`facts`'s rows over whole hours, from the counts ('' back to NULL)."""
    c = counts.c
    blank = _const("")
    keys = [c.target, c.outcome, c.detail, c.simulated, c.screenshots, c.engine, c.published_next]
    values = [
        *keys[:4],
        *(sa.func.nullif(k, blank).label(k.name) for k in keys[4:]),
    ]
    return sa.select(*values, *_span_columns()).where(*_in_hours(targets, hours)).group_by(*keys)


def lead_counts(targets: Sequence[str], hours: tuple[str, str]) -> sa.Select[Any]:
    """`lead_times`'s rows over whole hours, from the counts."""
    c = counts.c
    return (
        sa.select(c.target, c.hour, c.earliest, c.several, sa.func.sum(c.n).label("n"))
        .where(*_in_hours(targets, hours), c.earliest != _const(""))
        .group_by(c.target, c.hour, c.earliest, c.several)
    )


def assisted_counts(targets: Sequence[str], hours: tuple[str, str]) -> sa.Select[Any]:
    """`assisted`'s rows over whole hours, from the counts."""
    c = counts.c
    return (
        sa.select(c.target, sa.func.sum(c.n))
        .where(*_in_hours(targets, hours), c.solved_by == _const(PERSON))
        .group_by(c.target)
    )
