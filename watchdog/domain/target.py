"""The target: one booking journey the watchdog probes, as the configuration declares it.

The entity most of the package works with; its options are validated against its platform's
schema when the configuration is loaded (`probes.options_of`), so this module needs no platform.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from watchdog.domain.clock import PARIS
from watchdog.domain.durations import Duration
from watchdog.domain.models import EngineChoice, Platform, Procedure, Screenshots


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MaintenanceWindow(_Strict):
    """Announced maintenance: cron-like weekly hours or an explicit range.

    Weekly: `weekdays` (0 = Monday) and/or `hours` "HH:MM-HH:MM" (may cross midnight), in
    Europe/Paris. Explicit: `start` and `end` (ISO 8601; a naive time is Europe/Paris).
    """

    weekdays: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    hours: Annotated[str, Field(pattern=r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$")] | None = None
    start: datetime | None = None
    end: datetime | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        weekly = self.weekdays is not None or self.hours is not None
        if weekly == (self.start is not None or self.end is not None):
            raise ValueError("give either weekdays/hours or start/end")
        if weekly:
            if self.hours is not None:
                first, last = (clock_minutes(part) for part in self.hours.split("-"))
                if first == last:
                    raise ValueError("hours: an empty range")
        elif self.start is None or self.end is None:
            raise ValueError("an explicit range needs both start and end")
        elif in_paris(self.end) <= in_paris(self.start):
            raise ValueError("end must be after start")
        return self


MAX_PLANNED = 6  # probes around one announced instant
PLANNED_REACH = timedelta(minutes=30)  # how far before or after it
PLANNED_GAP = timedelta(seconds=10)  # the least time between two of them


class PublicationProbes(_Strict):
    """Extra probes around an instant the site announced for its next publication (issue 19):
    `before` and `after` it, each one still taking its host's budget (docs/design.md §5).

    The offsets are at most 6 in all, within 30 minutes of the instant and at least 10 s
    apart; `enabled: false` (or both lists empty) plans none.
    """

    enabled: bool = True
    before: list[Duration] = Field(default_factory=lambda: [timedelta(minutes=1)])
    after: list[Duration] = Field(
        default_factory=lambda: [timedelta(seconds=15), timedelta(minutes=1), timedelta(minutes=5)]
    )

    @model_validator(mode="after")
    def _sane(self) -> PublicationProbes:
        offsets = self.offsets_s(always=True)
        if len(offsets) > MAX_PLANNED:
            raise ValueError(f"at most {MAX_PLANNED} planned probes around one instant")
        reach = PLANNED_REACH.total_seconds()
        if any(abs(o) > reach for o in offsets):
            raise ValueError(f"offsets must be within {PLANNED_REACH.seconds // 60}m of it")
        gap = PLANNED_GAP.total_seconds()
        if any(b - a < gap for a, b in pairwise(offsets)):
            raise ValueError(f"planned probes must be at least {gap:g}s apart")
        return self

    def offsets_s(self, *, always: bool = False) -> list[float]:
        """Seconds from the announced instant, in order (empty when disabled)."""
        if not self.enabled and not always:
            return []
        before = [-d.total_seconds() for d in self.before]
        return sorted(before + [d.total_seconds() for d in self.after])


def clock_minutes(text: str) -> int:
    """Minutes since midnight of "HH:MM" (24:00 allowed as the end of the day)."""
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"hours: {text!r} is not a time of day")
    return hours * 60 + minutes


def in_paris(value: datetime) -> datetime:
    """An aware instant: naive config times are Europe/Paris wall-clock times."""
    return value if value.tzinfo is not None else value.replace(tzinfo=PARIS)


def parsable_url(value: str) -> str:
    """`value` when it names a host (and a valid port); else ValueError."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a port out of range or not a number
    except ValueError as exc:  # `http://[/x`: an unclosed IPv6 bracket
        raise ValueError(f"not a usable URL: {exc}") from exc
    if not parts.hostname:
        raise ValueError("not a usable URL: no host")
    return value


PageUrl = Annotated[
    str,
    Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000),
    AfterValidator(parsable_url),
]


class Target(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
    department: Annotated[str, Field(pattern=r"^(0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5]|2A|2B|97[1-6])$")]
    prefecture: str
    site: str | None = None
    procedure: Procedure
    label: str
    platform: Platform
    url: PageUrl
    interval: Duration = timedelta(minutes=15)
    options: dict[str, Any] = Field(default_factory=dict)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    enabled: bool = True
    engine: EngineChoice | None = None  # None: probing.engine
    screenshots: Screenshots | None = None  # None: probing.screenshots
    # The vantages that probe this target, each once per interval (issue 17); empty: any one.
    vantages: list[Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]] = (
        Field(default_factory=list)
    )
    publication: PublicationProbes | None = None  # None: probing.publication
    # Labels that group targets (a case, a campaign): `retention.tags` keys on them.
    tags: list[Annotated[str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=80)]] = (
        Field(default_factory=list)
    )
    # The prefecture's page(s) that should publish a way in for people who cannot book
    # online (issue 18): `watchdog substitute` reads them (README « Substitute channel »).
    substitute_pages: Annotated[list[PageUrl], Field(max_length=5)] = Field(default_factory=list)

    _parsed_options: BaseModel | None = PrivateAttr(default=None)

    @field_validator("substitute_pages")
    @classmethod
    def _pages(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("a page is listed twice")
        return values

    @property
    def host(self) -> str:
        return _host(self.url)

    @property
    def netloc(self) -> str:
        """Host and port: the key of politeness budgets."""
        return _netloc(self.url)


# The scheduler asks for a target's host key at every dispatch, for every waiting target:
# parsing the URL each time was most of its CPU at 2,000 targets. A pure function of the
# URL's text, so a cache keyed by that text can never be stale.
URLS_KEPT = 16_384


@functools.lru_cache(maxsize=URLS_KEPT)
def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


@functools.lru_cache(maxsize=URLS_KEPT)
def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
