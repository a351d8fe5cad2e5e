"""Reused browser pages with their state wiped between probes (`browser.profile: cleared`).

A new page costs Chromium 1.3–1.8 CPU-seconds (renderer processes start for it), more than
the rest of a 3-step probe. So by default a probe borrows a kept page and, once it is done,
everything a site could have left in it is wiped before another probe may borrow it:

- the page goes to `about:blank` (the site's scripts stop) and its history is reset;
- cookies of the context are cleared;
- every origin a frame of the page showed is cleared of all storage (local and session
  storage, IndexedDB, Cache Storage, service workers, file systems…);
- the HTTP cache is cleared (memory and disk), as a fresh profile starts with none;
- the renderer's heap is garbage-collected: headless Chromium is never under memory
  pressure, and without it the garbage of every past page stays (≈ 5 MB per probe).

If any step fails, or the probe did not end cleanly (timeout, crash, a dialog left open), the
page and its context are closed instead of returned: a page is only ever lent clean. A page
is also retired after `MAX_USES` probes and when it has been idle for `IDLE_SECONDS`, so a
long-running watchdog does not keep renderer memory it does not use.

`browser.profile: fresh` (and any probe with operator credentials) gets a new context and
page each time instead, as before. tests/test_pages.py proves that no cookie, storage or
cached response crosses from one probe to the next on a reused page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Frame, Page

log = logging.getLogger(__name__)

MAX_USES = 200
IDLE_SECONDS = 300.0
ContextFactory = Callable[[], Awaitable[BrowserContext]]


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, None for about:, data: and the like."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(eq=False)
class Lent:
    """A page lent to one probe, and what it touched."""

    context: BrowserContext
    page: Page
    cdp: CDPSession
    uses: int = 0
    origins: set[str] = field(default_factory=set)
    idle_since: float = field(default_factory=time.monotonic)

    def watch(self) -> None:
        """Remember every origin any frame of the page navigates to (to clear it after)."""

        def navigated(frame: Frame) -> None:
            origin = origin_of(frame.url)
            if origin is not None:
                self.origins.add(origin)

        self.page.on("framenavigated", navigated)


class PagePool:
    """Pages kept between probes; at most `size` idle ones (one per concurrent probe)."""

    def __init__(self, new_context: ContextFactory, size: int) -> None:
        self._new_context = new_context
        self._size = size
        self._idle: list[Lent] = []
        self.created = 0  # pages opened (a figure for tests and the bench)
        self.reused = 0  # probes that ran on a page an earlier probe used

    async def borrow(self) -> Lent:
        """A clean page: an idle one if there is one still fit, else a new one."""
        now = time.monotonic()
        while self._idle:
            lent = self._idle.pop()
            if now - lent.idle_since > IDLE_SECONDS or lent.page.is_closed():
                await _close(lent)
                continue
            lent.uses += 1
            self.reused += 1
            return lent
        context = await self._new_context()
        try:
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
        except BaseException:
            await _close_context(context)
            raise
        self.created += 1
        lent = Lent(context, page, cdp, uses=1)
        lent.watch()
        return lent

    async def give_back(self, lent: Lent, clean_end: bool) -> None:
        """Wipe the page and keep it for the next probe, or close it if it cannot be trusted."""
        if not clean_end or lent.uses >= MAX_USES or len(self._idle) >= self._size:
            await _close(lent)
            return
        try:
            await wipe(lent)
        except Exception as exc:  # a page that cannot be wiped is never lent again
            log.info("reused page not wiped (%s): closing it", exc)
            await _close(lent)
            return
        lent.idle_since = time.monotonic()
        self._idle.append(lent)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for lent in idle:
            await _close(lent)


async def wipe(lent: Lent) -> None:
    """Leave nothing of the last probe in `lent` (see the module docstring)."""
    page, cdp = lent.page, lent.cdp
    await page.goto("about:blank")
    await cdp.send("Page.resetNavigationHistory")
    await lent.context.clear_cookies()
    for origin in sorted(lent.origins):
        await cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
    lent.origins.clear()
    await cdp.send("Network.clearBrowserCache")
    # The renderer is never under memory pressure in headless mode: without a collection,
    # the garbage of every past page stays in its heap (≈ 5 MB more per probe).
    await cdp.send("HeapProfiler.collectGarbage")


async def _close(lent: Lent) -> None:
    await _close_context(lent.context)


async def _close_context(context: BrowserContext) -> None:
    try:
        await asyncio.wait_for(context.close(), 10)
    except Exception as exc:  # a crashed browser has no context left to close
        log.debug("context close failed: %s", exc)
