"""Scenario files: which state each simulated target shows, and when.

A scenario is a YAML file (unknown keys are errors, reported as file:line:key)::

    simulated: true                 # required marker; a scenario is never a live config
    seed: 42                        # seeds every random draw (one generator per target)
    captcha_answer: "TEST1234"      # the only answer the fake CaptchEtat accepts
    operator_token: "op-secret"     # sanctioned bypass: X-Operator-Token header or cookie
    hang_max: 5m                    # a `hang` fault gives up (504) after this long
    targets:
      - key: ain-804                # free label used in logs ([a-z0-9-]+)
        platform: legacy_booking    # legacy_booking | rdv_prefecture | eappointment | anef
        id: 804                     # booking id | demarche id | eAppointment sitekey | ANEF mount
        label: "Rendez-vous titres de séjour"
        site_name: "Préfecture de l'Ain"
        plannings: {"1234": "Remise d'un titre de séjour - GUICHET 4 B - Nanterre"}
        success_step: 3             # legacy: 3 or 4, the step reached when slots exist
        session_lifetime: 15m       # rdv: how long a solved captcha keeps creneau/ open
        rate_limit: {requests: 10, window: 60s, ban: 0s}   # 403 beyond, per client
        cookie_banner: tarteaucitron          # tarteaucitron | simple | none
        behaviour:                  # evaluated in order when a journey starts; first match wins
          - {hours: "8-10", weekdays: [0, 1, 2, 3, 4], state: overloaded, probability: 0.5}
          - {state: slots, probability: 0.25, slots: 3, first_slot_in_days: 12}
          - {publish: {every: 3m, lifetime: 1m, slots: 4}}
          - {fault: http_502, at_step: 2, probability: 0.1}
          - {state: no_slot}

A rule matches when its `hours` (local Europe/Paris, half-open "8-10" = 08:00–09:59, several
ranges "8-10,14:30-16") and `weekdays` (0 = Monday) contain the journey's start and its
`probability` draw succeeds. No match gives the platform's default state (`no_slot`; ANEF `up`).

`state` is a platform state (legacy: no_slot, slots, closed, retired; rdv: no_slot, slots,
session_expired; eappointment: no_slot, slots, error; anef: up, maintenance, error, login_wall).
A fault name written as `state` is read as `fault`. `fault` (http_502, http_503, http_504,
overloaded, hang, slow, reset, blocked, redesign) answers the journey's first request, or every
request to `at_step` when given, in place of the page (`slow` waits `delay`, then serves it).
`status` picks the HTTP status where a page has two (overloaded 200|503, maintenance 200|503,
retired 200|403, error 200|500, blocked 403|429). `variant` picks a message (rdv no_slot:
week|last_week|hidden|day; eappointment no_slot: motifs|service; anef error: http|spa).

`publish` releases `slots` at fixed local times (`at: ["09:00"]`) and/or every `every` from
midnight (+`offset`); they stay for `lifetime` (`taken: {share: 0.5, after: 5s}`: the first
half of them, earliest first, only for 5 s, as if captured), otherwise the page says no slot and, on
RDV-Préfecture, shows the next and last publication instants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from watchdog.domain.errors import ConfigError, ConfigProblem
from watchdog.domain.models import Platform
from watchdog.simulator.units import Duration, HourWindows, IdStr, parse_clock
from watchdog.simulator.variants import PLATFORM_VARIANTS, Variant


class State(StrEnum):
    NO_SLOT = "no_slot"
    SLOTS = "slots"
    CLOSED = "closed"
    RETIRED = "retired"
    SESSION_EXPIRED = "session_expired"
    ERROR = "error"
    UP = "up"
    MAINTENANCE = "maintenance"
    LOGIN_WALL = "login_wall"


class Fault(StrEnum):
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    OVERLOADED = "overloaded"
    HANG = "hang"
    SLOW = "slow"
    RESET = "reset"
    BLOCKED = "blocked"
    REDESIGN = "redesign"


PLATFORM_STATES: dict[Platform, frozenset[State]] = {
    "legacy_booking": frozenset({State.NO_SLOT, State.SLOTS, State.CLOSED, State.RETIRED}),
    "rdv_prefecture": frozenset({State.NO_SLOT, State.SLOTS, State.SESSION_EXPIRED}),
    "eappointment": frozenset({State.NO_SLOT, State.SLOTS, State.ERROR}),
    "anef": frozenset({State.UP, State.MAINTENANCE, State.ERROR, State.LOGIN_WALL}),
}
DEFAULT_STATE: dict[Platform, State] = {
    "legacy_booking": State.NO_SLOT,
    "rdv_prefecture": State.NO_SLOT,
    "eappointment": State.NO_SLOT,
    "anef": State.UP,
}
# Names accepted by `at_step`: the request a fault replaces (legacy: the URL step number).
PLATFORM_STEPS: dict[Platform, tuple[str, ...]] = {
    "legacy_booking": ("0", "1", "2", "3", "4"),
    "rdv_prefecture": ("landing", "cgu", "captcha", "creneau"),
    "eappointment": ("start", "motive", "calendar"),
    "anef": ("home", "api"),
}
VARIANTS: dict[tuple[Platform, State], tuple[str, ...]] = {
    ("rdv_prefecture", State.NO_SLOT): ("week", "last_week", "hidden", "day"),
    ("eappointment", State.NO_SLOT): ("motifs", "service"),
    ("anef", State.ERROR): ("http", "spa"),
}
STATUS_CHOICES: dict[str, tuple[int, ...]] = {
    Fault.OVERLOADED: (503, 200),
    Fault.BLOCKED: (403, 429),
    State.MAINTENANCE: (503, 200),
    State.RETIRED: (200, 403),
    State.ERROR: (500, 200),
}
MAX_SLOTS = 56


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Model):
    """At most `requests` per `window` per client; beyond, 403 (and for `ban` after that)."""

    requests: int = Field(ge=1)
    window: Duration = 60.0
    ban: Duration = 0.0


class Taken(_Model):
    """A share of each publication's slots gone within seconds (captured, as the issue-19
    constat measures): the first `share` of them, earliest first, vanish `after` the instant."""

    share: float = Field(ge=0.0, le=1.0)
    after: Duration = 5.0


class Publish(_Model):
    """Slots released at fixed instants, visible for `lifetime` after each (`taken`: a share of
    them for only a few seconds)."""

    at: list[str] = Field(default_factory=list)
    every: Duration | None = None
    offset: Duration = 0.0
    lifetime: Duration = 300.0
    slots: int = Field(default=3, ge=1, le=MAX_SLOTS)
    first_slot_in_days: int = Field(default=14, ge=0, le=365)
    taken: Taken | None = None

    @model_validator(mode="after")
    def _check(self) -> Publish:
        if not self.at and not self.every:
            raise ValueError("publish needs `at` (times of day) or `every` (a period)")
        if self.taken is not None and self.taken.after >= self.lifetime:
            raise ValueError("taken.after must be shorter than lifetime")
        for text in self.at:
            if parse_clock(text) >= 24 * 60:
                raise ValueError(f"publication time {text!r} must be before 24:00")
        if self.every is not None and self.every < 1:
            raise ValueError("`every` must be at least 1s")
        return self

    @property
    def at_minutes(self) -> list[int]:
        return [parse_clock(t) for t in self.at]


class Rule(_Model):
    """One line of a target's behaviour."""

    state: State | None = None
    fault: Fault | None = None
    publish: Publish | None = None
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    hours: HourWindows = None
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    at_step: IdStr | None = None
    slots: int = Field(default=3, ge=1, le=MAX_SLOTS)
    first_slot_in_days: int = Field(default=12, ge=0, le=365)
    delay: Duration = 0.0
    status: int | None = None
    variant: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _fault_as_state(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("state") in set(Fault) and "fault" not in data:
            data = dict(data)
            data["fault"] = data.pop("state")
        return data

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.publish is not None and self.state is not None:
            raise ValueError("a rule has either `state` or `publish`, not both")
        if self.fault is Fault.SLOW and self.delay <= 0:
            raise ValueError("fault `slow` needs a positive `delay`, e.g. delay: 3s")
        if self.status is not None:
            key = self.fault if self.fault in STATUS_CHOICES else self.state
            allowed = STATUS_CHOICES.get(key or "", ())
            if self.status not in allowed:
                raise ValueError(f"`status` {self.status} is not allowed here (allowed: {allowed})")
        return self

    def status_or(self, default: int) -> int:
        return self.status if self.status is not None else default


class Target(_Model):
    """One simulated booking journey."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    platform: Platform
    id: IdStr = ""
    label: str | None = None
    site_name: str | None = None
    plannings: dict[IdStr, str] = Field(default_factory=dict)
    success_step: Literal[3, 4] = 3
    session_lifetime: Duration = 900.0
    rate_limit: RateLimit | None = None
    cookie_banner: (
        Literal[
            "tarteaucitron",
            "tarteaucitron_center",
            "tarteaucitron_late",
            "simple",
            "paris",
            "accepter",
            "none",
        ]
        | None
    ) = None
    variants: list[Variant] = Field(default_factory=list)
    behaviour: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Target:
        if self.platform not in PLATFORM_STATES:
            raise ValueError(f"platform {self.platform!r} is not simulated")
        _check_id(self)
        if self.plannings and self.platform != "legacy_booking":
            raise ValueError("`plannings` only applies to legacy_booking")
        wrong = sorted(set(self.variants) - PLATFORM_VARIANTS[self.platform])
        if wrong:
            raise ValueError(f"variants {wrong} do not apply to {self.platform}")
        for index, rule in enumerate(self.behaviour):
            _check_rule(self.platform, rule, index)
        return self


def _check_id(target: Target) -> None:
    pattern = {
        "legacy_booking": r"\d+",
        "rdv_prefecture": r"\d+",
        "eappointment": r"[A-Za-z0-9_]+",
        "anef": r"[a-z0-9-]*",
    }[target.platform]
    if not re.fullmatch(pattern, target.id):
        raise ValueError(f"`id` {target.id!r} does not fit {target.platform} ({pattern})")


class NestedError(ValueError):
    """A problem found by a parent model about one of its children, located under it."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _check_rule(platform: Platform, rule: Rule, index: int) -> None:
    if rule.state is not None and rule.state not in PLATFORM_STATES[platform]:
        allowed = ", ".join(sorted(PLATFORM_STATES[platform]))
        raise NestedError(
            ("behaviour", index, "state"),
            f"state {rule.state.value!r} not in {platform} ({allowed})",
        )
    if rule.at_step is not None and rule.at_step not in PLATFORM_STEPS[platform]:
        allowed = ", ".join(PLATFORM_STEPS[platform])
        raise NestedError(
            ("behaviour", index, "at_step"),
            f"at_step {rule.at_step!r} not in {platform} ({allowed})",
        )
    if rule.variant is not None:
        state = rule.state or DEFAULT_STATE[platform]
        variants = VARIANTS.get((platform, state), ())
        if rule.variant not in variants:
            raise NestedError(
                ("behaviour", index, "variant"),
                f"variant {rule.variant!r} not in {variants} for {platform} {state.value}",
            )


class Scenario(_Model):
    """A whole scenario file."""

    simulated: Literal[True] = True
    seed: int = 0
    captcha_answer: str = Field(default="TEST1234", min_length=1)
    operator_token: str | None = Field(default=None, min_length=8)
    hang_max: Duration = 300.0
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        keys = [t.key for t in self.targets]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate target keys: {', '.join(dupes)}")
        ids = [(t.platform, t.id) for t in self.targets]
        clash = sorted({f"{p}:{i}" for p, i in ids if ids.count((p, i)) > 1})
        if clash:
            raise ValueError(f"two targets serve the same page: {', '.join(clash)}")
        return self

    def find(self, platform: Platform, target_id: str) -> Target | None:
        """The target serving `platform` pages for `target_id`, if any."""
        for target in self.targets:
            if target.platform == platform and target.id == target_id:
                return target
        return None

    def by_key(self, key: str) -> Target:
        for target in self.targets:
            if target.key == key:
                return target
        raise KeyError(key)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ConfigError with file:line:key problems."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, "-", f"cannot read: {exc}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(name, line, "-", f"invalid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, 1, "-", "a scenario must be a YAML mapping")])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text)
        problems = []
        for err in exc.errors():
            loc, message = tuple(err["loc"]), err["msg"]
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, NestedError):
                loc, message = loc + cause.loc, str(cause)
            problems.append(ConfigProblem(name, _line_of(root, loc), _dotted(loc), message))
        raise ConfigError(problems) from exc


def _dotted(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "-"


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the deepest YAML node along `loc`."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value if isinstance(value, yaml.Node) else None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child = node.value[part]
        return child if isinstance(child, yaml.Node) else None
    return None
