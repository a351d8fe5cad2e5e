"""What a probe works with and what it returns (docs/design.md §1).

A probe drives one platform through a `ProbeSession` and returns the final `PageState`.
It never catches broad exceptions, never times itself and never stores anything: the
runner owns all of that. A platform's `classify` reads a `PageState` (HTML only, so the
same function runs on golden fixtures) and returns a `Classification` or None when its
markers do not apply; generic French rules run after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from playwright.async_api import TimeoutError as PlaywrightTimeout
from pydantic import BaseModel

from watchdog.domain.errors import HostNotAllowed, ProbeError
from watchdog.domain.models import CaptchaSeen, Engine, Outcome, SlotSeen, Step
from watchdog.probe import consent
from watchdog.probe.pagetext import page_title, visible_lines

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page, Response

    from watchdog.probe.requesting import RequestProbeFunction


@dataclass(frozen=True)
class PageState:
    """The page a probe ended on, as the classifier sees it."""

    url: str
    status: int | None
    html: str
    dialogs: tuple[str, ...] = ()
    redirects: tuple[str, ...] = ()

    @cached_property
    def lines(self) -> list[str]:
        return visible_lines(self.html)

    @cached_property
    def text(self) -> str:
        return "\n".join(self.lines)

    @cached_property
    def title(self) -> str:
        return page_title(self.html)


@dataclass(frozen=True)
class Classification:
    """What the page means: an outcome from the closed vocabulary and its readings."""

    outcome: Outcome
    detail: str
    message: str | None = None
    slots: int | None = None
    earliest_slot: datetime | None = None
    published_next: datetime | None = None
    slots_seen: tuple[SlotSeen, ...] | None = None  # each slot offered, where read


class PlatformClassifier(Protocol):
    def __call__(self, state: PageState, options: Any) -> Classification | None: ...


HostCheck = Callable[[str], bool]
# Called with the page, its step name and URL before the journey leaves a step page (an
# accessibility audit, watchdog/a11y/audit.py); it only reads the page.
PageHook = Callable[["Page", str, str], Awaitable[None]]


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@dataclass
class ProbeSession:
    """A fresh browser page plus the trail of steps; the only handle a probe gets."""

    page: Page
    url: str
    target_id: str
    host_allowed: HostCheck
    action_timeout_ms: float = 15_000
    steps: list[Step] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)  # files the site sent instead of pages
    crashed: bool = False  # the page crashed its renderer
    captcha: CaptchaSeen | None = None  # what a captcha page offered (watchdog/probe/captcha.py)
    last_status: int | None = None
    last_redirects: tuple[str, ...] = ()
    before_leaving: PageHook | None = None
    _dialog_came: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def note_dialog(self, message: str) -> None:
        """Called for every `alert()`/`confirm()` the page opens (the runner dismisses it)."""
        self.dialogs.append(message)
        self._dialog_came.set()

    async def dialog_within(self, timeout_s: float) -> bool:
        """Wait for the page's next dialog (an `alert()` the site may open after `load`), at
        most `timeout_s`; True at once if one is already recorded."""
        if self.dialogs:
            return True
        self._dialog_came.clear()
        try:
            await asyncio.wait_for(self._dialog_came.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _check_host(self, url: str) -> None:
        if not self.host_allowed(host_of(url)):
            raise HostNotAllowed(f"navigation to {host_of(url)!r} refused: not in allowed_hosts")

    def _record(self, name: str, response: Response | None, started: float) -> None:
        ms = int((time.perf_counter() - started) * 1000)
        url = response.url if response is not None else self.page.url
        self._check_host(url)
        status = response.status if response is not None else None
        redirects: list[str] = []
        if response is not None:
            request = response.request.redirected_from
            while request is not None:
                self._check_host(request.url)
                redirects.insert(0, request.url)
                request = request.redirected_from
        self.last_status = status
        self.last_redirects = tuple(redirects)
        self.steps.append(Step(name=name, url=url, status=status, ms=ms))

    def note_failed_request(self, url: str, is_navigation: bool) -> None:
        """Called for every failed request: remembers navigations we refused to resolve."""
        if is_navigation and not self.host_allowed(host_of(url)):
            self.refused.append(url)

    def check_refused(self, cause: BaseException | None = None) -> None:
        """A navigation to a host outside `allowed_hosts` was refused (a redirect, a script, a
        meta refresh): the page we hold is not the one the site meant."""
        if self.refused:
            host = host_of(self.refused[-1])
            raise HostNotAllowed(f"redirect to {host!r} refused: not in allowed_hosts") from cause

    def _failed(self, name: str, url: str, started: float) -> None:
        ms = int((time.perf_counter() - started) * 1000)
        self.steps.append(Step(name=name, url=url, status=None, ms=ms))

    async def goto(self, url: str, step: str) -> Response | None:
        """Load `url` as the named step of the journey."""
        self._check_host(url)
        await self.leaving()
        started = time.perf_counter()
        try:
            response = await self.page.goto(url, wait_until="load")
        except BaseException as exc:
            # Keep the attempt in the trail even when the site never answered.
            self._failed(step, url, started)
            self.check_refused(exc)
            raise
        self._record(step, response, started)
        return response

    async def navigate_by(self, action: Callable[[], Awaitable[None]], step: str) -> None:
        """Run `action` (a click, a submit) and record the navigation it causes."""
        await self.leaving()
        started = time.perf_counter()
        try:
            async with self.page.expect_navigation(wait_until="load") as navigation:
                await action()
            response = await navigation.value
        except ProbeError:  # we could not act: no step was taken
            raise
        except BaseException as exc:
            self._failed(step, self.page.url, started)
            self.check_refused(exc)
            raise
        self._record(step, response, started)

    async def leaving(self) -> None:
        """The journey is about to leave the page it holds: `before_leaving` reads it first."""
        step = self.page_step
        if self.before_leaving is not None and step is not None:
            await self.before_leaving(self.page, step.name, step.url)

    @property
    def page_step(self) -> Step | None:
        """The trail step of the last page the journey loaded (None before the first)."""
        pages = [s for s in self.steps if not s.name.startswith(NOT_PAGES)]
        return pages[-1] if pages else None

    @property
    def loaded_url(self) -> str:
        """The address of the last page the journey loaded (the HTTP answer's, not the address
        bar a script may rewrite); consent answers and popups are steps, not pages."""
        pages = [s for s in self.steps if not s.name.startswith(NOT_PAGES)]
        return pages[-1].url if pages else self.page.url

    async def exists(self, selector: str) -> bool:
        return await self.page.locator(selector).count() > 0

    async def dismiss_consent(self) -> None:
        """Answer any known consent banner on the page; each answer goes into the trail."""
        started = time.perf_counter()
        for answered in await consent.dismiss(self.page):
            ms = int((time.perf_counter() - started) * 1000)
            self.steps.append(Step(name=answered.step_name, url=self.page.url, status=None, ms=ms))

    async def act(
        self, target: Locator, what: str, action: Callable[[Locator], Awaitable[object]]
    ) -> None:
        """`action` on `target`'s first element, as a person would: once any known consent
        banner is answered, and once more if a banner came up over it meanwhile.

        Anything that stops it (no such element, hidden, disabled, covered by an overlay we
        could not dismiss) is our failure to act, `probe_error` with a precise detail, never
        a site timeout: the site has answered, we could not go on. The action's own checks
        say so (Playwright waits until the element can take it, and its timeout's call log
        says why it could not): no trial run before it.
        """
        await self._act(await self._element(target, what), what, action)

    async def _element(self, target: Locator, what: str) -> Locator:
        """`target`'s first element, once any known consent banner is answered."""
        if await target.count() == 0:
            raise ProbeError(f"{what}: no such element on the page", "element_missing")
        await self.dismiss_consent()
        return target.first

    async def _act(
        self, element: Locator, what: str, action: Callable[[Locator], Awaitable[object]]
    ) -> None:
        try:
            await action(element)
            return
        except PlaywrightTimeout as exc:
            detail, error = not_actionable(str(exc)), exc
        if detail == "click_intercepted":  # a banner may have appeared since we looked
            await self.dismiss_consent()
            try:
                await action(element)
                return
            except PlaywrightTimeout as exc:
                detail, error = not_actionable(str(exc)), exc
        raise ProbeError(f"{what}: {detail.replace('_', ' ')}", detail) from error

    async def click_to(self, target: Locator, step: str, what: str) -> None:
        """Click `target` (a link or a submit) and record the navigation it causes."""
        element = await self._element(target, what)
        # The click returns once dispatched: waiting for the site's answer is the
        # navigation's wait (the probe's deadline), never the click's.
        await self.navigate_by(lambda: self._act(element, what, _click), step)

    async def click_answered(self, target: Locator, step: str, what: str) -> bool:
        """Click `target` (a button whose script may refuse what we typed) and wait for the
        site's answer, whichever comes first: the navigation it causes, recorded as `step`
        (True), or an `alert()` that refuses it and leaves the page where it was (False; the
        alert is in `dialogs`). An alert the next page opens while loading does not count:
        the address has changed by then, so the navigation is still waited for.
        """
        element = await self._element(target, what)
        started = time.perf_counter()
        address = self.page.url
        self._dialog_came.clear()
        try:
            async with self.page.expect_navigation(wait_until="load") as navigation:
                await self._act(element, what, _click)
                if not await self._navigates(navigation.value, address):
                    self._failed(step, self.page.url, started)
                    raise _Refused  # leaving the block abandons the navigation wait
            response = await navigation.value
        except _Refused:
            return False
        except ProbeError:  # we could not click: no step was taken
            raise
        except BaseException as exc:
            self._failed(step, self.page.url, started)
            self.check_refused(exc)
            raise
        self._record(step, response, started)
        return True

    async def _navigates(self, navigated: Awaitable[Response], address: str) -> bool:
        """False once an alert comes while the page is still at `address`; True once the
        navigation is done (or has failed: awaiting it again raises its error)."""
        pending = asyncio.ensure_future(navigated)
        try:
            while True:
                alerted = asyncio.ensure_future(self._dialog_came.wait())
                done, _ = await asyncio.wait(
                    {pending, alerted}, return_when=asyncio.FIRST_COMPLETED
                )
                alerted.cancel()
                if pending in done:
                    return True
                if self.page.url == address:
                    return False
                self._dialog_came.clear()  # the next page's own alert: it is loading
        finally:
            if not pending.done():
                pending.cancel()

    async def tick(self, target: Locator, what: str) -> None:
        """Check a checkbox or a radio button, as a person would."""
        await self.act(target, what, lambda element: element.check(timeout=ACT_MS))

    async def wait_for_content(self, condition: str, timeout_ms: float) -> bool:
        """Wait until the page's script says `condition` (a JS expression) holds.

        Content that scripts or XHR deliver after `load` is read once it is there; False when
        it never came (which is not evidence of anything the site said).
        """
        try:
            await self.page.wait_for_function(condition, timeout=timeout_ms, polling=100)
        except PlaywrightTimeout:
            return False
        return True

    async def state(self) -> PageState:
        return PageState(
            url=self.loaded_url,
            status=self.last_status,
            html=await self.page.content(),
            dialogs=tuple(self.dialogs),
            redirects=self.last_redirects,
        )


class _Refused(Exception):
    """The site answered a click with an alert instead of a navigation."""


async def _click(element: Locator) -> None:
    await element.click(timeout=ACT_MS, no_wait_after=True)


ProbeFunction = Callable[[ProbeSession, Any], Awaitable[PageState]]
ACT_MS = 5_000  # how long an action waits for its element to be able to take it
NOT_PAGES = ("consent:", "popup", "expand_skipped", "captcha:")  # trail steps that load no page
_NOT_ACTIONABLE = (
    ("intercepts pointer events", "click_intercepted"),
    ("element is not visible", "element_hidden"),
    ("element is not enabled", "element_disabled"),
    ("element is outside of the viewport", "element_hidden"),
)


def not_actionable(error: str) -> str:
    """Why Playwright could not act on an element, from its call log."""
    for marker, detail in _NOT_ACTIONABLE:
        if marker in error:
            return detail
    if "locator resolved to" not in error:
        return "element_missing"
    return "element_not_actionable"


@dataclass(frozen=True)
class Credentials:
    """Secrets the site operator gave us (sanctioned bypass); sent to the target host only."""

    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.headers or self.cookies)

    def secret_values(self) -> list[str]:
        return [v for v in (*self.headers.values(), *self.cookies.values()) if v]


def no_credentials(options: Any) -> Credentials:
    return Credentials()


@dataclass(frozen=True)
class Labels:
    """A platform's name as a report prints it, in each language of the reports."""

    fr: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass(frozen=True)
class PlatformSpec:
    """One registry entry: everything the core knows about a platform (docs/architecture.md).

    `name` is the value of `platform:` in the configuration and in every observation; `books`
    is False for a portal that files applications and books nothing (never in the no-slot rate,
    worded as a portal in reports).
    """

    name: str
    labels: Labels
    options: type[BaseModel]
    probe: ProbeFunction
    classify: PlatformClassifier
    credentials: Callable[[Any], Credentials] = no_credentials
    needs_browser: bool = True
    # The cheap path (watchdog/probe/requesting.py): the same journey as plain HTTP requests, for
    # platforms whose availability is in server-rendered HTML. None: browser only.
    request_probe: RequestProbeFunction | None = None
    books: bool = True
    # After a person answered a captcha in an assisted session (watchdog/assist/): read the
    # slot page again on the parked page. None: the platform has no assisted mode.
    assisted_read: ProbeFunction | None = None

    @property
    def engines(self) -> tuple[Engine, ...]:
        """The engines that can run its journey: the browser always, requests where written."""
        return (Engine.BROWSER, Engine.REQUEST) if self.request_probe else (Engine.BROWSER,)
