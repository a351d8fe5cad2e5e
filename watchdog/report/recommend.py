"""Recommendations generated from the statistics by editable rules (YAML).

Each rule is a condition on named indicators → one numbered recommendation (R1, R2 …)
opening with an infinitive verb and naming its addressee, as the Défenseur des droits
words them (docs/design.md §9). Nothing is evaluated as code: an indicator name,
a comparison operator and a number.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import Outcome
from watchdog.report import accessibility, substitute, support
from watchdog.stats.calendar import Period, paris_midnight
from watchdog.stats.intervals import Proportion
from watchdog.stats.series import SeriesStats

Indicators = dict[str, float | None]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
# A French infinitive: Garantir, Prévoir, Publier, Rappeler, Mettre, Rendre, Délivrer…
INFINITIVE = re.compile(r"^[A-ZÉÈÀÂÎÔÛÇ][a-zéèêëàâîïôûüç]+(er|ir|re)\b")
DAY_S = 86400.0


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stat: str
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float

    def holds(self, indicators: Mapping[str, float | None]) -> bool:
        if self.stat not in indicators:
            raise WatchdogError(f"recommendation rule: unknown statistic {self.stat!r}")
        measured = indicators[self.stat]
        return measured is not None and OPS[self.op](measured, self.value)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    scope: Literal["target", "overall"]
    when: list[Condition] = Field(default_factory=list)
    when_any: list[Condition] = Field(default_factory=list)
    addressee: str
    addressee_en: str | None = None
    text: str
    text_en: str | None = None
    # Printed when the rule did not fire although `note_when` holds for some series: says
    # why the data do not allow the recommendation (e.g. a fact no probe records yet).
    note_when: list[Condition] = Field(default_factory=list)
    note: str | None = None
    note_en: str | None = None

    @field_validator("text")
    @classmethod
    def _infinitive(cls, text: str) -> str:
        if not INFINITIVE.match(text):
            raise ValueError(f"must open with a verb in the infinitive: {text[:40]!r}")
        return text

    def holds(self, indicators: Mapping[str, float | None]) -> bool:
        if not all(c.holds(indicators) for c in self.when):
            return False
        return not self.when_any or any(c.holds(indicators) for c in self.when_any)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    follow_up_months: Annotated[int, Field(ge=1, le=24)] = 3
    rules: list[Rule]


@dataclass(frozen=True)
class RuleNote:
    """Why a rule did not fire where a reader might expect it to."""

    rule_id: str
    text: str


@dataclass(frozen=True)
class Recommendation:
    number: int
    rule_id: str
    text: str
    addressee: str
    concerned: tuple[str, ...]  # target ids; empty for an overall recommendation

    @property
    def label(self) -> str:
        return f"R{self.number}"


def default_rules_path() -> Path:
    return Path(str(resources.files("watchdog") / "data" / "report" / "recommendations.yaml"))


def load_rules(path: Path | None = None) -> RuleFile:
    source = path or default_rules_path()
    try:
        rules = RuleFile.model_validate(_load_yaml(source.read_text("utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise WatchdogError(f"{source}: invalid recommendation rules: {exc}") from exc
    known = known_statistics()
    for rule in rules.rules:
        for condition in (*rule.when, *rule.when_any, *rule.note_when):
            if condition.stat not in known:
                raise WatchdogError(
                    f"{source}: rule {rule.id!r}: unknown statistic {condition.stat!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
    return rules


def known_statistics() -> set[str]:
    period = Period(paris_midnight(date(2000, 1, 1)), paris_midnight(date(2000, 1, 2)))
    return set(indicators(SeriesStats("*", period), overall=True))


def indicators(
    s: SeriesStats, *, overall: bool = False, per_target: Sequence[SeriesStats] = ()
) -> Indicators:
    """The named statistics rules may test (see recommendations.yaml)."""
    run = s.longest_run
    values: Indicators = {
        "attempts": float(s.attempts),
        "books": 1.0,  # 0 for a portal that books nothing (ANEF)
        "no_slot_rate": s.no_slot_rate.value,
        "no_slot_rate_low": s.no_slot_rate.low,
        "failure_rate": s.failure_rate.value,
        "failure_rate_low": s.failure_rate.low,
        "opening_rate": s.opening_rate.value,
        "captcha_rate": s.share(Outcome.CAPTCHA).value,
        # Beside the rates of docs/design.md §2: what tells of an applicant's access (support.py).
        "applicant_attempts": float(support.applicant_attempts(s)),
        "hidden_rate": support.hidden_rate(s).value,
        "service_error_rate": support.service_error_rate(s).value,
        "service_uptime": support.service_uptime(s).value,
        # RGAA 1.5 is about a missing alternative (audio or other), not about a captcha being
        # there: the share of rendered captchas that offered none (None: none recorded).
        "captcha_without_alternative_rate": (
            s.captcha_without_alternative / s.captcha_rendered if s.captcha_rendered else None
        ),
        "blocked_rate": s.share(Outcome.BLOCKED).value,
        "technical_error_rate": s.technical_error_rate.value,
        "maintenance_rate": s.share(Outcome.MAINTENANCE).value,
        "closed_rate": s.share(Outcome.CLOSED).value,
        "queue_rate": s.share(Outcome.QUEUE).value,
        "uptime": s.uptime.value,
        "weeks_with_failure": float(s.weeks_with_failure),
        "weeks_without_slot": float(s.weeks_without_slot),
        "longest_run_days": run.duration.total_seconds() / DAY_S if run else 0.0,
        "lead_median_days": s.lead_days(0.5),
        "lead_p90_days": s.lead_days(0.9),
        "lead_beyond_30_days": s.lead_beyond(30).value,
        "lead_beyond_60_days": s.lead_beyond(60).value,
    }
    values.update(accessibility.indicators(s))  # the last audit's findings (issue 18)
    values.update(substitute.indicators(s))  # the last substitute channel check (issue 18)
    if overall:
        values["targets_without_any_slot"] = float(
            sum(1 for t in per_target if t.attempts and not t.outcomes[Outcome.AVAILABLE])
        )
    return values


def _target_indicators(s: SeriesStats, books: bool) -> Indicators:
    values = indicators(s)
    if not books:
        values.update(no_slot_rate=None, no_slot_rate_low=None, books=0.0)
    return values


def recommend(
    rules: RuleFile,
    per_target: Mapping[str, SeriesStats],
    total: SeriesStats,
    lang: str = "fr",
    booking: Collection[str] | None = None,
) -> list[Recommendation]:
    """The recommendations whose rule holds, numbered in the order of the rule file.

    `booking`: the targets that book (all by default); the others (ANEF) have no no-slot
    rate, and the overall no-slot rate counts only the booking ones.
    """
    books = set(per_target) if booking is None else set(booking)
    overall = indicators(total, overall=True, per_target=list(per_target.values()))
    no_slot = sum((s.no_slot_rate for t, s in per_target.items() if t in books), Proportion(0, 0))
    overall.update(no_slot_rate=no_slot.value, no_slot_rate_low=no_slot.low)
    found: list[Recommendation] = []
    for rule in rules.rules:
        if rule.scope == "overall":
            concerned: tuple[str, ...] = ()
            applies = rule.holds(overall)
        else:
            concerned = tuple(
                t for t, s in per_target.items() if rule.holds(_target_indicators(s, t in books))
            )
            applies = bool(concerned)
        if applies:
            english = lang == "en"
            found.append(
                Recommendation(
                    number=len(found) + 1,
                    rule_id=rule.id,
                    text=(rule.text_en if english and rule.text_en else rule.text),
                    addressee=(
                        rule.addressee_en if english and rule.addressee_en else rule.addressee
                    ),
                    concerned=concerned,
                )
            )
    return found


def rule_notes(
    rules: RuleFile,
    per_target: Mapping[str, SeriesStats],
    fired: Collection[str],
    lang: str = "fr",
    booking: Collection[str] | None = None,
) -> list[RuleNote]:
    """The notes of the rules that did not fire while their `note_when` holds somewhere."""
    books = set(per_target) if booking is None else set(booking)
    notes: list[RuleNote] = []
    for rule in rules.rules:
        if rule.id in fired or not rule.note or not rule.note_when:
            continue
        if any(
            all(c.holds(_target_indicators(s, t in books)) for c in rule.note_when)
            for t, s in per_target.items()
        ):
            text = rule.note_en if lang == "en" and rule.note_en else rule.note
            notes.append(RuleNote(rule.id, text))
    return notes


def _load_yaml(text: str) -> Any:
    """yaml.safe_load, with libyaml's C parser when PyYAML has it (several times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
