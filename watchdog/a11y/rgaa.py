"""The axe-core → RGAA 4.1 table (watchdog/data/a11y-rgaa.yaml, whose header states its source).

A rule maps to RGAA tests (`1.1.1`); a criterion is a test's first two numbers (`1.1`). A rule
the table does not map maps to no criterion: it is reported under its axe-core name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

TABLE = "a11y-rgaa.yaml"


@dataclass(frozen=True)
class Criterion:
    id: str
    fr: str
    en: str

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass(frozen=True)
class RgaaTable:
    axe_core: str  # the axe-core version whose tags the table copies
    rgaa: str
    tests: dict[str, tuple[str, ...]]  # axe-core rule -> RGAA tests
    criteria: dict[str, Criterion]
    sha256: str  # of the table file: recorded with every audit

    def criteria_of(self, rule: str) -> list[str]:
        """The RGAA criteria `rule` maps to, in order, without repeats ([] when none)."""
        found: list[str] = []
        for test in self.tests.get(rule, ()):
            criterion = criterion_of(test)
            if criterion not in found:
                found.append(criterion)
        return found


def criterion_of(test: str) -> str:
    return ".".join(test.split(".")[:2])


def parse(data: bytes) -> RgaaTable:
    raw = yaml.safe_load(data)
    tests = {str(rule): tuple(str(t) for t in found) for rule, found in raw["rules"].items()}
    criteria = {
        str(key): Criterion(str(key), str(value["fr"]), str(value["en"]))
        for key, value in raw["criteria"].items()
    }
    missing = {criterion_of(t) for found in tests.values() for t in found} - set(criteria)
    if missing:
        raise ValueError(f"{TABLE}: criteria without a label: {sorted(missing)}")
    return RgaaTable(
        axe_core=str(raw["axe_core"]),
        rgaa=str(raw["rgaa"]),
        tests=tests,
        criteria=criteria,
        sha256=hashlib.sha256(data).hexdigest(),
    )


@cache
def table() -> RgaaTable:
    return parse(resources.files("watchdog").joinpath("data", TABLE).read_bytes())


def criterion_sort_key(criterion: str) -> tuple[int, ...]:
    """`3.2` before `11.1`; anything else after every criterion."""
    try:
        return tuple(int(part) for part in criterion.split("."))
    except ValueError:
        return (1_000,)
