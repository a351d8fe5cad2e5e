"""One Chromium per process, restarted when it dies (docs/design.md §1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from playwright.async_api import Browser, Playwright, async_playwright

from watchdog.domain.errors import WatchdogError
from watchdog.engine.pages import ContextFactory, PagePool

log = logging.getLogger(__name__)

SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
# Debian's `chromium-headless-shell`: the same Chromium build without the browser's UI layer
# (profiles, windows, WebUI), what Playwright itself runs for headless pages. It renders the
# page the same way for a fraction of the browser process: 3 processes and ≈ 65 MB fewer at
# 4 contexts, ≈ 20 % less CPU per probe (README « Performance », issue 20). A headed
# browser (`browser.headless: false`) needs the full one.
SYSTEM_HEADLESS_SHELLS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
)
# Chromium merges repeated --disable-features with Playwright's own list. New headless
# Chromium builds its omnibox popups as WebUI pages: two renderers (≈ 50 MB) per context
# that a probe never shows. Kept pages make the spare renderer useless too.
DISABLED_FEATURES = (
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "WebUIOmniboxFullPopup",
    "SpareRendererForSitePerProcess",
)
LAUNCH_ARGS: tuple[str, ...] = (
    "--disable-gpu",
    # Chromium composites in software here: its GPU process is one more process (and its
    # memory) for work a thread of the browser process does (issue 20, README « Performance »).
    "--in-process-gpu",
    f"--disable-features={','.join(DISABLED_FEATURES)}",
)

# Playwright's driver is a Node process whose young generation grows to tens of MB under
# the stream of protocol messages (screenshots, DOM, traces); 2 MB semi-spaces keep it
# ≈ 25 MB smaller at the price of more frequent, short scavenges (issue 20).
DRIVER_NODE_OPTIONS = "--max-semi-space-size=2"


@contextlib.contextmanager
def driver_environment() -> Iterator[None]:
    """NODE_OPTIONS for the driver while Playwright starts it (it copies os.environ then).

    Ours come first: Node takes the last of a repeated flag, so an operator's own
    NODE_OPTIONS still decides.
    """
    before = os.environ.get("NODE_OPTIONS")
    os.environ["NODE_OPTIONS"] = (
        f"{DRIVER_NODE_OPTIONS} {before}" if before else DRIVER_NODE_OPTIONS
    )
    try:
        yield
    finally:
        if before is None:
            del os.environ["NODE_OPTIONS"]
        else:
            os.environ["NODE_OPTIONS"] = before


def resolver_rules(allowed_hosts: list[str] | None) -> str:
    """Chromium resolves only allowed hosts: redirect hops and subresources included.

    Playwright's routes never see redirect hops, so this is what refuses an off-list
    redirect before it is followed. It also silences the Google hosts Chromium contacts
    on its own. IP literals bypass name resolution; the runner checks those after the fact.
    """
    if not allowed_hosts:
        return "MAP accounts.google.com ~NOTFOUND, MAP update.googleapis.com ~NOTFOUND"
    excluded = ", ".join(f"EXCLUDE {pattern}" for pattern in allowed_hosts)
    return f"MAP * ~NOTFOUND, {excluded}"


def find_chromium(
    configured: str | None, bundled: str | None, headless: bool = False
) -> str | None:
    """Configured path, then Playwright's own browser if downloaded, then the system one:
    its headless shell for a headless browser when installed, else the full browser."""
    if configured:
        if not Path(configured).exists():
            raise WatchdogError(f"browser.executable_path {configured!r} does not exist")
        return configured
    if bundled and Path(bundled).exists():
        return None  # Playwright finds its own download (its headless shell when headless)
    shells: tuple[str, ...] = SYSTEM_HEADLESS_SHELLS if headless else ()
    for candidate in (*shells, *SYSTEM_CHROMIUM):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    raise WatchdogError(
        "no Chromium found: install Debian's package (`apt-get install chromium`), run "
        "`playwright install chromium`, or set browser.executable_path"
    )


class BrowserHost:
    """Owns Playwright and the shared browser; `get()` relaunches a browser that crashed."""

    def __init__(
        self,
        executable_path: str | None = None,
        headless: bool = True,
        allowed_hosts: list[str] | None = None,
        proxy: str | None = None,
    ) -> None:
        self._configured = executable_path
        # The vantage's network (watchdog.proxy); Playwright makes Chromium send loopback
        # requests through it too, so a vantage's proxy covers the simulator as well.
        self._proxy = proxy
        self._args = [*LAUNCH_ARGS, f"--host-resolver-rules={resolver_rules(allowed_hosts)}"]
        self._headless = headless
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        self.launches = 0
        self.version: str | None = None  # of the last browser launched, for `env`
        # Which build the last launch ran, for `env.browser`: the record says which binary
        # rendered the page ("chromium" also for Playwright's own download).
        self.product = "chromium"
        self._pools: dict[tuple[object, ...], PagePool] = {}

    def pages(self, settings: tuple[object, ...], factory: ContextFactory, size: int) -> PagePool:
        """The kept pages for contexts made with `settings` (user agent, viewport…).

        Kept with the browser, not the runner: a runner rebuilt on a config reload finds
        them, and closing the browser closes them.
        """
        pool = self._pools.get(settings)
        if pool is None:
            pool = self._pools[settings] = PagePool(factory, size)
        return pool

    async def driver(self) -> Playwright:
        """Playwright itself, without launching a browser (the request engine needs no more)."""
        async with self._lock:
            return await self._driver()

    async def _driver(self) -> Playwright:
        if self._playwright is None:
            with driver_environment():
                self._playwright = await async_playwright().start()
        return self._playwright

    @property
    def driver_running(self) -> bool:
        """Whether Playwright's driver process was started (a browser needs it, and the
        request engine on `request_client: playwright`; aiohttp's does not)."""
        return self._playwright is not None

    @property
    def launched(self) -> Browser | None:
        """The running browser, if one was launched (never launches one)."""
        return self._browser if self._browser is not None and self._browser.is_connected() else None

    async def get(self) -> Browser:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                log.warning("browser is gone (crashed or killed); launching a new one")
            chromium = (await self._driver()).chromium
            path = find_chromium(self._configured, chromium.executable_path, self._headless)
            self._browser = await chromium.launch(
                executable_path=path,
                headless=self._headless,
                args=self._args,
                proxy={"server": self._proxy} if self._proxy else None,
            )
            self.launches += 1
            self.version = self._browser.version
            self.product = (
                "chromium-headless-shell"
                if path is not None and "headless-shell" in Path(path).name
                else "chromium"
            )
            return self._browser

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                await self._browser.close()
            self._browser = None
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None
