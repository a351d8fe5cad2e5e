"""The weekly digest per département: attempts, no-slot rate and its trend, worst journeys,
days without any slot (docs/design.md §2 rates, computed by `watchdog.stats` in SQL).

It covers the ISO week (Paris calendar) before the digest instant; each (route, département,
week) is sent once (its dedup key), however often the watchdog restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from watchdog.config.loader import Config
from watchdog.config.notifications import DigestSchedule, day_minutes
from watchdog.domain.clock import PARIS
from watchdog.domain.incidents import Event
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.notify.messages import Link
from watchdog.notify.repo import Incident, Message, Repo
from watchdog.notify.text import Lang, count, day, label, listing, num, points, quoted, share
from watchdog.stats import Period, SeriesStats, compute, compute_total
from watchdog.stats.calendar import iso_week, paris_midnight, week_label, week_monday
from watchdog.stats.queries import examples
from watchdog.store import Store

STABLE = 0.02  # a change under 2 points is "stable"


def due_week(now: datetime, schedule: DigestSchedule) -> tuple[int, int]:
    """The ISO week whose digest is due at `now` (the one before the last digest instant)."""
    local = now.astimezone(PARIS)
    monday = local.date() - timedelta(days=local.weekday())
    minutes = day_minutes(schedule.time)
    instant = paris_midnight(monday + timedelta(days=schedule.weekday)) + timedelta(minutes=minutes)
    if now < instant:
        monday -= timedelta(days=7)
    return iso_week(monday - timedelta(days=7))


@dataclass(frozen=True)
class DepartmentWeek:
    """The figures of one département over one ISO week."""

    department: str
    prefecture: str
    week: tuple[int, int]
    journeys: list[tuple[Target, SeriesStats]]  # worst first, only those with attempts
    total: SeriesStats
    previous: SeriesStats
    incidents: list[Incident]
    example: str | None  # sha256 of a framed capture of the worst journey

    @property
    def days_without_slot(self) -> list[date]:
        return sorted(d for d, c in self.total.days.items() if c.attempts and not c.slots)


def department_week(
    store: Store, targets: Sequence[Target], week: tuple[int, int], incidents: list[Incident]
) -> DepartmentWeek:
    monday = week_monday(week)
    period = Period.from_dates(monday, monday + timedelta(days=6))
    ids = [t.id for t in targets]
    series = compute(store, ids, period)
    previous = compute(store, ids, period.previous(), full=False)
    journeys = sorted(
        ((t, series[t.id]) for t in targets if series[t.id].attempts),
        key=lambda pair: _badness(pair[1]),
        reverse=True,
    )
    example = _example(store, journeys[0][0].id, period) if journeys else None
    return DepartmentWeek(
        department=targets[0].department,
        prefecture=targets[0].prefecture,
        week=week,
        journeys=journeys,
        total=compute_total(series, period),
        previous=compute_total(previous, period.previous()),
        incidents=[i for i in incidents if i.target in ids],
        example=example,
    )


def _badness(stats: SeriesStats) -> tuple[float, float]:
    no_slot, failure = stats.no_slot_rate.value, stats.failure_rate.value
    return (no_slot if no_slot is not None else -1.0, failure if failure is not None else -1.0)


def _example(store: Store, target_id: str, period: Period) -> str | None:
    for outcome in (Outcome.NO_SLOT, Outcome.CLOSED, Outcome.CAPTCHA, Outcome.SITE_ERROR):
        for row in store.scan(examples(target_id, period, outcome)):
            framed = Observation.model_validate_json(row.doc).evidence.framed
            if framed:
                return framed
    return None


def digest_messages(
    config: Config, store: Store, repo: Repo, week: tuple[int, int], link: Link
) -> list[Message]:
    """One message per digest route and département with attempts that week."""
    settings = config.notifications
    routes = [r for r in settings.routes if r.wants_digest]
    if not routes:
        return []
    by_department: dict[str, list[Target]] = {}
    for target in config.targets:
        if target.enabled:
            by_department.setdefault(target.department, []).append(target)
    open_incidents = repo.open_incidents()
    messages = []
    for department, targets in sorted(by_department.items()):
        wanted = [r for r in routes if r.covers(department)]
        if not wanted:
            continue
        figures = department_week(store, targets, week, open_incidents)
        if not figures.total.attempts:
            continue
        for route in wanted:
            lang = route.language or settings.language
            title, body = render_digest(figures, lang, link, settings.digest.worst)
            messages.append(
                Message(
                    dedup_key=f"digest:{week_label(week)}:{department}:{route.id}",
                    route=route.id,
                    event=Event.DIGEST,
                    title=title,
                    body=body,
                    attachments=(figures.example,) if figures.example and route.attach_evidence
                    else (),
                )
            )  # fmt: skip
    return messages


def _t(lang: Lang, fr: str, en: str) -> str:
    return fr if lang == "fr" else en


def render_digest(figures: DepartmentWeek, lang: Lang, link: Link, worst: int) -> tuple[str, str]:
    """Title and body of one département's weekly digest."""
    monday = week_monday(figures.week)
    place = f"{figures.prefecture} ({figures.department})"
    title = _t(lang, "Bilan hebdomadaire", "Weekly digest") + f" — {place} — "
    title += _t(lang, "semaine ", "week ") + week_label(figures.week)
    total = figures.total
    lines = [
        _t(lang, f"Semaine du {day(lang, monday, True)} au "
                 f"{day(lang, monday + timedelta(days=6), True)} (heure de Paris), "
                 f"{count(lang, len(figures.journeys), 'démarche suivie', 'démarches suivies')}.",
           f"Week from {day(lang, monday, True)} to {day(lang, monday + timedelta(days=6), True)} "
           f"(Paris time), {count(lang, len(figures.journeys), 'journey', 'journeys')} watched."),
        f"{label(lang, _t(lang, 'Tentatives', 'Attempts'))} {num(lang, total.attempts)}.",
        _rate_line(figures, lang),
        f"{label(lang, _t(lang, 'Taux d’échec', 'Failure rate'))} "
        f"{share(lang, total.failure_rate.k, total.failure_rate.n)}.",
        _days_line(figures, lang),
        label(lang, _t(lang, "Démarches les plus touchées", "Worst journeys")),
    ]  # fmt: skip
    for rank, (target, stats) in enumerate(figures.journeys[:worst], start=1):
        lines.append(_journey_line(rank, target, stats, lang))
    if figures.incidents:
        ongoing = [f"{i.kind.value} ({i.target})" for i in figures.incidents]
        lines.append(f"{label(lang, _t(lang, 'Incidents en cours', 'Open incidents'))} "
                     f"{listing(lang, ongoing)}.")  # fmt: skip
    if figures.example:
        heading = _t(lang, "Capture encadrée (exemple)", "Framed screenshot (example)")
        lines.append(f"{label(lang, heading)} {link(figures.example)}")
    return title, "\n".join(lines)


def _rate_line(figures: DepartmentWeek, lang: Lang) -> str:
    now, before = figures.total.no_slot_rate, figures.previous.no_slot_rate
    text = f"{label(lang, _t(lang, 'Taux ' + quoted(lang, 'aucun créneau'), 'No-slot rate'))} "
    text += share(lang, now.k, now.n)
    if before.value is None or now.value is None:
        return text + _t(lang, " ; pas de donnée la semaine précédente.",
                         "; no data the week before.")  # fmt: skip
    delta = now.value - before.value
    trend = (
        _t(lang, "en hausse", "rising") if delta > STABLE
        else _t(lang, "en baisse", "falling") if delta < -STABLE
        else _t(lang, "stable", "stable")
    )  # fmt: skip
    return text + _t(
        lang,
        f"\u202f; semaine précédente\u00a0: {share(lang, before.k, before.n)}\u202f; "
        f"tendance\u00a0: {points(lang, delta)}, {trend}.",
        f"; week before: {share(lang, before.k, before.n)}; trend: {points(lang, delta)}, {trend}.",
    )


def _days_line(figures: DepartmentWeek, lang: Lang) -> str:
    empty = figures.days_without_slot
    observed = figures.total.days_observed
    heading = label(lang, _t(lang, "Jours sans aucun créneau", "Days without any slot"))
    text = f"{heading} {len(empty)}{_t(lang, ' sur ', ' of ')}{observed}"
    if empty:
        text += " — " + ", ".join(_short_day(lang, d) for d in empty)
    return text + "."


def _short_day(lang: Lang, value: date) -> str:
    full = day(lang, value, weekday=True)
    return full.rsplit(" ", 1)[0]  # "lundi 3 mars" without the year


def _journey_line(rank: int, target: Target, stats: SeriesStats, lang: Lang) -> str:
    no_slot = share(lang, stats.no_slot_rate.k, stats.no_slot_rate.n)
    failure = share(lang, stats.failure_rate.k, stats.failure_rate.n)
    days = count(lang, stats.days_without_slot, _t(lang, "jour", "day"),
                 _t(lang, "jours", "days"))  # fmt: skip
    return _t(
        lang,
        f"{rank}. {target.label} ({target.id})\u00a0: aucun créneau {no_slot}, "
        f"échec {failure}, {days} sans créneau.",
        f"{rank}. {target.label} ({target.id}): no slot {no_slot}, "
        f"failure {failure}, {days} without a slot.",
    )
