"""The report's accessibility section and indicators (issue 18): each journey's last audit.

An audit is a finding on the pages as they were served when it ran (axe-core, watchdog/a11y),
reported by RGAA 4.1 criterion and severity; it is never a rate and never mixed with the
probes' figures. axe-core checks only part of the RGAA criteria automatically: the section
says so, and an audit without violations is not a declaration of conformity.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from watchdog.a11y.rgaa import criterion_sort_key, table
from watchdog.domain.models import Audit, Impact
from watchdog.stats.series import SeriesStats

NO_CRITERION = "-"  # a rule the table maps to no RGAA criterion
IMPACT_ORDER = (Impact.CRITICAL, Impact.SERIOUS, Impact.MODERATE, Impact.MINOR)
IMPACT_FR = {Impact.CRITICAL: "critique", Impact.SERIOUS: "sérieux", Impact.MODERATE: "modéré",
             Impact.MINOR: "mineur"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """Violations of one criterion at one severity: each is one rule broken on one page."""

    criterion: str  # NO_CRITERION for rules mapped to none
    label: str
    impact: Impact | None
    violations: int
    elements: int
    steps: tuple[str, ...]
    rules: tuple[str, ...]

    def impact_label(self, lang: str) -> str:
        if self.impact is None:
            return "—"
        return self.impact.value if lang == "en" else IMPACT_FR[self.impact]


@dataclass(frozen=True)
class Audited:
    target: str
    at: datetime
    observation_id: str
    engine: str
    pages: int
    unaudited: int  # pages axe-core could not run on: unknown
    findings: list[Finding]


def violations_by_criterion(audit: Audit) -> Counter[str]:
    """Violations (a rule broken on a page) per RGAA criterion; NO_CRITERION for the rest."""
    counts: Counter[str] = Counter()
    for page in audit.pages:
        for v in page.violations:
            for criterion in v.criteria or [NO_CRITERION]:
                counts[criterion] += 1
    return counts


def findings(audit: Audit, lang: str) -> list[Finding]:
    groups: dict[tuple[str, Impact | None], list[tuple[str, str, int]]] = {}
    for page in audit.pages:
        for v in page.violations:
            for criterion in v.criteria or [NO_CRITERION]:
                groups.setdefault((criterion, v.impact), []).append(
                    (page.step, v.rule, len(v.elements))
                )
    rgaa = table()
    found = []
    for (criterion, impact), items in groups.items():
        known = rgaa.criteria.get(criterion)
        label = known.label(lang) if known else ("no RGAA criterion" if lang == "en" else
                                                 "sans critère RGAA")  # fmt: skip
        found.append(
            Finding(
                criterion=criterion,
                label=label,
                impact=impact,
                violations=len(items),
                elements=sum(n for _, _, n in items),
                steps=tuple(dict.fromkeys(step for step, _, _ in items)),
                rules=tuple(sorted({rule for _, rule, _ in items})),
            )
        )
    rank: dict[Impact | None, int] = {impact: i for i, impact in enumerate(IMPACT_ORDER)}
    return sorted(
        found, key=lambda f: (criterion_sort_key(f.criterion), rank.get(f.impact, len(rank)))
    )


def audited(series: dict[str, SeriesStats], lang: str) -> list[Audited]:
    """The targets audited in the period, in the report's order, with their last audit."""
    rows = []
    for target, stats in series.items():
        if stats.audit is None or stats.audited_at is None or stats.audit_id is None:
            continue
        pages = stats.audit.pages
        rows.append(
            Audited(
                target=target,
                at=stats.audited_at,
                observation_id=stats.audit_id,
                engine=stats.audit.engine,
                pages=len(pages),
                unaudited=sum(1 for p in pages if p.error is not None),
                findings=findings(stats.audit, lang),
            )
        )
    return rows


def indicators(stats: SeriesStats) -> dict[str, float | None]:
    """`rgaa_<criterion>` (e.g. `rgaa_11_1`): violations of that criterion in the last audit
    of the period, 0 when it found none, None when no audit ran; `a11y_violations`: all."""
    audit = stats.audit
    counts = violations_by_criterion(audit) if audit is not None else Counter()
    values: dict[str, float | None] = {
        f"rgaa_{criterion.replace('.', '_')}": float(counts[criterion]) if audit else None
        for criterion in table().criteria
    }
    values["a11y_violations"] = float(sum(counts.values())) if audit else None
    return values
