"""Audit runs under a mobile viewport or a slow network (issue 18 item 3).

A profile changes the browser context's viewport (Chromium's mobile emulation for `mobile`)
and, for `slow-3g`, throttles the page through the Chrome DevTools Protocol: every request
waits `latency_ms` and is limited to the stated throughput (Network.emulateNetworkConditions),
and the page's CPU runs `cpu_slowdown` times slower (Emulation.setCPUThrottlingRate). These
figures are this project's choice, stated in every run's record (`conditions`); the
User-Agent stays the watchdog's own. A profile run goes exactly as far as the probe (never
past the availability step), under the same per-host budget, and runs no axe-core: what it
records is each step page's load (watchdog/a11y/audit.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdog.domain.models import AuditProfile, RunConditions

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

MOBILE_VIEWPORT = "390x844"
PROFILES: dict[AuditProfile, RunConditions] = {
    AuditProfile.MOBILE: RunConditions(viewport=MOBILE_VIEWPORT, mobile=True),
    AuditProfile.SLOW_3G: RunConditions(
        viewport=MOBILE_VIEWPORT,
        mobile=True,
        latency_ms=400,
        download_kbps=400,
        upload_kbps=400,
        cpu_slowdown=4.0,
    ),
}
SLOW_ALLOWANCE_S = 240.0  # added to the probe's deadline under throttling


def conditions_of(profile: AuditProfile) -> RunConditions | None:
    return PROFILES.get(profile)


def viewport(conditions: RunConditions) -> dict[str, int]:
    width, height = conditions.viewport.split("x")
    return {"width": int(width), "height": int(height)}


async def throttle(context: BrowserContext, page: Page, conditions: RunConditions) -> None:
    """Apply the profile's network and CPU throttling to `page` (no-op without any)."""
    if conditions.latency_ms is None and conditions.cpu_slowdown is None:
        return
    cdp = await context.new_cdp_session(page)
    if conditions.latency_ms is not None:
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": conditions.latency_ms,
                "downloadThroughput": _bytes_per_s(conditions.download_kbps),
                "uploadThroughput": _bytes_per_s(conditions.upload_kbps),
            },
        )
    if conditions.cpu_slowdown is not None:
        await cdp.send("Emulation.setCPUThrottlingRate", {"rate": conditions.cpu_slowdown})


def _bytes_per_s(kbps: int | None) -> float:
    return kbps * 1000 / 8 if kbps is not None else -1  # -1: no limit (DevTools' convention)
