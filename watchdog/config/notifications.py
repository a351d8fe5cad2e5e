"""The `notifications:` section of the configuration (issue 5): routes, thresholds, delivery.

Apprise URLs carry tokens: every URL seen here is registered with the redactor before
anything else touches it, and no error message quotes one (only its scheme).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from watchdog.config.secrets import REDACTOR, usable_url
from watchdog.domain.durations import Duration
from watchdog.domain.incidents import AUDIENCE_KINDS, Audience, IncidentKind

Language = Literal["fr", "en"]
HOURS_PATTERN = r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$"
DEPARTMENT_PATTERN = r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6])$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def day_minutes(text: str) -> int:
    """Minutes since midnight of "HH:MM" (24:00 allowed as an end)."""
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day")
    return hours * 60 + minutes


def _apprise_url(url: str) -> str:
    REDACTOR.register(url)  # before anything could log it
    problem = usable_url(url)
    if problem:
        raise ValueError(problem)
    return url


AppriseUrl = Annotated[str, AfterValidator(_apprise_url)]


class Route(_Strict):
    """Where notifications go, for whom, and at what rhythm."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=60)]
    audience: Audience
    urls: list[AppriseUrl] = Field(default_factory=list)  # Apprise URLs (secrets)
    config_file: Path | None = None  # an Apprise config file; relative to this config file
    tags: list[str] = Field(default_factory=list)  # Apprise tags to notify (default: all)
    kinds: list[IncidentKind] | None = None  # default: the audience's kinds
    departments: list[Annotated[str, Field(pattern=DEPARTMENT_PATTERN)]] = Field(
        default_factory=list
    )  # default: every département
    quiet_hours: Annotated[str, Field(pattern=HOURS_PATTERN)] | None = None  # Europe/Paris
    language: Language | None = None  # default: notifications.language
    reminder_interval: Duration | None = None  # default: 4h for sre, none for investigator
    digest: bool | None = None  # weekly digest; default: true for investigator routes
    attach_evidence: bool = True

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            first, last = (day_minutes(part) for part in value.split("-"))
            if first == last:
                raise ValueError("an empty range")
        return value

    @model_validator(mode="after")
    def _has_destination(self) -> Route:
        if not self.urls and self.config_file is None:
            raise ValueError("give urls or config_file")
        if self.tags and self.config_file is None:
            raise ValueError("tags select URLs of an Apprise config_file; give one")
        return self

    @property
    def wanted_kinds(self) -> frozenset[IncidentKind]:
        return frozenset(self.kinds if self.kinds is not None else AUDIENCE_KINDS[self.audience])

    @property
    def reminder(self) -> timedelta | None:
        if self.reminder_interval is not None:
            return self.reminder_interval if self.reminder_interval > timedelta(0) else None
        return timedelta(hours=4) if self.audience is Audience.SRE else None

    @property
    def wants_digest(self) -> bool:
        return self.digest if self.digest is not None else self.audience is Audience.INVESTIGATOR

    def covers(self, department: str) -> bool:
        return not self.departments or department in self.departments


class Streak(_Strict):
    """Open after `open_after` consecutive bad observations, resolve after `resolve_after` good
    ones (flap damping); observations that say nothing either way are skipped."""

    open_after: Annotated[int, Field(ge=1, le=50)]
    resolve_after: Annotated[int, Field(ge=1, le=50)]


class DailyRate(_Strict):
    """Open when each of the last `days` whole Paris days has at least `min_attempts` attempts
    and a rate ≥ `rate`; resolve after `resolve_after_days` whole days under it."""

    rate: Annotated[float, Field(gt=0, le=1)]
    days: Annotated[int, Field(ge=1, le=31)] = 3
    min_attempts: Annotated[int, Field(ge=1)] = 8
    resolve_after_days: Annotated[int, Field(ge=1, le=31)] = 1


class Thresholds(_Strict):
    site_down: Streak = Field(default_factory=lambda: Streak(open_after=3, resolve_after=2))
    captcha_wall: Streak = Field(default_factory=lambda: Streak(open_after=3, resolve_after=3))
    page_closed: Streak = Field(default_factory=lambda: Streak(open_after=2, resolve_after=2))
    blocked: Streak = Field(default_factory=lambda: Streak(open_after=2, resolve_after=3))
    high_no_slot_rate: DailyRate = Field(default_factory=lambda: DailyRate(rate=0.9))
    high_failure_rate: DailyRate = Field(default_factory=lambda: DailyRate(rate=0.95))
    # `captcha: assisted` journeys only: this many probes in a row met the captcha with no
    # person's answer between them (12 at a 15-minute interval: three hours); one read past
    # a person's answer resolves it.
    assist_needed: Streak = Field(default_factory=lambda: Streak(open_after=12, resolve_after=1))


class DigestSchedule(_Strict):
    """When the weekly digest of the previous ISO week goes out (Europe/Paris)."""

    weekday: Annotated[int, Field(ge=0, le=6)] = 0  # Monday
    time: Annotated[str, Field(pattern=r"^\d{1,2}:\d{2}$")] = "08:00"
    worst: Annotated[int, Field(ge=1, le=20)] = 3  # how many journeys in "worst journeys"

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if day_minutes(value) >= 24 * 60:
            raise ValueError(f"{value!r} is not a time of day")
        return value


class Delivery(_Strict):
    """The outbox worker: retries with exponential back-off, then it gives up."""

    attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff: Duration = timedelta(seconds=30)
    backoff_cap: Duration = timedelta(minutes=30)
    timeout: Duration = timedelta(seconds=30)  # per send; a hanging service is abandoned
    poll: Duration = timedelta(seconds=5)  # how often the worker looks for due work


class AlertmanagerBridge(_Strict):
    """`POST /alertmanager` on the listener: Alertmanager webhooks through the same routes."""

    enabled: bool = False
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_-]*$")] = "/alertmanager"
    routes: list[str] | None = None  # route ids; default: every sre route
    bearer_token: str | None = None  # when set, required in `Authorization: Bearer …`

    @field_validator("bearer_token")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value:
            REDACTOR.add(value)
        return value


class NotificationSettings(_Strict):
    enabled: bool = True
    language: Language = "fr"
    routes: list[Route] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    digest: DigestSchedule = Field(default_factory=DigestSchedule)
    delivery: Delivery = Field(default_factory=Delivery)
    evidence_base_url: str | None = None  # links become <base>/<sha256>; default: local paths
    alertmanager: AlertmanagerBridge = Field(default_factory=AlertmanagerBridge)

    @model_validator(mode="after")
    def _unique_routes(self) -> NotificationSettings:
        ids = [r.id for r in self.routes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate route id(s): {', '.join(duplicates)}")
        known = set(ids)
        unknown = [r for r in self.alertmanager.routes or [] if r not in known]
        if unknown:
            raise ValueError(f"alertmanager.routes: unknown route id(s): {', '.join(unknown)}")
        return self

    def route(self, route_id: str) -> Route | None:
        return next((r for r in self.routes if r.id == route_id), None)

    def bridge_routes(self) -> list[Route]:
        wanted = self.alertmanager.routes
        if wanted is None:
            return [r for r in self.routes if r.audience is Audience.SRE]
        return [r for r in self.routes if r.id in wanted]
