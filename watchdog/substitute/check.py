"""One substitute channel check: a target's information pages fetched, read, and each
channel kind given one outcome (`published`, `not_found`, `unreachable`).

Politeness is the probes': the configured User-Agent, `allowed_hosts` on every URL and every
redirect, and a `pace` the caller gives (the per-host budget of `watchdog run`) awaited
before each request. A host that answers 403, 429, 502 or 503 is asked nothing more in this
check (back-off), and its unread pages are `unreachable`, never `not_found`. A form's page
is fetched once (GET, the form itself is never submitted); an e-mail address is recorded,
never written to. Every page read is kept as served (a blob, SHA-256 addressed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from ulid import ULID

from watchdog import __version__
from watchdog.config.loader import Config
from watchdog.domain.models import (
    ChannelKind,
    ChannelOutcome,
    ChannelSeen,
    CheckedPage,
    Engine,
    Env,
    Observation,
    Outcome,
    Step,
    SubstituteCheck,
    substitute_chain,
)
from watchdog.domain.target import Target
from watchdog.substitute.recognise import RULES, Found, recognise

BlobPut = Callable[[bytes, str], str]
Pace = Callable[[str], Awaitable[None]]  # awaited with a URL's host:port before fetching it
MAX_BYTES = 5 * 1024 * 1024  # a bigger answer is refused (hostile input never hangs us)
MAX_REDIRECTS = 5
TIMEOUT_S = 30.0
BACK_OFF = frozenset({403, 429, 502, 503})


async def _no_pace(_netloc: str) -> None:
    return None


@dataclass
class Fetched:
    page: CheckedPage
    text: str | None = None  # the decoded body of a page read (2xx)


@dataclass
class Checker:
    config: Config
    put_blob: BlobPut
    pace: Pace = _no_pace
    backed_off: set[str] = field(default_factory=set)  # hosts that asked us to stop

    async def check(self, target: Target) -> SubstituteCheck:
        headers = {
            "User-Agent": self.config.watchdog.user_agent,
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": self.config.browser.locale,
        }
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            read: list[tuple[CheckedPage, list[Found]]] = []
            pages: list[CheckedPage] = []
            for url in target.substitute_pages:
                fetched = await self._fetch(session, url, "information")
                pages.append(fetched.page)
                if fetched.text is not None:
                    base = fetched.page.final_url or url
                    found = await asyncio.to_thread(recognise, fetched.text, base)
                    read.append((fetched.page, found))
            forms = await self._forms(session, read, pages)
        channels = [_outcome(kind, pages, read, forms) for kind in ChannelKind]
        return SubstituteCheck(
            target=target.id,
            department=target.department,
            rules=RULES,
            pages=pages,
            channels=channels,
        )

    async def observe(self, target: Target) -> Observation:
        """The check of `target` as an unsealed observation of its substitute chain."""
        started = datetime.now(UTC)
        check = await self.check(target)
        finished = datetime.now(UTC)
        outcome, detail = summary(check)
        information = [p for p in check.pages if p.role == "information"]
        last = information[-1] if information else None
        return Observation(
            id=str(ULID()),
            target=substitute_chain(target.id),
            outcome=outcome,
            detail=detail,
            substitute=check,
            started_at=started,
            finished_at=finished,
            duration_s=(finished - started).total_seconds(),
            steps=[Step(name=p.role, url=p.url, status=p.status, ms=p.ms) for p in check.pages],
            final_url=last.final_url if last else None,
            http_status=last.status if last else None,
            env=Env(
                software=f"prefecture-watchdog {__version__}",
                engine=Engine.REQUEST,
                user_agent=self.config.watchdog.user_agent,
                locale=self.config.browser.locale,
                simulated=self.config.watchdog.simulated,
            ),
            vantage=self.config.watchdog.vantage,
        )

    async def _forms(
        self,
        session: aiohttp.ClientSession,
        read: list[tuple[CheckedPage, list[Found]]],
        pages: list[CheckedPage],
    ) -> dict[str, CheckedPage | None]:
        """Each form link's page, fetched once (None: its host is not allowed, not fetched)."""
        forms: dict[str, CheckedPage | None] = {}
        for _page, found in read:
            for f in found:
                if f.kind is not ChannelKind.FORM or f.on_page or f.value in forms:
                    continue
                if not self.config.host_allowed(_host(f.value)):
                    forms[f.value] = None
                    continue
                fetched = await self._fetch(session, f.value, "form")
                forms[f.value] = fetched.page
                pages.append(fetched.page)
        return forms

    async def _fetch(self, session: aiohttp.ClientSession, url: str, role: str) -> Fetched:
        page = CheckedPage(url=url, role=role)
        started = time.monotonic()
        try:
            status, final, body, content_type = await self._follow(session, url)
        except _NotRead as exc:
            page.error = str(exc)
            return Fetched(page)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            page.error = _reason(exc)
            return Fetched(page)
        finally:
            page.ms = int((time.monotonic() - started) * 1000)
        page.status, page.final_url = status, final
        page.sha256 = await asyncio.to_thread(self.put_blob, body, "html")
        if status in BACK_OFF:
            self.backed_off.add(_netloc(final))
        if not 200 <= status < 300:
            page.error = f"HTTP {status}"
            return Fetched(page)
        return Fetched(page, _decode(body, content_type))

    async def _follow(
        self, session: aiohttp.ClientSession, url: str
    ) -> tuple[int, str, bytes, str]:
        for _hop in range(MAX_REDIRECTS + 1):
            if not self.config.host_allowed(_host(url)):
                raise _NotRead(f"not fetched: host {_host(url)!r} is not in allowed_hosts")
            if _netloc(url) in self.backed_off:
                raise _NotRead(f"not fetched: {_netloc(url)} asked us to back off in this check")
            await self.pace(_netloc(url))
            async with session.get(url, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    continue
                body = await _body(response)
                return response.status, url, body, response.headers.get("Content-Type", "")
        raise _NotRead(f"more than {MAX_REDIRECTS} redirects")


class _NotRead(Exception):
    """A page we did not fetch or could not read, for a reason of ours or of politeness."""


async def _body(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65_536):
        size += len(chunk)
        if size > MAX_BYTES:
            raise _NotRead(f"answer larger than {MAX_BYTES} bytes: not read")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, content_type: str) -> str:
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"').strip()
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def summary(check: SubstituteCheck) -> tuple[Outcome, str]:
    """The observation's outcome and detail. The channels are the finding; the outcome only
    says how the information pages answered, in the probes' vocabulary: when none was read,
    `blocked` (403, 429), `site_error` (another HTTP error), `probe_error` (not fetched: a
    reason of ours) or `network_error`; else `unrecognized`, as an information page is no
    booking page (the chain is outside every rate either way)."""
    detail = "substitute " + ", ".join(f"{c.kind.value}={c.outcome.value}" for c in check.channels)
    information = [p for p in check.pages if p.role == "information"]
    if any(p.error is None for p in information):
        return Outcome.UNRECOGNIZED, detail
    statuses = [p.status for p in information if p.status is not None]
    if any(s in (403, 429) for s in statuses):
        return Outcome.BLOCKED, detail
    if statuses:
        return Outcome.SITE_ERROR, detail
    if any((p.error or "").startswith("not fetched") for p in information):
        return Outcome.PROBE_ERROR, detail
    return Outcome.NETWORK_ERROR, detail


def _outcome(
    kind: ChannelKind,
    pages: list[CheckedPage],
    read: list[tuple[CheckedPage, list[Found]]],
    forms: dict[str, CheckedPage | None],
) -> ChannelSeen:
    """`published` when a page read publishes it (a form: and its page answered 2xx, or
    was not ours to fetch); `unreachable` when only unanswering forms were found, or when
    an information page could not be read; else `not_found`."""
    found = [(page, f) for page, fs in read for f in fs if f.kind is kind]
    values = list(dict.fromkeys(f.value for _, f in found))
    first = found[0] if found else None
    seen = ChannelSeen(
        kind=kind,
        outcome=ChannelOutcome.NOT_FOUND,
        values=values,
        page=first[0].url if first else None,
        excerpt=first[1].excerpt if first else None,
    )
    if kind is ChannelKind.FORM and found:
        answering = [f for _, f in found if f.on_page or _answered(forms.get(f.value))]
        unchecked = [f for _, f in found if not f.on_page and f.value in forms
                     and forms[f.value] is None]  # fmt: skip
        chosen = (answering or unchecked or [found[0][1]])[0]
        form_page = forms.get(chosen.value)
        seen.form_status = form_page.status if form_page is not None else None
        seen.checked = None if chosen.on_page else form_page is not None
        seen.outcome = (
            ChannelOutcome.PUBLISHED if answering or unchecked else ChannelOutcome.UNREACHABLE
        )
        return seen
    if found:
        seen.outcome = ChannelOutcome.PUBLISHED
    elif any(p.role == "information" and p.error is not None for p in pages):
        seen.outcome = ChannelOutcome.UNREACHABLE
    return seen


def _answered(page: CheckedPage | None) -> bool:
    return page is not None and page.error is None and page.status is not None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0][:200]}" if text else name
