"""A screenshot rendered later from a DOM the request engine captured (issue 7).

The page is rendered from the captured HTML, not reloaded: scripts are off (the capture is
what the site served; nothing may change it) and the network is blocked. The stylesheets,
images and fonts it shows are those the probe fetched and kept (watchdog/probe/resources.py),
served to Chromium from their kept bytes; every other request is aborted, so a rendering
never reaches the site, whenever it runs. Its frame says it is a later rendering.

One page per browser is kept for these renders, one render at a time: a new page costs over
a CPU-second, and a rendering needs no fresh profile (it shows a fixed document, scripts
off; cookies and the cache are cleared before each). The probes themselves always get a
fresh context.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from weakref import WeakKeyDictionary

from playwright.async_api import Browser, CDPSession, Page, Route

from watchdog.probe.resources import Resource, by_url, resource_key

RENDER_TIMEOUT_MS = 15_000
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


@dataclass
class _RenderPage:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    page: Page | None = None
    cdp: CDPSession | None = None
    kept: Mapping[str, Resource] = field(default_factory=dict)

    async def route(self, route: Route) -> None:
        request = route.request
        found = _kept(self.kept, request.url)
        if found is None or request.is_navigation_request():
            await route.abort("blockedbyclient")  # never the network: only what was kept
            return
        # The page is rendered from about:blank, not from the site's origin: fonts (fetched
        # in CORS mode) would be refused without the header their own origin did not need.
        headers = {"content-type": found.content_type, "access-control-allow-origin": "*"}
        await route.fulfill(status=found.status, headers=headers, body=found.body)


def _kept(kept: Mapping[str, Resource], url: str) -> Resource | None:
    try:
        return kept.get(resource_key(url))
    except ValueError:  # not a URL the probe could have fetched
        return None


_PAGES: WeakKeyDictionary[Browser, _RenderPage] = WeakKeyDictionary()


async def _page(browser: Browser, slot: _RenderPage) -> tuple[Page, CDPSession]:
    if slot.page is None or slot.cdp is None or slot.page.is_closed():
        context = await browser.new_context(java_script_enabled=False, service_workers="block")
        await context.route("**/*", slot.route)
        slot.page = await context.new_page()
        slot.cdp = await context.new_cdp_session(slot.page)
    return slot.page, slot.cdp


async def render_later(
    browser: Browser, html: str, url: str, viewport: str, resources: Iterable[Resource]
) -> bytes:
    """A full-page PNG of `html` as served from `url` with the `resources` kept with it;
    scripts off, nothing navigated, no request leaves the browser."""
    slot = _PAGES.setdefault(browser, _RenderPage())
    width, height = (int(n) for n in viewport.split("x"))
    async with slot.lock:
        slot.kept = by_url(resources)
        page, cdp = await _page(browser, slot)
        await page.context.clear_cookies()
        # Chromium's cache would show an earlier rendering's stylesheet under the same URL.
        await cdp.send("Network.clearBrowserCache")
        await page.set_viewport_size({"width": width, "height": height})
        await page.set_content(with_base(html, url), wait_until="load", timeout=RENDER_TIMEOUT_MS)
        return await page.screenshot(full_page=True, timeout=RENDER_TIMEOUT_MS)
