"""What a captcha offers a person besides its image (RGAA 1.5 asks for an alternative).

Read from the rendered BotDetect markup that CaptchEtat serves (docs/platforms.md, « Captcha:
CaptchEtat »): the image `*_CaptchaImage`, the sound link `*_SoundLink` and the audio element
`BDC_CaptchaSoundAudio_*`. When a sound link is offered, its resource is fetched once with the
page's own cookies to see whether it answers with audio; the body is discarded, never
transcribed, and the captcha is never answered. A host outside `allowed_hosts` is not
contacted (`not_checked`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError

from watchdog.domain.models import AudioCheck, CaptchaSeen, Step
from watchdog.probe.session import host_of

if TYPE_CHECKING:
    from watchdog.probe.session import ProbeSession

RENDERED = ".BDC_CaptchaComponent, #BDC_CaptchaComponent, img[id$='_CaptchaImage']"
IMAGE = "img[id$='_CaptchaImage'], img.BDC_CaptchaImage"
SOUND = "a[id$='_SoundLink'], a.BDC_SoundLink, audio[id^='BDC_CaptchaSoundAudio']"
SOUND_LINK = "a[id$='_SoundLink'], a.BDC_SoundLink"
FETCH_TIMEOUT_MS = 5_000
MAX_AUDIO_BYTES = 5 * 1024 * 1024


async def captcha_seen(session: ProbeSession, wait_ms: float) -> CaptchaSeen:
    """The alternatives the captcha on `session`'s page offers, once its markup has arrived."""
    page = session.page
    if not await session.wait_for_content(_present(RENDERED), wait_ms):
        return CaptchaSeen(rendered=False)
    image = await page.locator(IMAGE).count() > 0
    audio = await page.locator(SOUND).count() > 0
    seen = CaptchaSeen(rendered=True, image=image, audio=audio)
    link = page.locator(SOUND_LINK)
    href = await link.first.get_attribute("href") if await link.count() else None
    if not href or href.startswith(("#", "javascript:")):
        return seen
    return await _check_audio(session, urljoin(page.url, href), seen)


async def _check_audio(session: ProbeSession, url: str, seen: CaptchaSeen) -> CaptchaSeen:
    if not session.host_allowed(host_of(url)):
        return seen.model_copy(update={"audio_check": AudioCheck.NOT_CHECKED})
    started = time.perf_counter()
    try:
        response = await session.page.request.get(
            url, timeout=FETCH_TIMEOUT_MS, max_redirects=0, fail_on_status_code=False
        )
    except PlaywrightError:
        return seen.model_copy(update={"audio_check": AudioCheck.FAILED})
    try:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        size = int(response.headers.get("content-length") or 0)
        if response.ok and kind.startswith("audio/") and not size:
            size = len(await response.body())
    finally:
        await response.dispose()
    ms = int((time.perf_counter() - started) * 1000)
    session.steps.append(Step(name="captcha:audio", url=url, status=response.status, ms=ms))
    if not response.ok:
        check = AudioCheck.FAILED
    elif kind.startswith("audio/") and 0 < size <= MAX_AUDIO_BYTES:
        check = AudioCheck.AUDIO
    else:
        check = AudioCheck.NOT_AUDIO
    update = {"audio_check": check, "audio_status": response.status, "audio_type": kind or None}
    return seen.model_copy(update=update)


def _present(selector: str) -> str:
    return f"() => !!document.querySelector({selector!r})"
