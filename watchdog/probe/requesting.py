"""The cheap path's session: a journey as plain HTTP requests, no renderer (issue 7).

A `RequestSession` is what a `request_probe` drives instead of a `ProbeSession`: the same
step trail, the same allowed-hosts rule, the same user agent, the same `PageState` at the
end (so the same classifier reads it). It sends its requests through a `Transport`
(watchdog/probe/transport.py: aiohttp, or Playwright's `APIRequestContext`), a new one per
probe, so no cookie survives from one probe to the next. Redirects are followed
here, one hop at a time, so every hop is checked before it is requested. What the final
page's later rendering needs is fetched the same way, once the journey is over
(`RequestSession.resources`, see watchdog/probe/resources.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
from playwright.async_api import Error as PlaywrightError

from watchdog.domain.errors import HostNotAllowed, NeedsBrowser, ProbeError, SiteFault
from watchdog.domain.models import Step
from watchdog.probe.forms import Field, Form, form_by_id
from watchdog.probe.resources import Budget, Resource, css_references, page_references
from watchdog.probe.session import HostCheck, PageState, host_of
from watchdog.probe.transport import Reply, Transport

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
MAX_PAGE_BYTES = 10 * 1024 * 1024  # no booking page comes near it; a bigger one is not a page
_META_REFRESH = re.compile(
    r"<meta\b[^>]*http-equiv=[\"']?refresh[\"']?[^>]*content=[\"']?\s*\d*\s*;\s*url=([^\"'>]+)",
    re.I,
)
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.I)

UrlGuard = Callable[[str], None]
log = logging.getLogger(__name__)
# What Chromium sends for each kind of subresource (a site may answer by the Accept header).
ACCEPT = {
    "stylesheet": "text/css,*/*;q=0.1",
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "css": "*/*",  # a font or a background image: Chromium's Accept for either
}
# What a resource fetch may fail with; the rendering shows that resource missing.
_RESOURCE_FAILURES = (PlaywrightError, aiohttp.ClientError, TimeoutError, ProbeError, SiteFault)


def _no_guard(url: str) -> None:
    return None


@dataclass
class RequestSession:
    """A fresh HTTP client plus the trail of steps; the cheap path's only handle."""

    transport: Transport
    url: str
    target_id: str
    host_allowed: HostCheck
    target_host: str = ""
    operator_headers: dict[str, str] = field(default_factory=dict)
    timeout_ms: float = 15_000
    guard: UrlGuard = _no_guard  # a platform's own refusal (e.g. booking steps), per hop
    steps: list[Step] = field(default_factory=list)
    page_url: str = ""
    html: str = ""
    last_status: int | None = None
    last_redirects: tuple[str, ...] = ()
    server_ip: str | None = None

    def _allow(self, url: str) -> None:
        if not self.host_allowed(host_of(url)):
            raise HostNotAllowed(f"navigation to {host_of(url)!r} refused: not in allowed_hosts")
        self.guard(url)

    def _headers(self, url: str, extra: dict[str, str]) -> dict[str, str]:
        if self.operator_headers and host_of(url) == self.target_host:
            # Operator secrets go to the operator's host only, never to third parties.
            return {**extra, **self.operator_headers}
        return extra

    async def get(self, url: str, step: str) -> PageState:
        """Load `url` as the named step of the journey."""
        return await self._load("GET", url, step, None)

    async def submit(self, form: Form, pairs: list[tuple[str, str]], step: str) -> PageState:
        """Send `form` with `pairs` (see `Form.submission`) and load where it leads."""
        page = self.page_url or self.url
        target = form.target(page)
        # A browser says where the form was (some sites check it before answering).
        sent = {"referer": page}
        if form.method == "GET":
            url = f"{target.split('?')[0]}?{urlencode(pairs)}"
            return await self._load("GET", url, step, None, sent)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(page))
        return await self._load("POST", target, step, urlencode(pairs), sent | {"origin": origin})

    async def _load(
        self, method: str, url: str, step: str, body: str | None, sent: dict[str, str] | None = None
    ) -> PageState:
        started = time.perf_counter()
        try:
            response, url, redirects = await self._follow(method, url, body, sent or {})
            try:
                _refuse_non_page(response.headers, url)
                raw = await response.body(MAX_PAGE_BYTES)
                server_ip = await response.server_ip()
            finally:
                await response.dispose()
            if len(raw) > MAX_PAGE_BYTES:
                raise SiteFault(f"a page of {len(raw)} bytes", detail="page_too_large")
        except BaseException:
            # Keep the attempt in the trail even when the site never answered.
            self.steps.append(Step(name=step, url=url, status=None, ms=_ms(started)))
            raise
        self.html = decode(raw, response.headers.get("content-type", ""))
        self._follow_meta_refresh(url)
        self.page_url, self.last_status, self.last_redirects = url, response.status, redirects
        self.server_ip = server_ip
        self.steps.append(Step(name=step, url=url, status=response.status, ms=_ms(started)))
        return self.state()

    async def fetch_resource(self, url: str, accept: str, timeout_ms: float) -> Resource:
        """A stylesheet, image or font for the current page, hops checked as a page's are."""
        page = self.page_url or self.url
        sent = {"accept": accept, "referer": _referer(page, url)}
        response, _, _ = await self._follow("GET", url, None, sent, timeout_ms)
        try:
            body = await response.body(MAX_PAGE_BYTES)
        finally:
            await response.dispose()
        kind = response.headers.get("content-type", "")
        return Resource(url, response.status, kind, body)

    async def _follow(
        self,
        method: str,
        url: str,
        body: str | None,
        sent: dict[str, str],
        timeout_ms: float | None = None,
    ) -> tuple[Reply, str, tuple[str, ...]]:
        redirects: list[str] = []
        while True:
            self._allow(url)
            headers = dict(sent)
            if body:
                headers["content-type"] = "application/x-www-form-urlencoded"
            response = await self.transport.fetch(
                url, method, body, self._headers(url, headers), timeout_ms or self.timeout_ms
            )
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response, url, tuple(redirects)
            await response.dispose()
            if len(redirects) >= MAX_REDIRECTS:
                raise SiteFault(f"more than {MAX_REDIRECTS} redirects", detail="redirect_loop")
            redirects.append(url)
            url = urljoin(url, location)
            if response.status in (301, 302, 303):
                method, body = "GET", None
                sent = {k: v for k, v in sent.items() if k != "origin"}

    async def resources(self, seconds: float, budget: Budget | None = None) -> list[Resource]:
        """What the current page's rendering needs, fetched now within `seconds` (see
        watchdog/probe/resources.py): stylesheets, what styles ask for (one level), then images.

        Each hop is checked as a page's would be; a resource that fails is left out (the
        rendering shows it missing, as a browser would) and never fails the probe."""
        fetch = _Fetch(self, budget or Budget(), time.monotonic() + seconds)
        refs = page_references(self.html, self.page_url or self.url)
        sheets = [r for url in refs.stylesheets if (r := await fetch.get(url, "stylesheet"))]
        styled = list(refs.inline)
        for sheet in (s for s in sheets if s.status < 400):  # an error page is no stylesheet
            styled += css_references(sheet.body.decode("utf-8", "replace"), sheet.url)
        for url in styled:
            await fetch.get(url, "css")
        for url in refs.images:
            await fetch.get(url, "image")
        return list(fetch.kept.values())

    def _follow_meta_refresh(self, url: str) -> None:
        """A `<meta http-equiv=refresh>` is a redirect a browser follows: refused off-list,
        otherwise left to the browser (the request engine does not wait and reload)."""
        match = _META_REFRESH.search(self.html[:65536])
        if match is None:
            return
        target = urljoin(url, match.group(1).strip(" '\""))
        if not self.host_allowed(host_of(target)):
            raise HostNotAllowed(f"refresh to {host_of(target)!r} refused: not in allowed_hosts")
        raise NeedsBrowser("the page refreshes to another address")

    def form(self, form_id: str) -> Form | None:
        """The form `form_id` of the current page, if it has one."""
        return form_by_id(self.html, form_id)

    def state(self) -> PageState:
        return PageState(
            url=self.page_url or self.url,
            status=self.last_status,
            html=self.html,
            redirects=self.last_redirects,
        )


@dataclass
class _Fetch:
    """One probe's resource fetches: each URL once, within the budget and the deadline."""

    session: RequestSession
    budget: Budget
    deadline: float
    kept: dict[str, Resource] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    size: int = 0

    async def get(self, url: str, kind: str) -> Resource | None:
        left = self.deadline - time.monotonic()
        if url in self.tried or len(self.tried) >= self.budget.count or left <= 0:
            return None
        if self.size >= self.budget.total or not self.session.host_allowed(host_of(url)):
            return None  # an off-list host is never contacted, not even to be refused
        self.tried.add(url)
        try:
            resource = await self.session.fetch_resource(url, ACCEPT[kind], left * 1000)
        except _RESOURCE_FAILURES as exc:  # the rendering shows it missing
            log.info("resource %s not fetched: %s", url, exc)
            return None
        if len(resource.body) > min(self.budget.each, self.budget.total - self.size):
            log.info("resource %s not kept: %d bytes", url, len(resource.body))
            return None
        self.size += len(resource.body)
        self.kept[url] = resource
        return resource


RequestProbeFunction = Callable[[RequestSession, Any], Awaitable[PageState]]


def press(form: Form, name: str) -> Field:
    """The submit button `name` of `form`; its absence means the page is not what we know."""
    button = form.button(name)
    if button is None:
        raise ProbeError(f"no submit button {name!r} in form {form.id!r}", detail="layout_changed")
    return button


def _refuse_non_page(headers: Mapping[str, str], url: str) -> None:
    """A file the site sends instead of a page (an attachment, a declared oversized body)."""
    if "attachment" in headers.get("content-disposition", "").lower():
        raise SiteFault(f"the site sent a file: {url}", detail="download")
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_PAGE_BYTES:
        raise SiteFault(f"a page of {length} bytes", detail="page_too_large")


def decode(raw: bytes, content_type: str) -> str:
    """The document's text: charset from the header, else from a `<meta>`, else UTF-8."""
    match = _CHARSET.search(content_type)
    charset = match.group(1) if match else None
    if charset is None:
        meta = _META_CHARSET.search(raw[:4096])
        charset = meta.group(1).decode("ascii", "replace") if meta else "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _referer(page: str, url: str) -> str:
    """What Chromium's default policy sends (strict-origin-when-cross-origin)."""
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(page))
    return page if url.startswith(origin) else origin


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
