"""The canary checks of each vantage (issue 17), beside the observations, never among them.

A check says whether a vantage's network worked (watchdog/domain/vantage.py); it is not an
observation of any target, enters no chain and no rate. Kept `KEEP` days, for the runbook's
« was it our network? » and for a vantage to read another's last check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from watchdog.domain.vantage import CanaryCheck
from watchdog.store.chain import format_instant
from watchdog.store.connect import Writer

KEEP = timedelta(days=31)

metadata = sa.MetaData()

canary_checks = sa.Table(
    "canary_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("vantage", sa.String(40), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),  # canonical UTC text, as observations
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Index("ix_canary_checks_vantage_at", "vantage", "at"),
)


class Canaries:
    """Canary checks over the store's engine (the table is created on first use)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.writer = Writer(engine)
        with self.writer.transaction(schema_change=True) as conn:
            metadata.create_all(conn, checkfirst=True)

    def add(self, check: CanaryCheck) -> None:
        """Keep `check`; forget that vantage's checks older than KEEP."""
        with self.writer.transaction() as conn:
            conn.execute(
                sa.insert(canary_checks).values(
                    vantage=check.vantage, at=format_instant(check.at), ok=check.ok,
                    url=check.url, status=check.status, detail=check.detail,
                    duration_s=check.duration_s,
                )
            )  # fmt: skip
            conn.execute(
                sa.delete(canary_checks).where(
                    canary_checks.c.vantage == check.vantage,
                    canary_checks.c.at < format_instant(check.at - KEEP),
                )
            )

    def last(self) -> dict[str, CanaryCheck]:
        """Each vantage's last check."""
        newest = (
            sa.select(canary_checks.c.vantage, sa.func.max(canary_checks.c.at).label("at"))
            .group_by(canary_checks.c.vantage)
            .subquery()
        )
        stmt = sa.select(canary_checks).join(
            newest,
            sa.and_(canary_checks.c.vantage == newest.c.vantage, canary_checks.c.at == newest.c.at),
        )
        with self.engine.connect() as conn:
            return {row.vantage: _check(row) for row in conn.execute(stmt)}

    def history(self, vantage: str, since: datetime) -> list[CanaryCheck]:
        """`vantage`'s checks since `since`, oldest first."""
        stmt = (
            sa.select(canary_checks)
            .where(canary_checks.c.vantage == vantage, canary_checks.c.at >= format_instant(since))
            .order_by(canary_checks.c.at, canary_checks.c.id)
        )
        with self.engine.connect() as conn:
            return [_check(row) for row in conn.execute(stmt)]


def _check(row: sa.Row[object]) -> CanaryCheck:
    return CanaryCheck(
        vantage=str(row.vantage),
        at=datetime.fromisoformat(str(row.at)).astimezone(UTC),
        ok=bool(row.ok),
        url=str(row.url),
        duration_s=float(row.duration_s),
        status=int(row.status) if row.status is not None else None,
        detail=str(row.detail),
    )
