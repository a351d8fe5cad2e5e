"""The canary of a vantage (issue 17): one GET of a known-good page through the vantage's
network (`watchdog.proxy`), with the watchdog's User-Agent, never following a link.

The page is ours to choose (`watchdog.canary.url`: a static page we serve, a well-known
site's front page); a 2xx or 3xx answer within `watchdog.canary.timeout` says the vantage's
network works. The check is not an observation: it counts in no rate (watchdog/domain/vantage.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from watchdog.config.loader import Config
from watchdog.domain.vantage import CanaryCheck
from watchdog.engine.browser import BrowserHost


async def check_canary(config: Config, host: BrowserHost) -> CanaryCheck | None:
    """Check `watchdog.canary.url` once; None when no canary is configured."""
    settings = config.watchdog.canary
    if settings.url is None:
        return None
    at = datetime.now(UTC)
    started = time.monotonic()
    status: int | None = None
    detail = ""
    proxy = config.watchdog.proxy
    try:
        driver = await host.driver()
        context = await driver.request.new_context(
            user_agent=config.watchdog.user_agent,
            proxy={"server": proxy} if proxy else None,
        )
        try:
            response = await context.get(
                settings.url,
                timeout=settings.timeout.total_seconds() * 1000,
                max_redirects=0,
                fail_on_status_code=False,
            )
            status = response.status
        finally:
            await context.dispose()
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
