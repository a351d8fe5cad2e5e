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
from watchdog.domain.models import SLOT_LISTING_PLATFORMS, Env, Outcome
from watchdog.domain.rates import COUNTED, EXCLUDED
from watchdog.domain.target import Target
from watchdog.report import causes, charts, labels, support
from watchdog.report.accessibility import Audited, LoadRun, audited, load_runs
from watchdog.report.examples import Example, pick_examples
from watchdog.report.legal import LegalRefs
from watchdog.report.policy import PolicyText, describe
from watchdog.report.pruned import PrunedPeriod, pruned_periods
from watchdog.report.recommend import (
    Recommendation,
    RuleFile,
    RuleNote,
    recommend,
    rule_notes,
)
from watchdog.report.substitute import Substituted, substituted
from watchdog.report.typo import Typo
from watchdog.stats import queries
from watchdog.stats.calendar import Period, week_label
from watchdog.stats.compute import compute, compute_total
from watchdog.stats.intervals import Difference, Proportion, difference
from watchdog.stats.series import Run, SeriesStats
from watchdog.stats.slotlife import Publication, lifetimes
from watchdog.store.db import Store

SHOWN_PUBLICATIONS = 5  # the latest announced publications the report describes one by one

# Version of the measurement protocol the report applies: outcome vocabulary and rates of
# docs/design.md §2, Cimade buckets, Wilson 95 % intervals, nearest-rank quantiles, Paris calendar.
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
        """False for ANEF: a portal that books nothing has no no-slot rate (docs/design.md §2)."""
        return causes.books(self.target.platform)

    @property
    def verdict(self) -> support.Verdict:
        """The conclusion this series supports, with its basis (issue 12, item 1)."""
        return support.verdict(self.stats, self.books)

    @property
    def reached(self) -> int:
        """Attempts that reached the booking calendar (slot offered or « aucun créneau »)."""
        return self.stats.no_slot_rate.n

    @property
    def never_reached(self) -> bool:
        """A booking series whose attempts met only barriers: the calendar was never seen."""
        return self.books and not self.reached and bool(self.barriers)

    @property
    def barriers(self) -> list[Outcome]:
        """The barriers of the service met, most frequent first."""
        return causes.dominant(self.stats.outcomes, causes.BARRIERS)

    @property
    def probe_side(self) -> int:
        """Counted attempts aimed at or caused by the probe (blocked, network error)."""
        return sum(self.stats.outcomes[o] for o in causes.PROBE_SIDE)

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
            if o in COUNTED and o is not Outcome.AVAILABLE
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
    rule_notes: list[RuleNote]
    env: Env | None
    policy: PolicyText | None = None  # the evidence policy in force over the period
    charts: dict[str, Markup] = field(default_factory=dict)
    simulated_config: bool = False  # the configuration says its targets are simulated
    accessibility: list[Audited] = field(default_factory=list)  # last audit per journey
    a11y_loads: list[LoadRun] = field(default_factory=list)  # load per step, by profile
    substitute: list[Substituted] = field(default_factory=list)  # last check per journey
    # Slots first seen after an announced publication (issue 19), oldest first, per series.
    publications: list[tuple[TargetView, Publication]] = field(default_factory=list)
    # Stretches retention pruned that meet the period: outside every rate (issue 19).
    pruned: list[PrunedPeriod] = field(default_factory=list)
    pruned_previous: list[PrunedPeriod] = field(default_factory=list)  # the same, period before

    @property
    def shown_publications(self) -> list[tuple[TargetView, Publication]]:
        """The latest few, described one by one (the others are counted)."""
        return self.publications[-SHOWN_PUBLICATIONS:]

    @property
    def simulated(self) -> bool:
        """Watermarked when any observation was simulated or the configuration says so."""
        return self.simulated_config or self.total.simulated > 0

    @property
    def no_slot_total(self) -> Proportion:
        """The no-slot rate of all series that book (ANEF books nothing: docs/design.md §2)."""
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
        """Series that reached the calendar and never found a slot there (« aucun créneau »
        only: a series stopped by a barrier is in `never_reached_views`)."""
        return [
            v
            for v in self.views
            if v.books and v.reached and not v.stats.outcomes[Outcome.AVAILABLE]
        ]

    @property
    def never_reached_views(self) -> list[TargetView]:
        """Booking series whose calendar was never reached (captcha, disabled page…)."""
        return [v for v in self.views if v.never_reached]

    @property
    def conclusions(self) -> list[TargetView]:
        """Series whose statistics support a conclusion (see support.py)."""
        return [v for v in self.views if v.verdict.concludes]

    @property
    def longest_run(self) -> tuple[TargetView, Run] | None:
        """The longest run without a slot among series that reached the calendar (a run on
        a journey that never showed its calendar is a barrier's, not « sans créneau »)."""
        runs = [(v, v.stats.longest_run) for v in self.views if v.books and v.reached]
        found = [(v, r) for v, r in runs if r is not None]
        return max(found, key=lambda item: item[1].duration, default=None)

    def outcome_total(self, *outcomes: Outcome) -> int:
        return sum(self.total.outcomes[o] for o in outcomes)

    @property
    def barrier_counts(self) -> list[tuple[Outcome, int]]:
        """Barriers of the service over all series, most frequent first."""
        return [
            (o, self.total.outcomes[o])
            for o in causes.dominant(self.total.outcomes, causes.BARRIERS)
        ]

    @property
    def probe_side_counts(self) -> list[tuple[Outcome, int]]:
        return [
            (o, self.total.outcomes[o])
            for o in causes.dominant(self.total.outcomes, causes.PROBE_SIDE)
        ]

    @property
    def observed(self) -> tuple[datetime, datetime] | None:
        """First and last observation of the period, whatever their outcome."""
        spans = list(self.total.capture_modes.values())
        firsts = [s.first for s in spans if s.first is not None]
        lasts = [s.last for s in spans if s.last is not None]
        if not firsts or not lasts:
            return None
        return min(firsts), max(lasts)

    @property
    def basis(self) -> support.Basis:
        return support.basis(self.total)


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
    simulated: bool = False  # config `watchdog.simulated`: watermark even without data


def assemble(store: Store, inputs: Inputs) -> ReportData:
    ids = [t.id for t in inputs.targets]
    period = inputs.period
    series = compute(store, ids, period)
    previous = compute(store, ids, period.previous(), full=False)
    views = [
        TargetView(t, series[t.id], previous[t.id], chain_end(store, t.id, period))
        for t in inputs.targets
    ]
    same = Counter(v.short_name(inputs.lang) for v in views)
    views = [replace(v, distinguish=same[v.short_name(inputs.lang)] > 1) for v in views]
    names = {v.target.id: v.name(inputs.lang) for v in views}
    total = compute_total(series, period)
    typo = Typo(inputs.lang)
    rules = inputs.rules
    examples = pick_examples(store, inputs.targets, period, series)
    recommendations = recommend(rules, series, total, inputs.lang, booking=_booking(views))
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
        recommendations=recommendations,
        follow_up_months=rules.follow_up_months,
        rule_notes=rule_notes(
            rules, series, {r.rule_id for r in recommendations}, inputs.lang, _booking(views)
        ),
        env=_environment(store, examples, ids),
        policy=describe(total.capture_modes, typo),
        simulated_config=inputs.simulated,
        accessibility=audited(series, inputs.lang),
        substitute=substituted(series, inputs.lang),
        publications=_publications(store, views, period),
        a11y_loads=load_runs(series),
        pruned=pruned_periods(store, inputs.targets, names, period, inputs.lang),
        pruned_previous=pruned_periods(
            store, inputs.targets, names, period.previous(), inputs.lang
        ),
    )
    data.charts = build_charts(data)
    return data


def _publications(
    store: Store, views: Sequence[TargetView], period: Period
) -> list[tuple[TargetView, Publication]]:
    """Per announced publication, the slots seen after it (series whose probe reads each slot)."""
    listing = {v.target.id: v for v in views if v.target.platform in SLOT_LISTING_PLATFORMS}
    found = [
        (listing[target], publication)
        for target, life in lifetimes(store, list(listing), period).items()
        for publication in life.publications
    ]
    return sorted(found, key=lambda pair: (pair[1].instant, pair[0].target.id))


def _booking(views: Sequence[TargetView]) -> set[str]:
    return {v.target.id for v in views if v.books}


def build_charts(data: ReportData) -> dict[str, Markup]:
    typo, lang = data.typo, data.meta.lang
    fr = lang == "fr"
    booking = [v for v in data.views if v.books and v.reached]  # a rate needs a calendar
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
            labels.BUCKETS[lang],
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
