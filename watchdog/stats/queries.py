"""The SQL aggregations behind the statistics (SQLite and PostgreSQL alike).

Every query groups in the database, so memory follows the length of the period and the
number of targets, never the number of observations. Instants are canonical UTC text, so
`substr(started_at, 1, 13)` is the UTC hour and text comparison is time comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from watchdog.chain import format_instant
from watchdog.models import Outcome
from watchdog.stats.calendar import HOUR_KEY_LEN, Period
from watchdog.store.schema import observations as obs

EXCLUDED = [o.value for o in Outcome if not o.counts_in_rates]
AVAILABLE = Outcome.AVAILABLE.value
# RFC 8785 JSON is compact and a quote inside a JSON string is escaped (\"), so this text
# only matches the real `env.simulated` key set to true, never a scraped message.
SIMULATED_MARK = '%"simulated":true%'
ANNOUNCED_MARK = '%"published_next":"%'


def _hour(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.func.substr(column, 1, HOUR_KEY_LEN)


def _where(targets: Sequence[str], period: Period) -> list[sa.ColumnElement[bool]]:
    return [
        obs.c.target.in_(list(targets)),
        obs.c.started_at >= format_instant(period.since),
        obs.c.started_at < format_instant(period.until),
    ]


def hourly(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """(target, UTC hour, outcome, n): served by the (target, started_at, outcome) index."""
    hour = _hour(obs.c.started_at).label("hour")
    return (
        sa.select(obs.c.target, hour, obs.c.outcome, sa.func.count().label("n"))
        .where(*_where(targets, period))
        .group_by(obs.c.target, hour, obs.c.outcome)
    )


def details(targets: Sequence[str], period: Period, dialect: str) -> sa.Select[Any]:
    """(target, outcome, detail, announced, n, simulated) in one pass over the documents:
    detail codes, simulated-data counts and the publication instants sites announced."""
    simulated = sa.func.sum(sa.case((obs.c.doc.like(SIMULATED_MARK), 1), else_=0))
    # The cheap LIKE first: JSON is parsed only where a publication instant is present.
    announced = sa.case(
        (obs.c.doc.like(ANNOUNCED_MARK), _json_text(obs.c.doc, "published_next", dialect))
    ).label("announced")
    return (
        sa.select(
            obs.c.target,
            obs.c.outcome,
            obs.c.detail,
            announced,
            sa.func.count().label("n"),
            simulated.label("simulated"),
        )
        .where(*_where(targets, period))
        .group_by(obs.c.target, obs.c.outcome, obs.c.detail, announced)
    )


def _json_text(doc: sa.ColumnElement[Any], key: str, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.jsonb_extract_path_text(sa.cast(doc, postgresql.JSONB), key)
    return sa.func.json_extract(doc, f"$.{key}")


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


def runs(targets: Sequence[str], period: Period) -> sa.Select[Any]:
    """One row per stretch that starts at an attempt with a slot (or the period's start).

    `grp` counts the attempts with a slot so far, so every attempt after a slot shares its
    group until the next slot: each group's failures are a run of attempts without any slot.
    Rows come in (target, grp) order and number one per attempt with a slot, plus one.
    """
    is_slot = sa.case((obs.c.outcome == AVAILABLE, 1), else_=0)
    counted = (
        sa.select(
            obs.c.target,
            obs.c.started_at,
            obs.c.outcome,
            sa.func.sum(is_slot)
            .over(
                partition_by=obs.c.target,
                # started_at alone: the (target, started_at, outcome) index then serves
                # the window without a sort (two starts of one target never coincide).
                order_by=obs.c.started_at,
                rows=(None, 0),
            )
            .label("grp"),
        )
        .where(*_where(targets, period), obs.c.outcome.not_in(EXCLUDED))
        .subquery("counted")
    )
    failed = counted.c.outcome != AVAILABLE
    return (
        sa.select(
            counted.c.target,
            counted.c.grp,
            sa.func.min(sa.case((~failed, counted.c.started_at))).label("slot_at"),
            sa.func.min(sa.case((failed, counted.c.started_at))).label("first_fail"),
            sa.func.max(sa.case((failed, counted.c.started_at))).label("last_fail"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("fails"),
        )
        .group_by(counted.c.target, counted.c.grp)
        .order_by(counted.c.target, counted.c.grp)
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
        sa.select(obs.c.doc, obs.c.hash, obs.c.seq)
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
        sa.select(obs.c.doc, obs.c.hash)
        .where(*_where([target], period), obs.c.outcome == outcome.value)
        .order_by(obs.c.started_at.desc())
        .limit(limit)
    )


def chain_end(target: str, period: Period) -> sa.Select[Any]:
    """Seq and hash of the last observation of `target` in the period (the index anchor)."""
    return (
        sa.select(obs.c.seq, obs.c.hash, obs.c.id)
        .where(*_where([target], period))
        .order_by(obs.c.seq.desc())
        .limit(1)
    )
