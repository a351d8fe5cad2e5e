"""The cheap path's session: a journey as plain HTTP requests, no renderer (issue 7).

A `RequestSession` is what a `request_probe` drives instead of a `ProbeSession`: the same
step trail, the same allowed-hosts rule, the same user agent, the same `PageState` at the
end (so the same classifier reads it). It runs on Playwright's `APIRequestContext`, one new
context per probe, so no cookie survives from one probe to the next. Redirects are followed
here, one hop at a time, so every hop is checked before it is requested.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from watchdog.errors import HostNotAllowed, ProbeError
from watchdog.forms import Field, Form, form_by_id
from watchdog.models import Step
from watchdog.probing import HostCheck, PageState, host_of

if TYPE_CHECKING:
    from playwright.async_api import APIRequestContext, APIResponse

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.I)

UrlGuard = Callable[[str], None]


def _no_guard(url: str) -> None:
    return None


@dataclass
class RequestSession:
    """A fresh request context plus the trail of steps; the cheap path's only handle."""

    request: APIRequestContext
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
            raw = await response.body()
        except BaseException:
            # Keep the attempt in the trail even when the site never answered.
            self.steps.append(Step(name=step, url=url, status=None, ms=_ms(started)))
            raise
        self.html = decode(raw, response.headers.get("content-type", ""))
        self.page_url, self.last_status, self.last_redirects = url, response.status, redirects
        self.server_ip = await _server_ip(response)
        await response.dispose()
        self.steps.append(Step(name=step, url=url, status=response.status, ms=_ms(started)))
        return self.state()

    async def _follow(
        self, method: str, url: str, body: str | None, sent: dict[str, str]
    ) -> tuple[APIResponse, str, tuple[str, ...]]:
        redirects: list[str] = []
        while True:
            self._allow(url)
            headers = dict(sent)
            if body:
                headers["content-type"] = "application/x-www-form-urlencoded"
            response = await self.request.fetch(
                url, method=method, data=body, headers=self._headers(url, headers),
                max_redirects=0, timeout=self.timeout_ms,
            )  # fmt: skip
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response, url, tuple(redirects)
            await response.dispose()
            if len(redirects) >= MAX_REDIRECTS:
                raise ProbeError(f"more than {MAX_REDIRECTS} redirects", detail="redirect_loop")
            redirects.append(url)
            url = urljoin(url, location)
            if response.status in (301, 302, 303):
                method, body = "GET", None
                sent = {k: v for k, v in sent.items() if k != "origin"}

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


RequestProbeFunction = Callable[[RequestSession, Any], Awaitable[PageState]]


def press(form: Form, name: str) -> Field:
    """The submit button `name` of `form`; its absence means the page is not what we know."""
    button = form.button(name)
    if button is None:
        raise ProbeError(f"no submit button {name!r} in form {form.id!r}", detail="layout_changed")
    return button


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


async def _server_ip(response: APIResponse) -> str | None:
    address = await response.server_addr()
    return address["ipAddress"] if address else None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
