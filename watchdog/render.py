"""A screenshot rendered later from a DOM the request engine captured (issue 7).

The page is rendered from the captured HTML, not reloaded: scripts are off (the capture is
what the site served; nothing may change it), navigation is refused, and only stylesheets,
images and fonts from allowed hosts are fetched. Its frame says it is a later rendering.
"""

from __future__ import annotations

import re
from html import escape

from playwright.async_api import Browser, Route

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


async def render_later(
    browser: Browser, html: str, url: str, viewport: str, allowed: HostCheck
) -> bytes:
    """A full-page PNG of `html` as served from `url`, scripts off, nothing navigated."""
    width, height = (int(n) for n in viewport.split("x"))
    context = await browser.new_context(
        java_script_enabled=False,
        viewport={"width": width, "height": height},
        service_workers="block",
    )
    try:

        async def route(route: Route) -> None:
            request = route.request
            if request.resource_type in _STATIC and allowed(host_of(request.url)):
                await route.continue_()
            else:
                await route.abort("blockedbyclient")

        await context.route("**/*", route)
        page = await context.new_page()
        await page.set_content(with_base(html, url), wait_until="load", timeout=RENDER_TIMEOUT_MS)
        return await page.screenshot(full_page=True, timeout=RENDER_TIMEOUT_MS)
    finally:
        await context.close()
