"""Everything a report shows, gathered once: statistics, charts, examples, law, recommendations."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime

from markupsafe import Markup

from watchdog import __version__
from watchdog.config import Target
from watchdog.models import Env, Outcome
from watchdog.report import charts, labels
from watchdog.report.examples import Example, pick_examples
from watchdog.report.legal import LegalRefs
from watchdog.report.policy import PolicyText, describe
from watchdog.report.recommend import Recommendation, RuleFile, recommend
from watchdog.report.typo import Typo
from watchdog.stats import queries
from watchdog.stats.calendar import Period, week_label
from watchdog.stats.compute import compute, compute_total
from watchdog.stats.intervals import Difference, Proportion, difference
from watchdog.stats.series import EXCLUDED, SeriesStats
from watchdog.store.db import Store

# Version of the measurement protocol the report applies: outcome vocabulary and rates of
# DESIGN §2, Cimade buckets, Wilson 95 % intervals, nearest-rank quantiles, Paris calendar.
PROTOCOL_VERSION = "1.0"


@dataclass(frozen=True)
class ChainEnd:
    seq: int
    hash: str
    observation_id: str


@dataclass(frozen=True)
class TargetView:
    target: Target
    stats: SeriesStats
    previous: SeriesStats
    chain: ChainEnd | None
    distinguish: bool = False  # another series of the report has the same short name

    def short_name(self, lang: str) -> str:
        procedure = labels.procedure(lang, self.target.procedure)
        site = f" ({self.target.site})" if self.target.site else ""
        return f"{self.target.prefecture}{site} — {procedure}"

    def name(self, lang: str) -> str:
        name = self.short_name(lang)
        if self.distinguish:
            name += f" [{labels.platform(lang, self.target.platform)}]"
        return name

    @property
    def books(self) -> bool:
        """False for ANEF: a portal that books nothing has no no-slot rate (DESIGN §2)."""
        return self.target.platform.value != "anef"

    @property
    def no_slot_change(self) -> Difference | None:
        return difference(self.stats.no_slot_rate, self.previous.no_slot_rate)

    @property
    def failure_change(self) -> Difference | None:
        return difference(self.stats.failure_rate, self.previous.failure_rate)

    def barrier_details(self) -> list[tuple[Outcome, str, int]]:
        rows = [
            (o, d, n)
            for (o, d), n in self.stats.details.items()
            if o.counts_in_rates and o is not Outcome.AVAILABLE
        ]
        return sorted(rows, key=lambda r: (-r[2], r[0].value, r[1]))

    def health(self) -> list[tuple[Outcome, str, int]]:
        rows = [(o, d, n) for (o, d), n in self.stats.details.items() if o in EXCLUDED]
        return sorted(rows, key=lambda r: (-r[2], r[0].value, r[1]))


@dataclass(frozen=True)
class Meta:
    number: str
    generated_at: datetime
    period: Period
    lang: str
    issuer: str
    protocol: str = PROTOCOL_VERSION
    software: str = f"prefecture-watchdog {__version__}"


@dataclass
class ReportData:
    meta: Meta
    typo: Typo
    views: list[TargetView]
    total: SeriesStats
    total_previous: SeriesStats
    examples: list[Example]
    legal: LegalRefs
    recommendations: list[Recommendation]
    follow_up_months: int
    env: Env | None
    policy: PolicyText | None = None  # the evidence policy in force over the period
    charts: dict[str, Markup] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.total.simulated > 0

    @property
    def no_slot_total(self) -> Proportion:
        """The no-slot rate of all series that book (ANEF books nothing: DESIGN §2)."""
        return sum((v.stats.no_slot_rate for v in self.views if v.books), Proportion(0, 0))

    @property
    def weeks(self) -> list[tuple[str, Proportion]]:
        return [
            (week_label(w), Proportion(c.failed, c.attempts)) for w, c in self.total.weeks().items()
        ]

    def view(self, target_id: str) -> TargetView:
        return next(v for v in self.views if v.target.id == target_id)

    @property
    def zero_slot_views(self) -> list[TargetView]:
        """Series that never found a slot over the whole period."""
        return [
            v
            for v in self.views
            if v.books and v.stats.attempts and not v.stats.outcomes[Outcome.AVAILABLE]
        ]


def report_number(targets: Sequence[Target], period: Period, generated_at: datetime) -> str:
    """WD-<date>-<6 hex>: the date of issue and a digest of what the report covers."""
    basis = "|".join(
        [*sorted(t.id for t in targets), period.since.isoformat(), period.until.isoformat()]
    )
    digest = hashlib.sha256(basis.encode()).hexdigest()[:6].upper()
    return f"WD-{generated_at:%Y%m%d}-{digest}"


@dataclass(frozen=True)
class Inputs:
    """What the caller chooses; the rest is read from the store."""

    targets: Sequence[Target]
    period: Period
    lang: str
    issuer: str
    generated_at: datetime
    legal: LegalRefs
    rules: RuleFile
    number: str | None = None


def assemble(store: Store, inputs: Inputs) -> ReportData:
    ids = [t.id for t in inputs.targets]
    period = inputs.period
    series = compute(store, ids, period)
    previous = compute(store, ids, period.previous(), full=False)
    views = [
        TargetView(t, series[t.id], previous[t.id], chain_end(store, t.id, period))
        for t in inputs.targets
    ]
    names = Counter(v.short_name(inputs.lang) for v in views)
    views = [replace(v, distinguish=names[v.short_name(inputs.lang)] > 1) for v in views]
    total = compute_total(series, period)
    typo = Typo(inputs.lang)
    rules = inputs.rules
    examples = pick_examples(store, inputs.targets, period, series)
    data = ReportData(
        meta=Meta(
            number=inputs.number or report_number(inputs.targets, period, inputs.generated_at),
            generated_at=inputs.generated_at,
            period=period,
            lang=inputs.lang,
            issuer=inputs.issuer,
        ),
        typo=typo,
        views=views,
        total=total,
        total_previous=compute_total(previous, period.previous()),
        examples=examples,
        legal=inputs.legal,
        recommendations=recommend(rules, series, total, inputs.lang, booking=_booking(views)),
        follow_up_months=rules.follow_up_months,
        env=_environment(store, examples, ids),
        policy=describe(total.capture_modes, typo),
    )
    data.charts = build_charts(data)
    return data


def _booking(views: Sequence[TargetView]) -> set[str]:
    return {v.target.id for v in views if v.books}


def build_charts(data: ReportData) -> dict[str, Markup]:
    typo, lang = data.typo, data.meta.lang
    fr = lang == "fr"
    booking = [v for v in data.views if v.books]
    return {
        "no_slot": charts.rate_bars(
            [(v.name(lang), v.stats.no_slot_rate) for v in booking],
            typo,
            "Taux d'absence de créneau par série" if fr else "No-slot rate per series",
        ),
        "failure": charts.rate_bars(
            [(v.name(lang), v.stats.failure_rate) for v in data.views],
            typo,
            "Taux d'échec par série" if fr else "Failure rate per series",
        ),
        "weekly": charts.weekly_bars(
            data.weeks, typo, "Taux d'échec par semaine ISO" if fr else "Failure rate per ISO week"
        ),
        "heatmap": charts.heatmap(
            data.total, typo, "Créneaux par jour et heure" if fr else "Slots by weekday and hour"
        ),
        "buckets": charts.bucket_bars(
            [(v.name(lang), v.stats) for v in booking],
            typo,
            "Répartition selon les catégories de la Cimade" if fr else "Cimade buckets",
        ),
    }


def chain_end(store: Store, target: str, period: Period) -> ChainEnd | None:
    """The observation of `target` with the highest seq in the period."""
    with closing(store.scan(queries.latest(target, period))) as rows:
        latest = next(rows, None)
    if latest is None:
        return None
    with closing(store.scan(queries.chain_end(target, period, latest.seq))) as rows:
        row = next(rows)
    return ChainEnd(row.seq, row.hash, row.id)


def _environment(store: Store, examples: Sequence[Example], targets: Sequence[str]) -> Env | None:
    """The capture environment of a recent observation (for the methodology)."""
    if examples:
        return examples[0].observation.env
    for target in targets:
        last = store.last_for_target(target)
        if last is not None:
            return last.env
    return None
