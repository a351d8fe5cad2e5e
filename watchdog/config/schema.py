"""The configuration schema (docs/design.md §3): one strict model per section, `extra="forbid"`.

Loading, includes, file:line:key problems and the checks across sections are in
watchdog/config/loader.py, which re-exports these names.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from watchdog import __version__
from watchdog.config.notifications import NotificationSettings
from watchdog.domain.durations import Duration, format_duration, parse_duration
from watchdog.domain.models import (
    AuditProfile,
    EngineChoice,
    Profile,
    RequestClient,
    Screenshots,
)
from watchdog.domain.target import MaintenanceWindow, PublicationProbes, Target

DEFAULT_USER_AGENT = (
    f"prefecture-watchdog/{__version__} "
    "(+https://github.com/prefecture-watchdog/prefecture-watchdog; observe-only)"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CanarySettings(_Strict):
    """The vantage's known-good page (issue 17, watchdog/domain/vantage.py): checked every
    `every` through this vantage's network; a failure says « our network », not the site's."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000)] | None = None
    every: Duration = timedelta(minutes=1)
    timeout: Duration = timedelta(seconds=10)

    @field_validator("every")
    @classmethod
    def _polite(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @model_validator(mode="after")
    def _answers_in_time(self) -> CanarySettings:
        if not timedelta(seconds=1) <= self.timeout <= self.every:
            raise ValueError("timeout must be at least 1s and at most `every`")
        return self

    @property
    def stale_after(self) -> timedelta:
        """A check older than this says nothing of the network now (two missed checks)."""
        return 2 * self.every + self.timeout


class WatchdogSettings(_Strict):
    data_dir: Path = Path("./data")  # relative: to the config file's folder (config.py)
    database_url: str | None = None
    user_agent: str = DEFAULT_USER_AGENT
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*.gouv.fr"])
    min_interval: Duration = timedelta(minutes=2)
    # The network probes leave from (issue 17): its name, its proxy, its canary page.
    vantage: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)] = "default"
    proxy: str | None = None  # http://host:port, https://… or socks5://…; None: direct
    canary: CanarySettings = Field(default_factory=CanarySettings)
    simulated: bool = False

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("http", "https", "socks5") or not rest.strip("/"):
            raise ValueError(f"{value!r} is not an http://, https:// or socks5:// proxy URL")
        if any(ord(c) <= 32 or ord(c) == 127 for c in value):
            raise ValueError("a URL cannot hold spaces or control characters")
        return value

    @field_validator("data_dir")
    @classmethod
    def _usable_path(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot hold a NUL character")
        return value

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be one non-empty line without control characters")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _scoped(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not pattern.strip("*?[]!.").strip():
                raise ValueError(
                    f"{pattern!r} allows every host: name the sites watched (e.g. '*.gouv.fr'); "
                    "allowed_hosts is what keeps a probe from following a link anywhere"
                )
        return patterns


class BrowserSettings(_Strict):
    executable_path: str | None = None
    headless: bool = True
    max_contexts: Annotated[int, Field(ge=1, le=64)] = 2
    probe_timeout: Duration = timedelta(seconds=60)
    viewport: Annotated[str, Field(pattern=r"^\d{3,4}x\d{3,4}$")] = "1280x900"
    locale: str = "fr-FR"
    timezone: str = "Europe/Paris"
    # cleared: kept pages wiped between probes (half the CPU); fresh: a new profile each time
    profile: Profile = Profile.CLEARED
    # The request engine's HTTP client (README « Performance », issue 20). Unset: aiohttp,
    # unless watchdog.proxy is a socks5:// proxy, which only Playwright's client speaks.
    request_client: RequestClient | None = None


class PerHostBudget(_Strict):
    requests_per_minute: Annotated[float, Field(gt=0, le=600)] = 6.0
    concurrent: Annotated[int, Field(ge=1, le=16)] = 1


class BackoffSettings(_Strict):
    factor: Annotated[float, Field(ge=1)] = 2.0
    cap: Duration = timedelta(hours=1)


class PolitenessSettings(_Strict):
    per_host: PerHostBudget = Field(default_factory=PerHostBudget)
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)


class ListenSettings(_Strict):
    """Where /healthz and /metrics are served; beyond loopback only with `expose: true`."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9788
    expose: bool = False  # serve on a non-loopback address (every interface for "" or 0.0.0.0)

    @model_validator(mode="after")
    def _exposed_on_purpose(self) -> ListenSettings:
        if not is_loopback(self.host) and not self.expose:
            every = " (every interface)" if self.host in ("", "0.0.0.0", "::") else ""
            raise ValueError(
                f"host {self.host!r}{every} is reachable from other machines: "
                "set listen.expose: true to serve /healthz and /metrics there, "
                "or listen on 127.0.0.1"
            )
        return self


class SchedulerSettings(_Strict):
    """How `watchdog run` schedules and stops (docs/design.md §5)."""

    grace_period: Duration = timedelta(seconds=30)  # in-flight probes may finish on SIGTERM
    probe_overrun: Duration = timedelta(seconds=60)  # beyond probe_timeout, a probe is abandoned
    seed: int | None = None  # fixes the spread of start times (tests, benchmarks)


class WorkersSettings(_Strict):
    """The scale-out mode, `watchdog worker` on PostgreSQL (README « Scale-out »)."""

    concurrency: Annotated[int, Field(ge=1, le=64)] = 4  # jobs at once in one worker process
    dispatch_every: Duration = timedelta(seconds=5)  # how often due probes are enqueued
    heartbeat: Duration = timedelta(seconds=10)  # a worker's heartbeat in PostgreSQL
    stalled_after: Duration = timedelta(seconds=30)  # no heartbeat for this long: worker lost
    # The one worker that sends notifications (outbox, reminders, digests); every worker opens
    # and resolves incidents, which the store keeps unique (README « Scale-out »).
    notifier: bool = False
    # Where this worker writes its Prometheus file_sd entry (a JSON file per worker, e.g.
    # /etc/prometheus/watchdog-workers/<name>.json); None: none written.
    file_sd_dir: Path | None = None

    @field_validator("dispatch_every")
    @classmethod
    def _cron_seconds(cls, value: timedelta) -> timedelta:
        seconds = value.total_seconds()
        if seconds != int(seconds) or not 1 <= seconds <= 60 or 60 % int(seconds):
            raise ValueError("must be a whole number of seconds that divides a minute (1s…60s)")
        return value

    @model_validator(mode="after")
    def _heartbeats_before_stall(self) -> WorkersSettings:
        if self.stalled_after < 2 * self.heartbeat:
            raise ValueError(
                "stalled_after must be at least twice heartbeat: one late heartbeat "
                "must not declare a live worker lost"
            )
        return self


class ProbingSettings(_Strict):
    """Defaults for every target (issue 7); a target may set either key itself."""

    engine: EngineChoice = EngineChoice.BROWSER
    screenshots: Screenshots = Screenshots.EVERY
    publication: PublicationProbes = Field(default_factory=PublicationProbes)


class AssistSettings(_Strict):
    """Assisted sessions (`captcha: assisted`, docs/runbook.md « Assisted sessions »).

    `watchdog run` keeps a browser context that reached the captcha parked, at most
    `max_parked` at a time, each waiting at most `wait_for_person` for a person's answer and
    living at most `max_session` in all; the person answers on the assist desk, served by the
    daemon on `host:port` (loopback unless `expose`, and then with a token).
    """

    max_parked: Annotated[int, Field(ge=1, le=16)] = 2
    wait_for_person: Duration = timedelta(minutes=10)
    max_session: Duration = timedelta(hours=2)
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8791
    expose: bool = False
    # The desk's address as volunteers reach it (a tunnel, a proxy), for `assist_needed`
    # notifications; default: http://host:port/assistance. Never carries the token.
    public_url: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")] | None = None

    @model_validator(mode="after")
    def _exposed_on_purpose(self) -> AssistSettings:
        if not is_loopback(self.host) and not self.expose:
            raise ValueError(
                f"host {self.host!r} is reachable from other machines: set assist.expose: "
                "true to serve the assist desk there (a token is then required)"
            )
        if self.wait_for_person > self.max_session:
            raise ValueError("wait_for_person cannot exceed max_session")
        return self


AUDIT_FLOOR = timedelta(hours=1)  # audits are rare by design: never more often than hourly


def _default_profiles() -> dict[AuditProfile, timedelta]:
    return {AuditProfile.MOBILE: timedelta(days=7), AuditProfile.SLOW_3G: timedelta(days=7)}


class AuditSettings(_Strict):
    """Accessibility audits inside `watchdog run` (issue 18; README « Accessibility audits »).

    The standard audit (axe-core) of each enabled target every `every`, and the mobile and
    slow-network runs every `profiles[<profile>]` (a profile left out is not run), one audit at
    a time, each under its host's per-host budget; and the substitute channel check
    (watchdog/substitute/) of each enabled target that lists `substitute_pages` every
    `substitute` (null: not scheduled). `enabled` unset: on, except in a simulated
    deployment (`watchdog.simulated: true`: tests and the demo), where audits would only slow
    the runs down; set it to force either way.
    """

    enabled: bool | None = None
    every: Duration = timedelta(days=1)
    profiles: dict[AuditProfile, Duration] = Field(default_factory=_default_profiles)
    substitute: Duration | None = timedelta(days=1)

    @field_validator("every")
    @classmethod
    def _rare(cls, value: timedelta) -> timedelta:
        if value < AUDIT_FLOOR:
            raise ValueError("audits run at most hourly: every must be at least 1h")
        return value

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, value: dict[AuditProfile, timedelta]) -> dict[AuditProfile, timedelta]:
        if AuditProfile.STANDARD in value:
            raise ValueError("the standard audit's period is audit.every, not a profile")
        if any(period < AUDIT_FLOOR for period in value.values()):
            raise ValueError("audits run at most hourly: each profile's period must be 1h or more")
        return value

    @field_validator("substitute")
    @classmethod
    def _rare_check(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < AUDIT_FLOOR:
            raise ValueError("substitute channel checks run at most hourly: at least 1h, or null")
        return value


class CheckpointSettings(_Strict):
    """RFC 3161 timestamps of the checkpoints (watchdog/store/timestamps.py, README).

    With `tsa_url` set, each checkpoint `watchdog checkpoint` writes, and at most one per
    `tsa_every` of those `watchdog run` (or, in the scale-out mode, the worker holding the
    checkpoint role) writes, is sent (its SHA-256 only) to that time-stamping
    authority. `tsa_ca` is the PEM file of the certificate(s) its tokens must chain to.
    """

    tsa_ca: Path | None = None  # relative: to the config file's folder (loader.py)
    tsa_url: str | None = None  # validated after tsa_ca, which it needs
    tsa_timeout: Duration = timedelta(seconds=10)
    tsa_every: Duration = timedelta(hours=1)

    @field_validator("tsa_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("tsa_ca") is None:
            raise ValueError(
                "tsa_url needs tsa_ca: the PEM file of the authority's CA certificate(s), "
                "without which no token can be verified"
            )
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        if any(ord(c) <= 32 or ord(c) == 127 for c in value):
            raise ValueError("a URL cannot hold spaces or control characters")
        return value

    @field_validator("tsa_ca")
    @classmethod
    def _usable_path(cls, value: Path | None) -> Path | None:
        if value is not None and "\0" in str(value):
            raise ValueError("a path cannot hold a NUL character")
        return value

    @field_validator("tsa_timeout")
    @classmethod
    def _sane_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=2):
            raise ValueError("must be between 1s and 2m")
        return value

    @field_validator("tsa_every")
    @classmethod
    def _polite(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError(
                "must be at least 1m: `watchdog run` checkpoints every few seconds, and a "
                "time-stamping authority is a shared public service"
            )
        return value


MIN_ROLLING = timedelta(days=1)
DEFAULT_ROLLING = timedelta(days=400)


@dataclass(frozen=True)
class RetentionClass:
    """How long a target's observations are kept: `keep` (rolling), or for ever (hold)."""

    keep: timedelta | None  # None: hold, never pruned

    @property
    def held(self) -> bool:
        return self.keep is None

    def __str__(self) -> str:
        return "hold" if self.keep is None else f"rolling {format_duration(self.keep)}"


def _retention_class(value: Any) -> RetentionClass:
    """`hold`, or a mapping `{rolling: 400d}` (at least 1d)."""
    if isinstance(value, RetentionClass):
        return value
    if value == "hold":
        return RetentionClass(None)
    if isinstance(value, dict) and set(value) == {"rolling"}:
        keep = parse_duration(value["rolling"])
        if keep < MIN_ROLLING:
            raise ValueError(f"rolling must keep at least {format_duration(MIN_ROLLING)}")
        return RetentionClass(keep)
    raise ValueError("expected `hold` or `rolling: <duration>` (e.g. rolling: 400d)")


def _retention_text(value: RetentionClass) -> Any:
    return "hold" if value.keep is None else {"rolling": format_duration(value.keep)}


Retention = Annotated[
    RetentionClass, PlainValidator(_retention_class), PlainSerializer(_retention_text)
]
TargetId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]


class RetentionSettings(_Strict):
    """Retention classes (README « Retention »): `watchdog retention plan|apply` prunes by them.

    A target's class is `hold` when its own entry or any of its tags' says so; otherwise the
    longest `rolling` among its entry and its tags', else `default`.
    """

    default: Retention = RetentionClass(DEFAULT_ROLLING)
    targets: dict[TargetId, Retention] = Field(default_factory=dict)
    tags: dict[str, Retention] = Field(default_factory=dict)


class Config(_Strict):
    watchdog: WatchdogSettings = Field(default_factory=WatchdogSettings)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    politeness: PolitenessSettings = Field(default_factory=PolitenessSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    probing: ProbingSettings = Field(default_factory=ProbingSettings)
    workers: WorkersSettings = Field(default_factory=WorkersSettings)
    assist: AssistSettings = Field(default_factory=AssistSettings)
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    # Host-wide windows, keyed by host name or host:port, on top of each target's own.
    maintenance: dict[str, list[MaintenanceWindow]] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)

    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        return self._source

    def target(self, target_id: str) -> Target | None:
        return next((t for t in self.targets if t.id == target_id), None)

    def host_allowed(self, host: str) -> bool:
        return host_allowed(host, self.watchdog.allowed_hosts)

    @property
    def request_client(self) -> RequestClient:
        """The request engine's HTTP client (`browser.request_client`, or its default)."""
        chosen = self.browser.request_client
        if chosen is not None:
            return chosen
        socks = (self.watchdog.proxy or "").lower().startswith("socks5:")
        return RequestClient.PLAYWRIGHT if socks else RequestClient.AIOHTTP

    def engine_for(self, target: Target) -> EngineChoice:
        return target.engine or self.probing.engine

    def screenshots_for(self, target: Target) -> Screenshots:
        return target.screenshots or self.probing.screenshots

    def publication_for(self, target: Target) -> PublicationProbes:
        return target.publication or self.probing.publication

    def retention_for(self, target: Target) -> RetentionClass:
        """`target`'s retention class (RetentionSettings says how one is chosen)."""
        rules = self.retention
        found = [rules.targets[target.id]] if target.id in rules.targets else []
        found += [rules.tags[tag] for tag in target.tags if tag in rules.tags]
        if not found:
            return rules.default
        kept = [c.keep for c in found if c.keep is not None]
        return RetentionClass(None if len(kept) < len(found) else max(kept))

    @property
    def audits_scheduled(self) -> bool:
        """Whether `watchdog run` schedules audits (AuditSettings: on unless simulated)."""
        enabled = self.audit.enabled
        return enabled if enabled is not None else not self.watchdog.simulated


def host_allowed(host: str, patterns: list[str]) -> bool:
    host = host.lower()
    return any(host == p.lower() or fnmatch.fnmatchcase(host, p.lower()) for p in patterns)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
