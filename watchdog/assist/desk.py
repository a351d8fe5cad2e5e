"""The assist desk: browser pages parked at a captcha, waiting for a person's answer.

`watchdog run` owns it (the parked pages are its browser's): the runner parks a page that met
the captcha of a `captcha: assisted` journey (`park`), the workbench's assist pages show the
person the captcha as the site served it and hand the typed answer to
`submit_person_answer`, the only code that types into `captchaUsercode`. Once the site
accepts it, the session reads `creneau/` at the journey's pace (the daemon's `reader`, which
records each read as an observation) until the site ends the session or `max_session` runs
out. At most `max_parked` sessions at a time; a page left unanswered `wait_for_person` is
closed. Session ids are ours (ULIDs), never the site's.

The captcha the page was parked with, and each new one the person is shown, is kept (the
bytes as served, and a framed copy) and
each read's sealed hash is noted (`note_read`); when the session ends, `recorder` (the
daemon's) writes them, with its instants and end reason, as the session's record
(watchdog/assist/record.py). A reload changes `settings` for the sessions parked after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urljoin

from playwright.async_api import BrowserContext, Page, Response, Route
from playwright.async_api import Error as PlaywrightError
from ulid import ULID

from watchdog.config.loader import AssistSettings, is_loopback
from watchdog.domain.models import AssistFrame, AssistRead, Observation
from watchdog.domain.target import Target
from watchdog.evidence.frame import Banner, frame
from watchdog.probe.captcha import IMAGE, SOUND_LINK
from watchdog.probe.session import host_of

log = logging.getLogger(__name__)

ANSWER_FIELD = "input[name='captchaUsercode']"
ASSISTED_HEADER = "X-Watchdog-Assisted"
MAX_ANSWER = 32  # CaptchEtat asks for 8 characters; anything longer is not an answer
MAX_IMAGES = 8
IMAGE_WAIT_S = 10.0
# Passed on as served; anything else (an SVG, which may hold script) is photographed instead.
RASTER = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_MEDIA_BYTES = 5 * 1024 * 1024
ACTION_TIMEOUT_MS = 15_000
PUBLIC_FLOOR_S = 60.0  # never faster than once a minute on a real site
ENDED_KEPT = 20

Reader = Callable[["AssistedSession", bool], Awaitable[bool]]
Budget = Callable[[Target], Awaitable[None]]
Recorder = Callable[["AssistedSession"], Awaitable[None]]
BlobPut = Callable[[bytes, str], str]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(StrEnum):
    WAITING = "waiting"  # the captcha is on the page, a person may answer
    READING = "reading"  # answered: the watchdog reads creneau/ at the journey's pace
    ENDED = "ended"


class Answered(StrEnum):
    """What became of a person's answer."""

    SOLVED = "solved"  # the site opened creneau/
    WRONG = "wrong"  # the site showed the captcha again (a new one)
    REFUSED = "refused"  # not sent: empty, too long, or the session no longer waits
    LEFT = "left"  # the site answered with a page that is neither (the session ends)


class CaptchaImages:
    """The image responses of a parked page as the site served them (bytes and type), by URL.

    Listens to the page's network from the probe's first request, so the captcha image is the
    very response the browser displayed; never fetched again."""

    def __init__(self) -> None:
        self._by_url: OrderedDict[str, asyncio.Task[tuple[bytes, str] | None]] = OrderedDict()
        self._arrived = asyncio.Event()  # set at each image response

    def watch(self, page: Page) -> None:
        page.on("response", self._on_response)

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type != "image":
            return
        self._by_url[response.url] = asyncio.ensure_future(_body(response))
        self._by_url.move_to_end(response.url)
        while len(self._by_url) > MAX_IMAGES:
            self._by_url.popitem(last=False)[1].cancel()
        self._arrived.set()

    async def get(self, url: str, wait_s: float = 0.0) -> tuple[bytes, str] | None:
        """The response for `url`, waiting up to `wait_s` for it to arrive (a new captcha's
        image may still be on its way when the person's page asks for it)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while url not in self._by_url:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return None
        return await self._by_url[url]

    def clear(self) -> None:
        for task in self._by_url.values():
            task.cancel()
        self._by_url.clear()


async def _body(response: Response) -> tuple[bytes, str] | None:
    try:
        body = await response.body()
    except PlaywrightError:
        return None
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return (body, kind) if kind in RASTER and len(body) <= MAX_MEDIA_BYTES else None


@dataclass(frozen=True)
class Media:
    """A captcha's image or sound for the person; `how` says where the bytes came from."""

    body: bytes
    media_type: str
    how: str  # "network": the site's response; "screenshot": the element, photographed


@dataclass
class AssistedSession:
    """One parked page and what became of it."""

    id: str
    target: Target
    context: BrowserContext
    page: Page
    images: CaptchaImages
    parked_at: datetime
    answer_by: datetime  # a waiting page is closed after this
    end_by: datetime  # the whole session is closed after this
    status: Status = Status.WAITING
    solved_at: datetime | None = None
    wrong_answers: int = 0
    reads: int = 0
    ended_because: str | None = None
    ended_at: datetime | None = None
    frames: list[AssistFrame] = field(default_factory=list)  # the captchas the person saw
    read_refs: list[AssistRead] = field(default_factory=list)  # each read, as sealed
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def seconds_left(self, now: datetime) -> int:
        until = self.answer_by if self.status is Status.WAITING else self.end_by
        return max(0, int((until - now).total_seconds()))

    def since_solve(self, now: datetime) -> float | None:
        return None if self.solved_at is None else (now - self.solved_at).total_seconds()


class Desk:
    """The parked sessions of one `watchdog run` (see the module docstring)."""

    def __init__(
        self,
        settings: AssistSettings,
        host_allowed: Callable[[str], bool],
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        *,
        simulated: bool = False,
    ) -> None:
        self.settings = settings  # replaced on a reload: parked sessions keep their limits
        self.host_allowed = host_allowed
        self.clock = clock
        self.sleep = sleep
        self.simulated = simulated  # the framed captchas say so
        self.reader: Reader | None = None  # set by the daemon: one recorded read of creneau/
        self.budget: Budget | None = None  # set by the daemon: a start in the host's budget
        self.recorder: Recorder | None = None  # set by the daemon: writes an ended session
        self.put_blob: BlobPut | None = None  # set by the daemon: the evidence store's put
        self._sessions: dict[str, AssistedSession] = {}
        self.ended: deque[AssistedSession] = deque(maxlen=ENDED_KEPT)
        self.closing = False

    # -- parking ------------------------------------------------------------------------

    def room(self, target: Target) -> bool:
        """A free place, and no session of this journey already open (one is enough)."""
        if self.closing or len(self._sessions) >= self.settings.max_parked:
            return False
        return all(s.target.id != target.id for s in self._sessions.values())

    def park(
        self, target: Target, context: BrowserContext, page: Page, images: CaptchaImages
    ) -> AssistedSession | None:
        """Keep `page` (at the captcha) for a person; None when the desk is full or closing:
        the caller then closes the context as for any probe."""
        if not self.room(target):
            return None
        now = self.clock()
        session = AssistedSession(
            id=str(ULID()), target=target, context=context, page=page, images=images,
            parked_at=now, answer_by=now + self.settings.wait_for_person,
            end_by=now + self.settings.max_session,
        )  # fmt: skip
        self._sessions[session.id] = session
        self._spawn(session, self._expire_unanswered(session), "assist-wait")
        log.info("assist: %s parked for %s (%d/%d)", session.id, target.id,
                 len(self._sessions), self.settings.max_parked)  # fmt: skip
        return session

    def sessions(self) -> list[AssistedSession]:
        return sorted(self._sessions.values(), key=lambda s: s.parked_at)

    def get(self, session_id: str) -> AssistedSession | None:
        return self._sessions.get(session_id) or next(
            (s for s in self.ended if s.id == session_id), None
        )

    # -- what the person sees -----------------------------------------------------------

    async def captcha_image(self, session_id: str) -> Media | None:
        """The captcha image the page shows: the bytes of the site's response, else (never
        seen on the network) a screenshot of the image element."""
        session = self._waiting(session_id)
        if session is None:
            return None
        async with session.lock:
            image = session.page.locator(IMAGE).first
            try:
                if not await image.count():
                    return None
                src = await image.evaluate("e => e.currentSrc || e.src", timeout=ACTION_TIMEOUT_MS)
                served = await session.images.get(str(src), IMAGE_WAIT_S)
                if served is not None:
                    media = Media(served[0], served[1], "network")
                else:
                    shot = await image.screenshot(timeout=ACTION_TIMEOUT_MS)
                    media = Media(shot, "image/png", "screenshot")
            except PlaywrightError as exc:
                log.info("assist: %s: no captcha image: %s", session_id, exc)
                return None
            await self._keep_frame(session, media, str(src))
        return media

    async def keep_captcha(self, session: AssistedSession) -> None:
        """Keep the captcha the page was parked with (as `captcha_image` keeps each one the
        person is shown): the session's record and the `assist_needed` notice carry it."""
        await self.captcha_image(session.id)

    def captcha_shown(self, target_id: str) -> str | None:
        """The framed copy (SHA-256) of the captcha a waiting session of `target_id` shows
        now, if one was kept: the `assist_needed` notice attaches it. Called from the
        incident engine's thread: a desk changing meanwhile gives no captcha, never an error."""
        try:
            sessions = list(self._sessions.values())
        except RuntimeError:  # the dict changed size while it was copied
            return None
        for session in sessions:
            if session.target.id == target_id and session.status is Status.WAITING:
                return session.frames[-1].framed if session.frames else None
        return None

    async def _keep_frame(self, session: AssistedSession, media: Media, url: str) -> None:
        """Keep the captcha the person is shown (once per image) for the session's record:
        its bytes and a framed copy. Evidence is best effort: the person still sees it."""
        put = self.put_blob
        if put is None or (session.frames and session.frames[-1].url == url):
            return
        now = self.clock()
        try:
            image = await asyncio.to_thread(put, media.body, "captcha")
            banner = Banner(
                url=url,
                taken_at=now,
                target=session.target.id,
                observation_id=session.id,
                raw_sha256=image,
                simulated=self.simulated,
            )
            framed = await asyncio.to_thread(put, frame(media.body, banner), "framed")
        except Exception as exc:  # an image the framer cannot read, a full disk
            log.warning("assist: %s: captcha not kept: %s", session.id, exc)
            return
        session.frames.append(AssistFrame(
            shown_after_s=round((now - session.parked_at).total_seconds(), 1), url=url,
            media_type=media.media_type, how=media.how, image=image, framed=framed,
        ))  # fmt: skip

    async def captcha_audio(self, session_id: str) -> Media | None:
        """The sound the captcha offers, fetched with the page's own cookies and passed on as
        the site sent it (never transcribed, never kept)."""
        session = self._waiting(session_id)
        if session is None:
            return None
        async with session.lock:
            link = session.page.locator(SOUND_LINK).first
            try:
                href = await link.get_attribute("href") if await link.count() else None
                if not href or href.startswith(("#", "javascript:")):
                    return None
                url = urljoin(session.page.url, href)
                if not self.host_allowed(host_of(url)):
                    return None
                response = await session.page.request.get(
                    url, timeout=ACTION_TIMEOUT_MS, max_redirects=0, fail_on_status_code=False
                )
                try:
                    kind = response.headers.get("content-type", "").split(";")[0].strip()
                    body = await response.body() if response.ok else b""
                finally:
                    await response.dispose()
            except PlaywrightError as exc:
                log.info("assist: %s: no captcha sound: %s", session_id, exc)
                return None
        if not kind.lower().startswith("audio/") or not 0 < len(body) <= MAX_MEDIA_BYTES:
            return None
        return Media(body, kind, "network")

    # -- the person's answer ------------------------------------------------------------

    async def submit_person_answer(self, session_id: str, answer: str) -> Answered:
        """Type the person's `answer`, unchanged, into the parked page's `captchaUsercode` and
        submit its form as the site's page does (its submit button). The only code that
        answers a captcha; only the workbench's authenticated form calls it (a test checks)."""
        session = self._waiting(session_id)
        if session is None or not answer.strip() or len(answer) > MAX_ANSWER:
            return Answered.REFUSED
        page = session.page
        async with session.lock:
            try:
                field_ = page.locator(ANSWER_FIELD).first
                await field_.fill(answer, timeout=ACTION_TIMEOUT_MS)
                form = field_.locator("xpath=ancestor::form[1]")
                button = form.locator("button[type='submit'], input[type='submit']").first
                action = str(await form.evaluate("f => f.action"))

                def is_action(url: str) -> bool:  # exact: a form address is no glob
                    return url == action

                await page.route(is_action, _marked_as_a_person)
                try:
                    async with page.expect_navigation(wait_until="load", timeout=ACTION_TIMEOUT_MS):
                        if await button.count():
                            await button.click(timeout=ACTION_TIMEOUT_MS)
                        else:
                            await form.evaluate("f => f.requestSubmit()")
                finally:
                    await page.unroute(is_action, _marked_as_a_person)
            except PlaywrightError as exc:
                log.info("assist: %s: the answer could not be submitted: %s", session_id, exc)
                await self.end(session, "submit_failed")
                return Answered.LEFT
            url = page.url
        result = await self._answered(session, url, page)
        if session.frames and session.frames[-1].answer is None:
            session.frames[-1].answer = result.value
        return result

    async def _answered(self, session: AssistedSession, url: str, page: Page) -> Answered:
        """What the site's answer to the person's code means for the session."""
        if "/creneau/" in url:
            session.solved_at = self.clock()
            session.status = Status.READING
            log.info("assist: %s solved by a person; reading %s", session.id, session.target.id)
            self._spawn(session, self._read_forever(session), "assist-read")
            return Answered.SOLVED
        if "/cgu/" in url and await _captcha_back(page):
            session.wrong_answers += 1
            return Answered.WRONG
        await self.end(session, "left_journey")
        return Answered.LEFT

    # -- life and end -------------------------------------------------------------------

    async def _expire_unanswered(self, session: AssistedSession) -> None:
        await self.sleep(max(0.0, (session.answer_by - self.clock()).total_seconds()))
        if session.status is Status.WAITING:
            await self.end(session, "no_answer")

    async def _read_forever(self, session: AssistedSession) -> None:
        assert self.reader is not None, "a desk without a reader cannot read"
        first = True
        reason = "max_session"
        try:
            while self.clock() < session.end_by and not self.closing:
                if not first:
                    await self.pace(session.target)
                    if self.clock() >= session.end_by or self.closing:
                        break
                if session.status is not Status.READING:
                    return
                async with session.lock:
                    keep = await self.reader(session, first)
                session.reads += 1
                first = False
                if not keep:
                    reason = "site_ended"
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # our fault: logged, the session ends, the daemon goes on
            log.error("assist: %s: reading failed: %s", session.id, exc, exc_info=exc)
            reason = "read_failed"
        await self.end(session, reason)

    async def pace(self, target: Target) -> None:
        """The wait between two reads: the journey's interval (never under a minute on a
        real site), then a start in its host's budget, shared with the probes."""
        await self.sleep(read_interval(target))
        if self.budget is not None:
            await self.budget(target)

    def note_read(self, sealed: Observation) -> None:
        """A read of an open session was sealed into its chain: its hash goes in the
        session's record."""
        session = self._sessions.get(sealed.env.assisted_session or "")
        if session is not None and sealed.hash is not None:
            session.read_refs.append(AssistRead(id=sealed.id, hash=sealed.hash))

    def _waiting(self, session_id: str) -> AssistedSession | None:
        session = self._sessions.get(session_id)
        return session if session is not None and session.status is Status.WAITING else None

    def _spawn(self, session: AssistedSession, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(f"{name}:{session.id}")
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    async def end(self, session: AssistedSession, reason: str) -> None:
        """Close the session's page and context (once); it stays listed as ended."""
        if session.status is Status.ENDED:
            return
        session.status = Status.ENDED
        session.ended_because = reason
        session.ended_at = self.clock()
        self._sessions.pop(session.id, None)
        self.ended.append(session)
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:
                task.cancel()
        session.images.clear()
        with contextlib.suppress(Exception):  # a crashed browser has nothing left to close
            await session.context.close()
        log.info("assist: %s ended (%s) after %d reads", session.id, reason, session.reads)
        if self.recorder is not None:
            try:
                await self.recorder(session)
            except Exception as exc:  # the reads are in their chain whatever happens here
                log.error("assist: %s: the session's record was not written: %s", session.id,
                          exc, exc_info=exc)  # fmt: skip

    async def close(self) -> None:
        """End every session (the daemon is stopping): no page outlives the process."""
        self.closing = True
        for session in list(self._sessions.values()):
            await self.end(session, "shutdown")


def read_interval(target: Target) -> float:
    """Seconds between two reads: the journey's interval, never under a minute on a site
    that is not on loopback (the configuration's floors hold there)."""
    seconds = target.interval.total_seconds()
    return seconds if is_loopback(target.host) else max(seconds, PUBLIC_FLOOR_S)


async def _marked_as_a_person(route: Route) -> None:
    """The answer's request says it is a person's (`X-Watchdog-Assisted: 1`): the simulator
    flags any captcha answer without it, and a site's operator can tell it from software."""
    request = route.request
    if request.method == "POST":
        await route.continue_(headers={**request.headers, ASSISTED_HEADER: "1"})
    else:
        await route.continue_()


async def _captcha_back(page: Page) -> bool:
    """The site showed its captcha again (after a wrong answer): wait for its answer field."""
    try:
        await page.locator(ANSWER_FIELD).first.wait_for(timeout=ACTION_TIMEOUT_MS)
        image = page.locator(IMAGE).first
        await image.wait_for(timeout=ACTION_TIMEOUT_MS)
        await page.wait_for_function(  # the new image has arrived and is drawn
            f"() => {{ const i = document.querySelector({IMAGE!r});"
            " return !!i && i.complete && i.naturalWidth > 0; }",
            timeout=ACTION_TIMEOUT_MS,
        )
    except PlaywrightError:
        return False
    return True
