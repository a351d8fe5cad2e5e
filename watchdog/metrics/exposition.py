"""Metric families rendered straight to the Prometheus text format (0.0.4).

prometheus_client re-validates and re-escapes every label of every sample at each scrape:
2,000 targets (~66,000 series) took ~1.8 s per scrape on the event loop that also runs the
probes. Here each series renders its label set once, when it is created, and a scrape only
formats numbers (bench/exposition.py measures both). The output follows
prometheus_client's layout (sorted label names; histogram buckets, then count, then sum),
so the golden exposition reads the same. Single-threaded: the daemon's event loop owns it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


def escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(pairs: Sequence[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{escape_value(value)}"' for name, value in sorted(pairs))


@dataclass
class Series:
    """One labelled child: a value, or bucket counts for a histogram."""

    lines: tuple[str, ...]  # pre-rendered "name{labels} " prefixes, one per sample line
    value: float = 0.0
    buckets: list[int] = field(default_factory=list)
    count: int = 0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value

    def observe(self, value: float, bounds: Sequence[float]) -> None:
        self.buckets[bisect_left(bounds, value)] += 1  # le is inclusive
        self.count += 1
        self.value += value

    def samples(self) -> list[float]:
        if not self.buckets:
            return [self.value]
        cumulative, total = [], 0
        for n in self.buckets:
            total += n
            cumulative.append(float(total))
        return [*cumulative, float(self.count), self.value]


@dataclass
class Family:
    """A metric with fixed label names; `labels(...)` creates a series on first use."""

    name: str
    help: str
    kind: Kind
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    series: dict[tuple[str, ...], Series] = field(default_factory=dict)

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def labels(self, *values: str) -> Series:
        found = self.series.get(values)
        if found is None:
            found = self.series[values] = self._new(values)
        return found

    def remove(self, *values: str) -> None:
        self.series.pop(values, None)

    def _new(self, values: tuple[str, ...]) -> Series:
        pairs = list(zip(self.labelnames, values, strict=True))
        if self.kind != "histogram":
            labels = f"{{{label_text(pairs)}}}" if pairs else ""  # as prometheus_client: no {}
            return Series(lines=(f"{self.sample_name}{labels} ",))
        bounds = [*(number(b) for b in self.buckets), "+Inf"]
        plain = label_text(pairs)
        lines = [f"{self.name}_bucket{{{label_text([*pairs, ('le', b)])}}} " for b in bounds]
        lines += [f"{self.name}_count{{{plain}}} ", f"{self.name}_sum{{{plain}}} "]
        return Series(lines=tuple(lines), buckets=[0] * len(bounds))

    def observe(self, values: tuple[str, ...], amount: float) -> None:
        self.labels(*values).observe(amount, self.buckets)

    def render(self, out: list[str]) -> None:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {self.sample_name} {help_text}\n")
        out.append(f"# TYPE {self.sample_name} {self.kind}\n")
        if self.kind != "histogram":
            out.extend(f"{c.lines[0]}{number(c.value)}\n" for c in self.series.values())
            return
        for child in self.series.values():
            out.extend(map("{}{}\n".format, child.lines, map(number, child.samples())))


def number(value: float) -> str:
    """A sample value as Prometheus reads it (Python's repr is exact and round-trips)."""
    if value - value == 0:  # finite (inf - inf and nan - nan are nan)
        return repr(float(value))
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def render(families: Sequence[Family]) -> bytes:
    out: list[str] = []
    for family in families:
        family.render(out)
    return "".join(out).encode()
