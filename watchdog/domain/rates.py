"""The rates of docs/design.md §2, defined once: which outcomes count, and how.

Every figure that states a rate reads it here: the report's statistics (watchdog/stats),
the daily-rate incident rules (watchdog/notify), the open-data aggregates, `watchdog demo`.
The Prometheus recording rules restate it in PromQL; tests/test_rates.py holds them to it.

- `COUNTED`: the outcomes that count in rates, every one but `EXCLUDED`.
- `EXCLUDED`: our own faults (`probe_error`) and pages no rule knows (`unrecognized`): they
  say nothing of the site, so they enter no numerator and no denominator, ever.
- no-slot rate = no_slot / (available + no_slot): how often the calendar, once shown, was
  empty (barriers left out).
- failure rate = (attempts − available) / attempts, attempts being the `COUNTED` outcomes:
  the user's view, every barrier a failure.

`NO_SLOT_RATE` and `FAILURE_RATE` name the outcomes of each side, so a rule written in
another language (PromQL) can be checked against them. A rate is a `Share` (k, n); its value
is k / n, none when n is 0. Counts are read by outcome from any mapping whose keys are
outcomes or their string values (a `Counter[Outcome]` or a `Counter[str]` of stored values
alike: an `Outcome` is its string); a value this version does not know (a newer watchdog's)
counts in no rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from watchdog.domain.models import Outcome

EXCLUDED = tuple(o for o in Outcome if not o.counts_in_rates)  # in the order of `Outcome`
COUNTED = tuple(o for o in Outcome if o.counts_in_rates)


class Counts(Protocol):
    """Observations per outcome: `counts[outcome]` is 0 for an outcome never seen."""

    def __getitem__(self, outcome: Outcome, /) -> int: ...


class Share(NamedTuple):
    """k of n; `value` is k / n, or None when there is nothing to divide by."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None


def attempts(counts: Counts) -> int:
    """The attempts that count in rates: every `COUNTED` outcome."""
    return sum(counts[o] for o in COUNTED)


def excluded(counts: Counts) -> int:
    """The observations no rate counts (`EXCLUDED` outcomes)."""
    return sum(counts[o] for o in EXCLUDED)


@dataclass(frozen=True)
class Rate:
    """A rate: the observations whose outcome is in `numerator` over those in `denominator`."""

    name: str
    numerator: tuple[Outcome, ...]
    denominator: tuple[Outcome, ...]

    def of(self, counts: Counts) -> Share:
        return Share(
            sum(counts[o] for o in self.numerator), sum(counts[o] for o in self.denominator)
        )


NO_SLOT_RATE = Rate("no_slot_rate", (Outcome.NO_SLOT,), (Outcome.AVAILABLE, Outcome.NO_SLOT))
FAILURE_RATE = Rate(
    "failure_rate", tuple(o for o in COUNTED if o is not Outcome.AVAILABLE), COUNTED
)
RATES = (NO_SLOT_RATE, FAILURE_RATE)


def no_slot_rate(counts: Counts) -> Share:
    """no_slot / (available + no_slot)."""
    return NO_SLOT_RATE.of(counts)


def failure_rate(counts: Counts) -> Share:
    """(attempts − available) / attempts: the user's view."""
    return FAILURE_RATE.of(counts)


def share(counts: Counts, *outcomes: Outcome) -> Share:
    """The attempts whose outcome is one of `outcomes`, over all attempts."""
    return Share(sum(counts[o] for o in outcomes), attempts(counts))
