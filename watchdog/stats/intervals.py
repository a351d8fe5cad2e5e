"""Proportions with Wilson 95 % score intervals, their differences, and weighted quantiles.

The Wilson interval stays inside [0, 1] and behaves at 0 % and 100 % (where a normal
approximation collapses to a zero-width interval), which is where prefecture series live.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k successes out of n; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k={k} is not between 0 and n={n}")
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At k = 0 or k = n the bound is exactly 0 or 1; the formula leaves rounding noise.
    low = 0.0 if k == 0 else centre - half
    high = 1.0 if k == n else centre + half
    return low, high


@dataclass(frozen=True)
class Proportion:
    """k out of n, with its Wilson 95 % interval; n = 0 means "no data", not 0 %."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n)

    @property
    def low(self) -> float | None:
        bounds = self.interval
        return bounds[0] if bounds else None

    @property
    def high(self) -> float | None:
        bounds = self.interval
        return bounds[1] if bounds else None

    def __add__(self, other: Proportion) -> Proportion:
        return Proportion(self.k + other.k, self.n + other.n)


@dataclass(frozen=True)
class Difference:
    """p1 − p2 with Newcombe's hybrid score 95 % interval (method 10, built on Wilson)."""

    value: float
    low: float
    high: float


def difference(current: Proportion, previous: Proportion) -> Difference | None:
    """The change from `previous` to `current`; None when either has no data."""
    a, b = current.interval, previous.interval
    p1, p2 = current.value, previous.value
    if a is None or b is None or p1 is None or p2 is None:
        return None
    d = p1 - p2
    low = d - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    high = d + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    return Difference(d, max(-1.0, low), min(1.0, high))


def weighted_quantile(pairs: Iterable[tuple[float, int]], q: float) -> float | None:
    """Nearest-rank quantile of values given with their counts: the smallest value whose
    cumulative count reaches ⌈q·N⌉ (q = 0.5 of 1, 2, 3, 4 is 2). None when empty."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    ordered = sorted((value, count) for value, count in pairs if count > 0)
    total = sum(count for _, count in ordered)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for value, count in ordered:
        seen += count
        if seen >= rank:
            return value
    return ordered[-1][0]
