"""The periods retention pruned, as a report or a dossier states them (issue 19).

`watchdog retention apply` replaces the oldest observations of a chain by a signed summary
(watchdog/store/pruned.py). A document whose period meets such a stretch says so in its body:
which series, from when to when, how many observations by outcome the summary records, the
retention class that pruned them, and whether the summary verified when the document was
made (signature under the data directory's key, link to the summary before it). Its rates,
counts and charts are computed on the observations kept only: the templates say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from watchdog.domain.models import Outcome
from watchdog.domain.target import Target
from watchdog.report import labels
from watchdog.stats.calendar import Period
from watchdog.store import retention
from watchdog.store.db import Store


@dataclass(frozen=True)
class PrunedPeriod:
    """One pruned stretch of one series that meets the document's period."""

    name: str  # the series, as the document names it
    target: str  # its identifier
    first: datetime  # the first and last pruned observations started then
    last: datetime
    pruned_on: datetime
    observations: int
    outcomes: tuple[tuple[str, int], ...]  # (words, count), most frequent first
    retention: str  # the class that pruned it, e.g. « rolling 400d »
    beyond: bool  # the stretch starts before or ends after the document's period
    verified: bool  # the summary's digest, signature and link to what came before hold
    signature_checked: bool  # the data directory's key could be read


def pruned_periods(
    store: Store, targets: Sequence[Target], names: dict[str, str], period: Period, lang: str
) -> list[PrunedPeriod]:
    """The pruned periods of `targets` that meet `period`, checked now, in target order."""
    by_id = {t.id: t for t in targets}
    found = []
    for checked in retention.checked_in(store, list(by_id), period.since, period.until):
        s = checked.summary
        first, last, pruned_on = s.instants()
        found.append(
            PrunedPeriod(
                name=names.get(s.target, s.target),
                target=s.target,
                first=first,
                last=last,
                pruned_on=pruned_on,
                observations=s.observations,
                outcomes=_outcomes(s.outcomes, by_id[s.target], lang),
                retention=s.retention,
                beyond=first < period.since or last >= period.until,
                verified=checked.problem is None,
                signature_checked=checked.signature_checked,
            )
        )
    return found


def _outcomes(counts: dict[str, int], target: Target, lang: str) -> tuple[tuple[str, int], ...]:
    worded: dict[str, int] = {}
    for value, n in counts.items():
        try:
            words = labels.outcome(lang, Outcome(value), on=target.platform)
        except ValueError:
            words = value  # an outcome this version does not know: named as stored
        worded[words] = worded.get(words, 0) + n
    return tuple(sorted(worded.items(), key=lambda item: (-item[1], item[0])))
