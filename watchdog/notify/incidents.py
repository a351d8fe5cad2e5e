"""The incident engine: fed by each recorded observation, it opens and resolves incidents and
queues their notifications; `tick()` queues reminders and weekly digests.

It never sends anything itself (the delivery worker does), so `on_observation` costs a few
small queries and returns; any error in it is logged and swallowed — the recorder goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ulid import ULID

from watchdog.config.loader import Config
from watchdog.config.notifications import DailyRate, NotificationSettings, Route, Streak
from watchdog.config.secrets import LOGGER, REDACTOR
from watchdog.domain.clock import PARIS
from watchdog.domain.incidents import ASSIST_KINDS, RATE_KINDS, STREAK_KINDS, Event, IncidentKind
from watchdog.domain.models import Observation
from watchdog.domain.target import Target
from watchdog.notify import evaluate as ev
from watchdog.notify.digest import digest_messages, due_week
from watchdog.notify.messages import Link, render_incident
from watchdog.notify.repo import OPEN, Incident, Message, Repo
from watchdog.stats.compute import daily_counts
from watchdog.store import Store, record
from watchdog.store.chain import format_instant

log = logging.getLogger(LOGGER)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class IncidentEngine:
    """Incident rules over one store; routes decide who hears about what."""

    def __init__(
        self, config: Config, store: Store, repo: Repo, link: Link, clock: Clock = utc_now
    ) -> None:
        self.config = config
        self.store = store
        self.repo = repo
        self.link = link
        self.clock = clock
        self.queued = asyncio.Event()  # set when something was queued: wakes the worker
        # `watchdog run`'s assist desk: the framed captcha a journey's parked page shows.
        self.captcha_of: Callable[[str], str | None] | None = None
        self._rates_done: dict[str, date] = {}  # last day whose rates were evaluated
        self._digest_week: tuple[int, int] | None = None

    @property
    def settings(self) -> NotificationSettings:
        return self.config.notifications

    # -- observations ---------------------------------------------------------------------

    async def on_observation(self, obs: Observation, target: Target) -> None:
        """Evaluate the rules after `obs` was stored; never raises."""
        try:
            if await asyncio.to_thread(self.evaluate, obs, target):
                self.queued.set()
        except Exception as exc:  # a notifier problem must not stop the recorder
            log.error("incident engine: %s on %s: %s", type(exc).__name__, target.id,
                      REDACTOR.redact(str(exc)))  # fmt: skip

    def evaluate(self, obs: Observation, target: Target) -> bool:
        """Open or resolve incidents for `target`; True when notifications were queued."""
        if not self.settings.enabled:
            return False
        limit = 4 * max(max(r.open_after, r.resolve_after) for r in self._streak_rules()) + 8
        recent = record.recent(self.store, target.id, limit)
        changed = False
        assisted = target.options.get("captcha") == "assisted"
        for kind in STREAK_KINDS + (ASSIST_KINDS if assisted else ()):
            changed |= self._streak(kind, target, recent)
        day = obs.started_at.astimezone(PARIS).date()
        if self._rates_done.get(target.id) != day:
            changed |= self._rates(target, day)
            self._rates_done[target.id] = day
        return changed

    def _streak_rules(self) -> list[Streak]:
        t = self.settings.thresholds
        return [t.site_down, t.captcha_wall, t.page_closed, t.blocked, t.assist_needed]

    def _rule(self, kind: IncidentKind) -> Any:
        return getattr(self.settings.thresholds, kind.value)

    def _streak(self, kind: IncidentKind, target: Target, recent: list[Observation]) -> bool:
        rule: Streak = self._rule(kind)
        runs = ev.runs(kind, recent)
        current = self.repo.open_incident_for(kind, target.id)
        if current is None and len(runs.bad) >= rule.open_after:
            if kind is IncidentKind.SITE_DOWN and (up := ev.dissenting_vantages(kind, recent)):
                log.warning("%s: site_down not opened: vantage(s) %s see the site up; the "
                            "failures are other vantages' networks", target.id,
                            ", ".join(up))  # fmt: skip
                return False
            facts = ev.streak_facts(target, runs.bad, rule)
            if kind is IncidentKind.ASSIST_NEEDED:
                facts["assist_url"] = self._assist_url()
                shown = self.captcha_of(target.id) if self.captcha_of is not None else None
                if shown is not None:  # the parked captcha itself, framed, comes first
                    facts["evidence"] = [shown, *facts.get("evidence", [])]
                    facts["captcha_attached"] = True
            return self._open(kind, target, runs.bad[-1].started_at, facts)
        if current is not None and len(runs.good) >= rule.resolve_after:
            return self._resolve(current, ev.streak_resolution(runs.good))
        return False

    def _assist_url(self) -> str:
        """Where a volunteer answers: `assist.public_url`, else the desk's own address."""
        assist = self.config.assist
        if assist.public_url:
            return assist.public_url
        host = f"[{assist.host}]" if ":" in assist.host else assist.host
        return f"http://{host}:{assist.port}/assistance"

    def _rates(self, target: Target, today: date) -> bool:
        """Daily-rate kinds over the whole days before `today` (evaluated once a day)."""
        last = today - timedelta(days=1)
        rules: dict[IncidentKind, DailyRate] = {k: self._rule(k) for k in RATE_KINDS}
        span = max(max(r.days, r.resolve_after_days) for r in rules.values())
        counts = daily_counts(self.store, target.id, last - timedelta(days=span - 1), last)
        changed = False
        no_slot_high = False
        for kind, rule in rules.items():
            rates = ev.day_rates(kind, counts, last, rule.days)
            high = all(r.above(rule) for r in rates)
            current = self.repo.open_incident_for(kind, target.id)
            if current is None and high and not no_slot_high:
                facts = self._rate_facts(kind, target, rule, rates, counts)
                changed |= self._open(kind, target, _midnight(rates[0].day), facts)
            elif current is not None:
                changed |= self._maybe_recover(kind, current, rule, counts, last)
            # A target without slots also fails every attempt: the no-slot incident says it.
            no_slot_high = no_slot_high or (kind is IncidentKind.HIGH_NO_SLOT_RATE and high)
        return changed

    def _maybe_recover(
        self, kind: IncidentKind, current: Incident, rule: DailyRate, counts: Any, last: date
    ) -> bool:
        recent = ev.day_rates(kind, counts, last, rule.resolve_after_days)
        if not all(r.above(rule) is False for r in recent):
            return False
        resolution = {"at": format_instant(_midnight(recent[0].day)),
                      "days": [r.to_json() for r in recent]}  # fmt: skip
        return self._resolve(current, resolution)

    def _rate_facts(
        self,
        kind: IncidentKind,
        target: Target,
        rule: DailyRate,
        rates: list[ev.DayRate],
        counts: Any,
    ) -> dict[str, Any]:
        days = [r.day for r in rates]
        facts: dict[str, Any] = {
            "target": ev.target_facts(target),
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
            "k": sum(r.k for r in rates),
            "n": sum(r.n for r in rates),
            "days": [r.to_json() for r in rates],
            "threshold": rule.model_dump(),
        }
        if kind is IncidentKind.HIGH_FAILURE_RATE:
            facts["causes"] = ev.causes(counts, days)
        example = self._example(target, days[0], days[-1], facts.get("causes"))
        if example is not None:
            facts["example"] = ev.observation_facts(example)
            facts["evidence"] = ev.evidence([example])
        return facts

    def _example(
        self, target: Target, first: date, last: date, causes: dict[str, int] | None
    ) -> Observation | None:
        """The latest failing observation of the period with a framed capture."""
        wanted = set(causes) if causes else {"no_slot"}
        since, until = _midnight(first), _midnight(last + timedelta(days=1))
        found = None
        for obs in self.store.iter_observations(target.id, since, until):
            if obs.outcome.value in wanted and obs.evidence.framed:
                found = obs
        return found

    # -- opening and resolving ------------------------------------------------------------

    def _open(
        self, kind: IncidentKind, target: Target, since: datetime, facts: dict[str, Any]
    ) -> bool:
        incident = Incident(
            id=str(ULID()),
            kind=kind,
            target=target.id,
            department=target.department,
            status=OPEN,
            opened_at=since,
            facts=facts,
        )
        opened = self.repo.open_incident(incident, self._messages(incident, Event.OPENED))
        if opened:
            log.warning("incident opened: %s on %s (%s)", kind.value, target.id, incident.id)
        return opened

    def _resolve(self, incident: Incident, resolution: dict[str, Any]) -> bool:
        now = self.clock()
        done = Incident(**{**incident.__dict__, "status": "resolved", "resolved_at": now,
                           "resolution": resolution})  # fmt: skip
        resolved = self.repo.resolve_incident(
            incident, now, resolution, self._messages(done, Event.RESOLVED)
        )
        if resolved:
            log.warning("incident resolved: %s on %s (%s)", incident.kind.value, incident.target,
                        incident.id)  # fmt: skip
        return resolved

    def routes_for(self, incident: Incident) -> list[Route]:
        return [
            r
            for r in self.settings.routes
            if incident.kind in r.wanted_kinds and r.covers(incident.department)
        ]

    def _messages(
        self, incident: Incident, event: Event, key: str | None = None, latest: Any = None
    ) -> list[Message]:
        messages = []
        for route in self.routes_for(incident):
            lang = route.language or self.settings.language
            text = render_incident(incident, event, lang, self.link, self.clock(), latest)
            messages.append(
                Message(
                    dedup_key=f"{incident.id}:{key or event.value}:{route.id}",
                    route=route.id,
                    event=event,
                    title=text.title,
                    body=text.body,
                    notify_type=text.notify_type,
                    incident_id=incident.id,
                    attachments=tuple(incident.facts.get("evidence", [])[:1])
                    if route.attach_evidence and event is not Event.RESOLVED
                    else (),
                )
            )
        return messages

    # -- time-driven work -----------------------------------------------------------------

    async def tick(self) -> int:
        """Queue due reminders and the weekly digest; returns how many were queued."""
        try:
            queued = await asyncio.to_thread(self._tick)
        except Exception as exc:
            log.error("incident engine tick: %s: %s", type(exc).__name__,
                      REDACTOR.redact(str(exc)))  # fmt: skip
            return 0
        if queued:
            self.queued.set()
        return queued

    def _tick(self) -> int:
        if not self.settings.enabled:
            return 0
        return self._reminders() + self._digests()

    def _reminders(self) -> int:
        now = self.clock()
        messages: list[Message] = []
        for incident in self.repo.open_incidents():
            for route in self.routes_for(incident):
                interval = route.reminder
                if interval is None or self.repo.has_unsent(incident.id, route.id):
                    continue
                nth = int((now - incident.opened_at) / interval)
                key = f"reminder-{nth}"
                if nth < 1 or self.repo.known(f"{incident.id}:{key}:{route.id}"):
                    continue  # not due, or already sent: no rendering every poll
                latest = self.store.last_for_target(incident.target)
                last = ev.observation_facts(latest) if latest is not None else None
                messages += [
                    m
                    for m in self._messages(incident, Event.REMINDER, key, last)
                    if m.route == route.id
                ]
        return self.repo.enqueue(messages, now) if messages else 0

    def _digests(self) -> int:
        now = self.clock()
        week = due_week(now, self.settings.digest)
        if week == self._digest_week:
            return 0
        messages = digest_messages(self.config, self.store, self.repo, week, self.link)
        self._digest_week = week
        return self.repo.enqueue(messages, now) if messages else 0


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=PARIS).astimezone(UTC)
