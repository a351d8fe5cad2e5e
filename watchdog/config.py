"""The configuration schema and its strict loader (DESIGN §3).

This is the only module that reads the environment. Every problem found is reported,
each with file, line and key; nothing is silently ignored (unknown keys are errors).
"""

from __future__ import annotations

import fnmatch
import glob
import ipaddress
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from probes import REGISTRY
from watchdog import __version__
from watchdog.durations import Duration
from watchdog.errors import ConfigError, ConfigProblem
from watchdog.models import EngineChoice, Platform, Procedure, Profile, Screenshots
from watchdog.notify.settings import NotificationSettings
from watchdog.yamlpos import KeyPath, Located, dotted, load_located, raise_problem

DEFAULT_CONFIG = Path("config/watchdog.yaml")
CONFIG_ENV = "WATCHDOG_CONFIG"
DEFAULT_USER_AGENT = (
    f"prefecture-watchdog/{__version__} "
    "(+https://github.com/prefecture-watchdog/prefecture-watchdog; observe-only)"
)
LOOPBACK_MIN_INTERVAL = timedelta(seconds=1)
PUBLIC_MIN_INTERVAL = timedelta(minutes=1)
PARIS = ZoneInfo("Europe/Paris")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WatchdogSettings(_Strict):
    data_dir: Path = Path("./data")
    database_url: str | None = None
    user_agent: str = DEFAULT_USER_AGENT
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*.gouv.fr"])
    min_interval: Duration = timedelta(minutes=2)
    vantage: str = "default"
    simulated: bool = False


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
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9788


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


def clock_minutes(text: str) -> int:
    """Minutes since midnight of "HH:MM" (24:00 allowed as the end of the day)."""
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"hours: {text!r} is not a time of day")
    return hours * 60 + minutes


def in_paris(value: datetime) -> datetime:
    """An aware instant: naive config times are Europe/Paris wall-clock times."""
    return value if value.tzinfo is not None else value.replace(tzinfo=PARIS)


class SchedulerSettings(_Strict):
    """How `watchdog run` schedules and stops (DESIGN §5)."""

    grace_period: Duration = timedelta(seconds=30)  # in-flight probes may finish on SIGTERM
    probe_overrun: Duration = timedelta(seconds=60)  # beyond probe_timeout, a probe is abandoned
    seed: int | None = None  # fixes the spread of start times (tests, benchmarks)


class ProbingSettings(_Strict):
    """Defaults for every target (issue 7); a target may set either key itself."""

    engine: EngineChoice = EngineChoice.BROWSER
    screenshots: Screenshots = Screenshots.EVERY


class Target(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
    department: Annotated[str, Field(pattern=r"^(0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5]|2A|2B|97[1-6])$")]
    prefecture: str
    site: str | None = None
    procedure: Procedure
    label: str
    platform: Platform
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    interval: Duration = timedelta(minutes=15)
    options: dict[str, Any] = Field(default_factory=dict)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    enabled: bool = True
    engine: EngineChoice | None = None  # None: probing.engine
    screenshots: Screenshots | None = None  # None: probing.screenshots

    _parsed_options: BaseModel | None = PrivateAttr(default=None)

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def netloc(self) -> str:
        """Host and port: the key of politeness budgets."""
        return urlsplit(self.url).netloc.lower()

    @property
    def parsed_options(self) -> BaseModel:
        if self._parsed_options is None:
            self._parsed_options = REGISTRY[self.platform].options.model_validate(self.options)
        return self._parsed_options


class Config(_Strict):
    watchdog: WatchdogSettings = Field(default_factory=WatchdogSettings)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    politeness: PolitenessSettings = Field(default_factory=PolitenessSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    probing: ProbingSettings = Field(default_factory=ProbingSettings)
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

    def engine_for(self, target: Target) -> EngineChoice:
        return target.engine or self.probing.engine

    def screenshots_for(self, target: Target) -> Screenshots:
        return target.screenshots or self.probing.screenshots


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


def config_path(explicit: str | None) -> Path | None:
    """The config file to use: --config, then $WATCHDOG_CONFIG, then the default if present."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _problems_from(exc: ValidationError, doc: Located, prefix: KeyPath) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        path = (*prefix, *error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(ConfigProblem(doc.file, doc.line_of(path), dotted(path), message))
    return problems


def _validate_target(
    raw: Any, doc: Located, path: KeyPath
) -> tuple[Target | None, list[ConfigProblem]]:
    try:
        target = Target.model_validate(raw)
    except ValidationError as exc:
        return None, _problems_from(exc, doc, path)
    spec = REGISTRY[target.platform]
    try:
        target._parsed_options = spec.options.model_validate(target.options)
    except ValidationError as exc:
        return None, _problems_from(exc, doc, (*path, "options"))
    return target, []


def _target_docs(
    main: Located, root: Path
) -> tuple[list[tuple[Located, int]], list[ConfigProblem]]:
    """Every (document, index) holding a target: the main file's, then included files'."""
    entries: list[tuple[Located, int]] = []
    problems: list[ConfigProblem] = []
    docs = [main]
    for index, pattern in enumerate(main.data.get("include") or []):
        matches = sorted(glob.glob(str(root / pattern)))
        if not matches:
            problems.append(
                ConfigProblem(
                    main.file,
                    main.line_of(("include", index)),
                    f"include[{index}]",
                    f"no file matches {pattern!r}",
                )
            )
        for match in matches:
            included = load_located(Path(match))
            extra = set(included.data) - {"targets"} if isinstance(included.data, dict) else set()
            for key in sorted(extra):
                problems.append(
                    ConfigProblem(
                        included.file,
                        included.line_of((key,)),
                        key,
                        "unknown key (an included catalog holds only targets)",
                    )
                )
            docs.append(included)
    for doc in docs:
        targets = doc.data.get("targets") if isinstance(doc.data, dict) else None
        if targets is not None and not isinstance(targets, list):
            problems.append(
                ConfigProblem(
                    doc.file, doc.line_of(("targets",)), "targets", "must be a list of targets"
                )
            )
            continue
        entries.extend((doc, i) for i in range(len(targets or [])))
    return entries, problems


def _cross_checks(config: Config, where: dict[str, tuple[Located, KeyPath]]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    floor = config.watchdog.min_interval
    hosts = config.watchdog.allowed_hosts
    all_loopback = all(is_loopback(t.host) for t in config.targets)
    absolute = LOOPBACK_MIN_INTERVAL if all_loopback else PUBLIC_MIN_INTERVAL
    main_doc = where.get("")
    if floor < absolute and main_doc is not None:
        doc, _ = main_doc
        problems.append(
            ConfigProblem(
                doc.file,
                doc.line_of(("watchdog", "min_interval")),
                "watchdog.min_interval",
                f"below the politeness floor of {int(absolute.total_seconds())}s "
                "(shorter floors are allowed only when every target is on loopback)",
            )
        )
    for target in config.targets:
        doc, path = where[target.id]
        if target.interval < floor:
            problems.append(
                ConfigProblem(
                    doc.file,
                    doc.line_of((*path, "interval")),
                    dotted((*path, "interval")),
                    f"{target.interval.total_seconds():g}s is under min_interval "
                    f"({floor.total_seconds():g}s)",
                )
            )
        if not host_allowed(target.host, hosts):
            problems.append(
                ConfigProblem(
                    doc.file,
                    doc.line_of((*path, "url")),
                    dotted((*path, "url")),
                    f"host {target.host!r} is not in watchdog.allowed_hosts {hosts}",
                )
            )
    return problems + _engine_problems(config, where)


def _engine_problems(
    config: Config, where: dict[str, tuple[Located, KeyPath]]
) -> list[ConfigProblem]:
    """`engine: request` only where the platform has a request probe (else browser or auto)."""
    problems = []
    for t in config.targets:
        if config.engine_for(t) is EngineChoice.REQUEST and not REGISTRY[t.platform].request_probe:
            doc, path = where[t.id] if t.engine else where[""]
            key = (*path, "engine") if t.engine else ("probing", "engine")
            why = f"platform {t.platform.value} has no request engine: use browser or auto"
            problems.append(ConfigProblem(doc.file, doc.line_of(key), dotted(key), why))
    return problems


def load_config(path: Path) -> Config:
    """Load and validate `path` and its includes; raise ConfigError listing every problem."""
    main = load_located(path)
    if not isinstance(main.data, dict):
        raise_problem(main.file, 1, "(top level)", "the configuration must be a mapping")
    problems = list(main.duplicates)
    base = {k: v for k, v in main.data.items() if k != "targets"}
    try:
        config = Config.model_validate(base)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, main, ()))
        config = Config()
    entries, include_problems = _target_docs(main, path.parent)
    problems.extend(include_problems)
    where: dict[str, tuple[Located, KeyPath]] = {"": (main, ())}
    targets: list[Target] = []
    for doc, index in entries:
        if doc is not main:
            problems.extend(p for p in doc.duplicates if p not in problems)
        tpath: KeyPath = ("targets", index)
        target, target_problems = _validate_target(doc.data["targets"][index], doc, tpath)
        problems.extend(target_problems)
        if target is None:
            continue
        if target.id in where:
            first_doc, first_path = where[target.id]
            problems.append(
                ConfigProblem(
                    doc.file,
                    doc.line_of((*tpath, "id")),
                    dotted((*tpath, "id")),
                    f"duplicate target id {target.id!r} (first defined at "
                    f"{first_doc.file}:{first_doc.line_of(first_path)})",
                )
            )
            continue
        where[target.id] = (doc, tpath)
        targets.append(target)
    config.targets = targets
    problems.extend(_cross_checks(config, where))
    if problems:
        raise ConfigError(problems)
    config._source = str(path)
    return config
