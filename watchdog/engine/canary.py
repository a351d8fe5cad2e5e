"""The canary of a vantage (issue 17): one GET of a known-good page through the vantage's
network (`watchdog.proxy`), with the watchdog's User-Agent, never following a link, by the
request engine's HTTP client (`browser.request_client`: on aiohttp, Playwright's driver is
not started for it).

The page is ours to choose (`watchdog.canary.url`: a static page we serve, a well-known
site's front page); a 2xx or 3xx answer within `watchdog.canary.timeout` says the vantage's
network works. The check is not an observation: it counts in no rate (watchdog/domain/vantage.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from watchdog.config.loader import Config
from watchdog.domain.models import RequestClient
from watchdog.domain.vantage import CanaryCheck
from watchdog.engine.browser import BrowserHost
from watchdog.probe.transport import AiohttpTransport, PlaywrightTransport, Transport


async def _transport(config: Config, host: BrowserHost) -> Transport:
    user_agent, proxy = config.watchdog.user_agent, config.watchdog.proxy
    if config.request_client is RequestClient.AIOHTTP:
        return AiohttpTransport({"User-Agent": user_agent}, proxy=proxy)
    driver = await host.driver()
    return PlaywrightTransport(
        await driver.request.new_context(
            user_agent=user_agent, proxy={"server": proxy} if proxy else None
        )
    )


async def check_canary(config: Config, host: BrowserHost) -> CanaryCheck | None:
    """Check `watchdog.canary.url` once; None when no canary is configured."""
    settings = config.watchdog.canary
    if settings.url is None:
        return None
    at = datetime.now(UTC)
    started = time.monotonic()
    status: int | None = None
    detail = ""
    try:
        transport = await _transport(config, host)
        try:
            timeout_ms = settings.timeout.total_seconds() * 1000
            response = await transport.fetch(settings.url, "GET", None, {}, timeout_ms)
            status = response.status
            await response.dispose()
        finally:
            await transport.close()
    except Exception as exc:  # no answer: the network (or the proxy) failed
        detail = _one_line(f"{type(exc).__name__}: {exc}")
    ok = status is not None and 200 <= status < 400
    if status is not None and not ok:
        detail = f"HTTP {status}"
    return CanaryCheck(
        vantage=config.watchdog.vantage,
        at=at,
        ok=ok,
        url=settings.url,
        duration_s=round(time.monotonic() - started, 3),
        status=status,
        detail=detail,
    )


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first[:300]
