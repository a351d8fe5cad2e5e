"""Cookie and consent banners a probe must get past before it can act on a page.

Only banners the booking sites are known to show are handled (tarteaucitron's
`button.tarteaucitronCTAButton`, the Préfecture de police's `#cookies-banner` with « Accepter »,
an `onclick="javascript:accepter()"` link); each is answered the way that keeps the fewest
cookies: « Tout refuser » where the banner offers it, else the only button it has. A banner
that stays up after its button is pressed is our failure (`consent_not_dismissed`), never the
site's: the probe could not act, the site answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from playwright.async_api import Error as PlaywrightError

from watchdog.domain.errors import ProbeError

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

CLICK_MS = 5_000
GONE_MS = 5_000


@dataclass(frozen=True)
class Banner:
    """A consent banner: what shows it, and its buttons in order of preference."""

    name: str
    shown: str  # a visible element while the banner blocks or covers the page
    refuse: str | None  # « Tout refuser »: optional cookies declined
    accept: str  # the banner's only way out when it offers no refusal
    covers: str = ""  # other elements that must be gone too (a backdrop)


BANNERS: tuple[Banner, ...] = (
    Banner(
        "tarteaucitron",
        shown="#tarteaucitronAlertBig",
        refuse="#tarteaucitronAllDenied2, button.tarteaucitronCTAButton.tarteaucitronDeny",
        accept="#tarteaucitronPersonalize2, button.tarteaucitronCTAButton.tarteaucitronAllow",
        covers="#tarteaucitronBack",
    ),
    Banner(
        "cookies-banner",
        shown="#cookies-banner",
        refuse="#cookies-banner button:text-matches('refuser', 'i')",
        accept="#cookies-banner :is(button, a):text-matches('^\\s*accepter', 'i')",
    ),
    Banner(
        "accepter-link",
        shown="a[onclick*='accepter()'], a[href*='javascript:accepter()']",
        refuse=None,
        accept="a[onclick*='accepter()'], a[href*='javascript:accepter()']",
    ),
)


ANY_BANNER = ", ".join(banner.shown for banner in BANNERS)


@dataclass(frozen=True)
class Answered:
    """A banner the probe answered, for the step trail."""

    banner: str
    choice: str  # "refused" or "accepted"

    @property
    def step_name(self) -> str:
        return f"consent:{self.banner}:{self.choice}"


async def _visible(page: Page, selector: str) -> Locator | None:
    """The first visible element matching `selector`, if any."""
    found = page.locator(selector)
    for index in range(await found.count()):
        item = found.nth(index)
        try:
            if await item.is_visible():
                return item
        except PlaywrightError:  # detached while we looked: the page is changing
            continue
    return None


async def _answer(page: Page, banner: Banner) -> Answered | None:
    if await _visible(page, banner.shown) is None:
        return None
    button = await _visible(page, banner.refuse) if banner.refuse else None
    choice = "refused"
    if button is None:
        button, choice = await _visible(page, banner.accept), "accepted"
    if button is None:
        raise ProbeError(
            f"the {banner.name} consent banner shows no button we know", "consent_not_dismissed"
        )
    try:
        await button.click(timeout=CLICK_MS)
        for selector in filter(None, (banner.shown, banner.covers)):
            await page.locator(selector).first.wait_for(state="hidden", timeout=GONE_MS)
    except PlaywrightError as exc:
        raise ProbeError(
            f"the {banner.name} consent banner did not go away: {str(exc).splitlines()[0]}",
            "consent_not_dismissed",
        ) from exc
    return Answered(banner.name, choice)


async def dismiss(page: Page) -> list[Answered]:
    """Answer every known consent banner showing on `page`; what was answered, in order."""
    # One query for all of them first: most pages show none, and each banner's own look is
    # a round trip to the browser (this runs before every click and tick of a journey).
    if await page.locator(ANY_BANNER).count() == 0:
        return []
    answered = []
    for banner in BANNERS:
        done = await _answer(page, banner)
        if done is not None:
            answered.append(done)
    return answered
