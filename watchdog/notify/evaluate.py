"""What the store says about a target, read for the incident rules.

Streak kinds read the target's last observations (the store is the truth: nothing to rebuild
after a restart). Rate kinds read per-day outcome counts of whole Paris days, grouped in SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from watchdog.config.notifications import DailyRate, Streak
from watchdog.domain.incidents import IncidentKind, Reading, reading
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.stats.calendar import HOUR_KEY_LEN, local_hour, paris_midnight
from watchdog.store import Store
from watchdog.store.chain import format_instant
from watchdog.store.schema import observations as obs_table

MAX_EVIDENCE = 2


def recent(store: Store, target_id: str, limit: int) -> list[Observation]:
    """The target's last `limit` observations, newest first."""
    stmt = (
        sa.select(obs_table.c.doc, obs_table.c.hash)
        .where(obs_table.c.target == target_id)
        .order_by(obs_table.c.seq.desc())
        .limit(limit)
    )
    return [Observation.model_validate_json(row.doc) for row in store.scan(stmt)]


@dataclass(frozen=True)
class Runs:
    """The current run of BAD and of GOOD observations for one kind (newest first)."""

    bad: list[Observation]
    good: list[Observation]


def runs(kind: IncidentKind, newest_first: Sequence[Observation]) -> Runs:
    """Leading BAD or GOOD run; neutral observations are skipped, not breaking a run."""
    bad: list[Observation] = []
    good: list[Observation] = []
    for obs in newest_first:
        value = reading(kind, obs)
        if value is Reading.NEUTRAL:
            continue
        if value is Reading.BAD and not good:
            bad.append(obs)
        elif value is Reading.GOOD and not bad:
            good.append(obs)
        else:
            break
    return Runs(bad, good)


def target_facts(target: Target) -> dict[str, Any]:
    return {
        "id": target.id,
        "label": target.label,
        "prefecture": target.prefecture,
        "department": target.department,
        "site": target.site,
        "procedure": target.procedure.value,
        "platform": target.platform,
        "url": target.url,
    }


def observation_facts(obs: Observation) -> dict[str, Any]:
    return {
        "id": obs.id,
        "at": format_instant(obs.started_at),
        "outcome": obs.outcome.value,
        "detail": obs.detail,
        "message": obs.message,
        "http_status": obs.http_status,
        "final_url": obs.final_url,
    }


def evidence(observations: Sequence[Observation]) -> list[str]:
    """Framed captures of the newest and the oldest of `observations` (newest first)."""
    shas = [o.evidence.framed for o in observations if o.evidence.framed]
    picked = [shas[0], shas[-1]] if len(shas) > 1 else shas
    return list(dict.fromkeys(picked))[:MAX_EVIDENCE]


def streak_facts(target: Target, run: list[Observation], rule: Streak) -> dict[str, Any]:
    """Figures of a streak incident at opening: since when, how many, which answers."""
    causes = Counter(o.outcome.value for o in reversed(run))
    return {
        "target": target_facts(target),
        "since": format_instant(run[-1].started_at),
        "count": len(run),
        "outcomes": dict(causes.most_common()),
        "last": observation_facts(run[0]),
        # The site's words matter even when the newest answer had none (a timeout).
        "message": next((o.message for o in run if o.message), None),
        "evidence": evidence(run),
        "observations": [o.id for o in reversed(run)],
        "threshold": rule.model_dump(),
    }


def streak_resolution(run: list[Observation]) -> dict[str, Any]:
    return {
        "at": format_instant(run[-1].started_at),
        "count": len(run),
        "last": observation_facts(run[0]),
    }


# -- daily rates ---------------------------------------------------------------------------


def daily_counts(store: Store, target_id: str, first: date, last: date) -> dict[date, Counter[str]]:
    """Outcome counts per Paris day from `first` to `last` (both included)."""
    hour = sa.func.substr(obs_table.c.started_at, 1, HOUR_KEY_LEN).label("hour")
    stmt = (
        sa.select(hour, obs_table.c.outcome, sa.func.count().label("n"))
        .where(
            obs_table.c.target == target_id,
            obs_table.c.started_at >= format_instant(paris_midnight(first)),
            obs_table.c.started_at < format_instant(paris_midnight(last + timedelta(days=1))),
        )
        .group_by(hour, obs_table.c.outcome)
    )
    days: dict[date, Counter[str]] = {}
    for row in store.scan(stmt):
        days.setdefault(local_hour(row.hour).date(), Counter())[row.outcome] += row.n
    return days


def day_share(kind: IncidentKind, counts: Counter[str]) -> tuple[int, int]:
    """(k, n) of the kind's rate for one day: no_slot / (available + no_slot), or the
    user's failure rate (attempts − available) / attempts; docs/design.md §2 definitions."""
    available = counts[Outcome.AVAILABLE.value]
    if kind is IncidentKind.HIGH_NO_SLOT_RATE:
        no_slot = counts[Outcome.NO_SLOT.value]
        return no_slot, no_slot + available
    attempts = sum(n for o, n in counts.items() if _counts(o))
    return attempts - available, attempts


def _counts(value: str) -> bool:
    try:
        return Outcome(value).counts_in_rates
    except ValueError:
        return False


@dataclass(frozen=True)
class DayRate:
    day: date
    k: int
    n: int

    def above(self, rule: DailyRate) -> bool | None:
        """True/False when the day has enough attempts to say, else None."""
        if self.n < rule.min_attempts:
            return None
        return self.k / self.n >= rule.rate

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "k": self.k, "n": self.n}


def day_rates(
    kind: IncidentKind, counts: dict[date, Counter[str]], last: date, days: int
) -> list[DayRate]:
    """The kind's rate for each of the `days` whole days ending on `last` (oldest first)."""
    wanted = [last - timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [DayRate(d, *day_share(kind, counts.get(d, Counter()))) for d in wanted]


def causes(counts: dict[date, Counter[str]], wanted: Sequence[date]) -> dict[str, int]:
    """Failing outcomes over the days, most frequent first (slots and exclusions left out)."""
    total: Counter[str] = Counter()
    for d in wanted:
        for outcome, n in counts.get(d, Counter()).items():
            if outcome != Outcome.AVAILABLE.value and _counts(outcome):
                total[outcome] += n
    return dict(total.most_common())
