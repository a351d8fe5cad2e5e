"""A screenshot rendered later from a DOM the request engine captured (issue 7).

The page is rendered from the captured HTML, not reloaded: scripts are off (the capture is
what the site served; nothing may change it), navigation is refused, and only stylesheets,
images and fonts from allowed hosts are fetched. Its frame says it is a later rendering.

One page per browser is kept for these renders, one render at a time: a new page costs over
a CPU-second, and a rendering needs no fresh profile (it shows a fixed document, scripts
off; cookies are cleared before each). The probes themselves always get a fresh context.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from html import escape
from weakref import WeakKeyDictionary

from playwright.async_api import Browser, Page, Route

from watchdog.probing import HostCheck, host_of

RENDER_TIMEOUT_MS = 15_000
_STATIC = frozenset({"stylesheet", "image", "font"})
_HEAD = re.compile(r"<head[^>]*>", re.I)
_BASE = re.compile(r"<base\s", re.I)


def with_base(html: str, url: str) -> str:
    """`html` with a `<base href>` so its relative links resolve against where it came from."""
    if _BASE.search(html):
        return html
    base = f'<base href="{escape(url)}">'
    head = _HEAD.search(html)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]


def _never(host: str) -> bool:
    return False


@dataclass
class _RenderPage:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    page: Page | None = None
    allowed: HostCheck = _never

    async def route(self, route: Route) -> None:
        request = route.request
        if request.resource_type in _STATIC and self.allowed(host_of(request.url)):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")


_PAGES: WeakKeyDictionary[Browser, _RenderPage] = WeakKeyDictionary()


async def _page(browser: Browser, slot: _RenderPage) -> Page:
    if slot.page is None or slot.page.is_closed():
        context = await browser.new_context(java_script_enabled=False, service_workers="block")
        await context.route("**/*", slot.route)
        slot.page = await context.new_page()
    return slot.page


async def render_later(
    browser: Browser, html: str, url: str, viewport: str, allowed: HostCheck
) -> bytes:
    """A full-page PNG of `html` as served from `url`, scripts off, nothing navigated."""
    slot = _PAGES.setdefault(browser, _RenderPage())
    width, height = (int(n) for n in viewport.split("x"))
    async with slot.lock:
        slot.allowed = allowed
        page = await _page(browser, slot)
        await page.context.clear_cookies()
        await page.set_viewport_size({"width": width, "height": height})
        await page.set_content(with_base(html, url), wait_until="load", timeout=RENDER_TIMEOUT_MS)
        return await page.screenshot(full_page=True, timeout=RENDER_TIMEOUT_MS)
