"""What the store says about a target, read for the incident rules.

Streak kinds read the target's last observations (the store is the truth: nothing to rebuild
after a restart; `watchdog.store.record.recent`). Rate kinds read per-day outcome counts of
whole Paris days, grouped in SQL (`watchdog.stats.compute.daily_counts`), and the rates of
watchdog/domain/rates.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from watchdog.config.notifications import DailyRate, Streak
from watchdog.domain import rates
from watchdog.domain.incidents import IncidentKind, Reading, reading
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.store.chain import format_instant

MAX_EVIDENCE = 2


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


def dissenting_vantages(kind: IncidentKind, newest_first: Sequence[Observation]) -> list[str]:
    """Vantages whose newest reading for `kind` is GOOD while another's is BAD (issue 17).

    Empty when the vantages that saw the target lately agree (or there is only one): a kind
    opens only then, so a site seen up from one network is not declared down from another.
    """
    newest: dict[str, Reading] = {}
    for obs in newest_first:
        value = reading(kind, obs)
        if value is not Reading.NEUTRAL:
            newest.setdefault(obs.vantage, value)
    if Reading.BAD not in newest.values():
        return []
    return sorted(v for v, value in newest.items() if value is Reading.GOOD)


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


def day_share(kind: IncidentKind, counts: Counter[str]) -> tuple[int, int]:
    """(k, n) of the kind's rate for one day (watchdog/domain/rates.py): the no-slot rate, or
    the user's failure rate."""
    if kind is IncidentKind.HIGH_NO_SLOT_RATE:
        return rates.no_slot_rate(counts)
    return rates.failure_rate(counts)


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
            if outcome != Outcome.AVAILABLE and outcome in rates.COUNTED:
                total[outcome] += n
    return dict(total.most_common())
