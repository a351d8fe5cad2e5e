"""A declarative journey for any other site: steps, then classification rules.

Actions are `goto`, `click`, `check`, `select`, `fill` (non-personal values only) and
`wait_for`. Rules map text, a regular expression or a selector to an outcome; the first
matching rule wins, and the generic French rules still run when none matches.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from watchdog.domain.models import Outcome
from watchdog.probe.session import (
    ACT_MS,
    Classification,
    Labels,
    PageState,
    PlatformSpec,
    ProbeSession,
)

# Field hints and value shapes that mean personal data: a probe never types those (rule 1).
_PERSONAL_FIELD = re.compile(
    r"nom|name|pr[ée]nom|mail|t[ée]l|phone|agdref|naissance|birth|adresse|address|passport|"
    r"etranger|password|mot.de.passe|iban|civilit",
    re.IGNORECASE,
)
_PERSONAL_VALUE = re.compile(r"@|^\+?\d[\d .-]{8,}$")


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Goto(_Action):
    goto: str


class Click(_Action):
    click: str
    navigates: bool = True


class Check(_Action):
    check: str


class Select(_Action):
    select: str
    value: str


class Fill(_Action):
    fill: str
    value: str

    @model_validator(mode="after")
    def _non_personal(self) -> Fill:
        if _PERSONAL_FIELD.search(self.fill) or _PERSONAL_VALUE.search(self.value):
            raise ValueError("fill looks like personal data; a probe never submits personal data")
        return self


class WaitFor(_Action):
    wait_for: str
    timeout_s: float = 10.0


_ACTION_KEYS = ("goto", "click", "check", "select", "fill", "wait_for")


def _action_kind(value: Any) -> str | None:
    """The action's verb, so a bad step reports its own errors, not every variant's."""
    if isinstance(value, dict):
        keys = value.keys()
    elif isinstance(value, BaseModel):
        keys = type(value).model_fields.keys()
    else:
        return None  # not a mapping: reported as « a step needs one of … » at the step itself
    return next((key for key in _ACTION_KEYS if key in keys), None)


Action = Annotated[
    Annotated[Goto, Tag("goto")]
    | Annotated[Click, Tag("click")]
    | Annotated[Check, Tag("check")]
    | Annotated[Select, Tag("select")]
    | Annotated[Fill, Tag("fill")]
    | Annotated[WaitFor, Tag("wait_for")],
    Discriminator(
        _action_kind,
        custom_error_type="unknown_action",
        custom_error_message=f"a step needs one of {', '.join(_ACTION_KEYS)}",
    ),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    regex: str | None = None
    selector: str | None = None
    outcome: Outcome
    detail: str = "rule"
    count: Annotated[str | None, Field(description="regex whose matches count the slots")] = None

    @field_validator("regex", "count")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> Rule:
        if sum(x is not None for x in (self.text, self.regex, self.selector)) != 1:
            raise ValueError("a rule needs exactly one of text, regex or selector")
        return self


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Action] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)
    engine: Literal["browser"] = "browser"


async def _run(session: ProbeSession, index: int, action: Action) -> None:
    page = session.page
    name = f"step_{index}"
    if isinstance(action, Goto):
        await session.goto(action.goto, name)
    elif isinstance(action, Click):
        # Every action first answers a known consent banner; a target that cannot be acted
        # on is our failure (probe_error with its detail), not the site's timeout.
        what = f"step {index} ({action.click})"
        if action.navigates:
            await session.click_to(page.locator(action.click), name, what)
        else:
            await session.act(
                page.locator(action.click),
                what,
                lambda element: element.click(timeout=ACT_MS, no_wait_after=True),
            )
    elif isinstance(action, Check):
        await session.tick(page.locator(action.check), f"step {index} ({action.check})")
    elif isinstance(action, Select):
        value = action.value
        await session.act(
            page.locator(action.select),
            f"step {index}",
            lambda element: element.select_option(value, timeout=ACT_MS),
        )
    elif isinstance(action, Fill):
        text = action.value
        await session.act(
            page.locator(action.fill),
            f"step {index}",
            lambda element: element.fill(text, timeout=ACT_MS),
        )
    else:
        await page.locator(action.wait_for).first.wait_for(timeout=action.timeout_s * 1000)


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "entry")
    for index, action in enumerate(options.steps, start=1):
        await _run(session, index, action)
    return await session.state()


def _selector_present(html: str, selector: str) -> bool:
    # Static check for golden tests: `#id`, `.class` or a tag name; richer selectors are
    # resolved in the browser by the probe via `wait_for`.
    if selector.startswith("#"):
        return f'id="{selector[1:]}"' in html
    if selector.startswith("."):
        return re.search(rf"class=\"[^\"]*\b{re.escape(selector[1:])}\b", html) is not None
    return f"<{selector}" in html


def _matches(rule: Rule, state: PageState) -> str | None:
    if rule.text is not None:
        return next((line for line in state.lines if rule.text.lower() in line.lower()), None)
    if rule.regex is not None:
        found = re.search(rule.regex, state.text)
        return found.group(0) if found else None
    assert rule.selector is not None
    return rule.selector if _selector_present(state.html, rule.selector) else None


def classify(state: PageState, options: Options) -> Classification | None:
    for rule in options.rules:
        hit = _matches(rule, state)
        if hit is None:
            continue
        slots = len(re.findall(rule.count, state.html)) if rule.count else None
        message = hit if rule.selector is None else None
        return Classification(rule.outcome, rule.detail, message, slots)
    return None


SPEC = PlatformSpec(
    name="steps",
    labels=Labels(
        fr="parcours décrit dans la configuration", en="journey described in the configuration"
    ),
    options=Options,
    probe=probe,
    classify=classify,
)
