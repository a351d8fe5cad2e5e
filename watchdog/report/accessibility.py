"""The report's accessibility section and indicators (issue 18): each journey's last audit.

An audit is a finding on the pages as they were served when it ran (axe-core, watchdog/a11y),
reported by RGAA 4.1 criterion and severity; it is never a rate and never mixed with the
probes' figures. axe-core checks only part of the RGAA criteria automatically: the section
says so, and an audit without violations is not a declaration of conformity.

The section also gives each journey's time limits (seen on its pages or documented for its
platform, with whether they can be extended: RGAA 4.1 criterion 13.1) and each step page's
load time in the last run under each profile (standard, mobile, slow network): one run by our
robot on one day, never a statistic and never an applicant's experience.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watchdog.a11y.rgaa import criterion_sort_key, table
from watchdog.domain.models import (
    Audit,
    AuditProfile,
    Extendable,
    Impact,
    RunConditions,
    StepLoad,
    TimeLimit,
)
from watchdog.report.typo import NBSP, Typo
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
    time_limits: list[LimitRow] = field(default_factory=list)


@dataclass(frozen=True)
class LimitRow:
    """A time limit as the report states it, in the report's language."""

    kind: str
    seconds: float | None
    length: str  # the limit's length as known: published, or bracketed by an assisted session
    assisted: str | None  # how an assisted session showed it, when one did
    extendable: str
    fixed: bool  # seen, and the page gave the person no control over it
    seen: bool
    step: str | None
    shown_as: str | None  # the site's marker, verbatim, when seen
    past_availability: bool

    @classmethod
    def of(cls, limit: TimeLimit, lang: str) -> LimitRow:
        return cls(
            kind=limit_kind(limit, lang),
            seconds=limit.seconds,
            length=_length(limit, Typo(lang)),
            assisted=_assisted(limit, Typo(lang)),
            extendable=extendable(limit, lang),
            fixed=limit.seen and limit.extendable is Extendable.NO,
            seen=limit.seen,
            step=limit.step,
            shown_as=limit.shown_as if limit.seen else None,
            past_availability=limit.past_availability,
        )


@dataclass(frozen=True)
class LoadRun:
    """One audit run's load time per step page (the last of its profile in the period)."""

    target: str
    profile: AuditProfile
    at: datetime
    conditions: RunConditions | None
    loads: list[StepLoad]

    def label(self, lang: str) -> str:
        return PROFILE_LABELS[self.profile][1 if lang == "en" else 0]

    def conditions_text(self, lang: str) -> str:
        """What the run changed in the browser, from its record (nothing: the standard run)."""
        c = self.conditions
        if c is None:
            return "fenêtre configurée" if lang != "en" else "configured window"
        t = Typo(lang)
        width, height = c.viewport.split("x")
        if lang == "en":
            parts = [f"{width} × {height} window" + (", Chromium's mobile emulation" if c.mobile
                                                     else "")]  # fmt: skip
            if c.latency_ms is not None:
                parts.append(f"{t.num(c.latency_ms)} ms added latency, {t.num(c.download_kbps)}"
                             f" kbit/s down and {t.num(c.upload_kbps)} kbit/s up")  # fmt: skip
            if c.cpu_slowdown is not None:
                parts.append(f"CPU slowed {t.num(c.cpu_slowdown)} times")
            return "; ".join(parts)
        parts = [f"fenêtre de {width}{NBSP}×{NBSP}{height}" + (", émulation mobile de Chromium"
                                                             if c.mobile else "")]  # fmt: skip
        if c.latency_ms is not None:
            parts.append(f"latence ajoutée de {t.unit(c.latency_ms, 'ms', 'ms')}, débit de "
                         f"{t.unit(c.download_kbps, 'kbit/s', 'kbit/s')} en réception et de "
                         f"{t.unit(c.upload_kbps, 'kbit/s', 'kbit/s')} en émission")  # fmt: skip
        if c.cpu_slowdown is not None:
            parts.append(f"processeur ralenti {t.unit(c.cpu_slowdown, 'fois', 'fois')}")
        return f"{NBSP}; ".join(parts)


PROFILE_LABELS = {
    AuditProfile.STANDARD: ("ordinateur, réseau réel", "desktop, real network"),
    AuditProfile.MOBILE: ("mobile, réseau réel", "mobile, real network"),
    AuditProfile.SLOW_3G: ("mobile, réseau lent", "mobile, slow network"),
}
LIMIT_KINDS = {
    "session": ("fin de session", "end of session"),
    "confirmation": ("délai de confirmation", "confirmation deadline"),
    "refresh": ("rafraîchissement automatique de la page", "automatic page refresh"),
}
EXTENDABLE = {
    Extendable.YES: ("oui", "yes"),
    Extendable.NO: ("non", "no"),
    Extendable.UNKNOWN: ("inconnu", "unknown"),
}


def _span(seconds: float, t: Typo) -> str:
    """ "45 secondes", "10 minutes", "1 heure 5 minutes" (whole seconds under a minute)."""
    if seconds < 60:
        return (
            t.unit(round(seconds), "seconde", "secondes")
            if t.fr
            else t.unit(round(seconds), "second", "seconds")
        )
    return t.duration(timedelta(seconds=seconds))


def _length(limit: TimeLimit, t: Typo) -> str:
    if limit.ended_s is not None:
        ended = _span(limit.ended_s, t)
        if limit.lasted_s is None:
            return f"moins de {ended}" if t.fr else f"under {ended}"
        lasted = _span(limit.lasted_s, t)
        return f"entre {lasted} et {ended}" if t.fr else f"between {lasted} and {ended}"
    if limit.seconds is not None:
        return _span(limit.seconds, t)
    return "durée non publiée" if t.fr else "length not published"


def _assisted(limit: TimeLimit, t: Typo) -> str | None:
    """The sentence of an assisted session the site ended (see TimeLimit)."""
    if limit.ended_s is None or limit.ended_at is None:
        return None
    ended, when = _span(limit.ended_s, t), t.datetime(datetime.fromisoformat(limit.ended_at))
    if t.fr:
        still = (f"la session était encore ouverte {_span(limit.lasted_s, t)} après la réponse, "
                 if limit.lasted_s is not None else "")  # fmt: skip
        return (f"vue lors d'une session assistée (une personne a répondu au CAPTCHA){NBSP}: "
                f"{still}close {ended} après (lecture du {when})")  # fmt: skip
    still = (f"still open {_span(limit.lasted_s, t)} after the answer, "
             if limit.lasted_s is not None else "")  # fmt: skip
    return (f"seen in an assisted session (a person answered the CAPTCHA): {still}ended "
            f"{ended} after it (read of {when})")  # fmt: skip


def limit_kind(limit: TimeLimit, lang: str) -> str:
    labels = LIMIT_KINDS.get(limit.kind, (limit.kind, limit.kind))
    return labels[1 if lang == "en" else 0]


def extendable(limit: TimeLimit, lang: str) -> str:
    return EXTENDABLE[limit.extendable][1 if lang == "en" else 0]


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
                time_limits=[LimitRow.of(x, lang) for x in stats.audit.time_limits],
            )
        )
    return rows


def load_runs(series: dict[str, SeriesStats]) -> list[LoadRun]:
    """Each journey's last run of each profile in the period that measured its step pages,
    in the report's order and standard, mobile, slow network."""
    rows = []
    for target, stats in series.items():
        runs: list[tuple[AuditProfile, Audit, datetime]] = []
        if stats.audit is not None and stats.audited_at is not None:
            runs.append((AuditProfile.STANDARD, stats.audit, stats.audited_at))
        runs += [(p, r.audit, r.at) for p, r in sorted(stats.profile_runs.items())]
        for profile, audit, at in runs:
            if any(load.ms is not None for load in audit.loads):
                rows.append(LoadRun(target, profile, at, audit.conditions, list(audit.loads)))
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
    # RGAA 13.1: time limits of the last audit a page showed without any control, and those
    # (seen or documented) whose extension nobody knows.
    limits = audit.time_limits if audit is not None else []
    fixed = sum(1 for x in limits if x.seen and x.extendable is Extendable.NO)
    unknown = sum(1 for x in limits if x.extendable is Extendable.UNKNOWN)
    values["time_limits_fixed"] = float(fixed) if audit else None
    values["time_limits_unknown"] = float(unknown) if audit else None
    return values
