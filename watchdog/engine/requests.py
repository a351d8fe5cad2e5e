"""The request engine: a platform's `request_probe` over plain HTTP.

No renderer runs: the journey is the HTTP requests a browser would send, and the page the
classifier reads is the HTML the site served. Each attempt gets a new HTTP client (a fresh
cookie jar: nothing carried over from an earlier probe), the configured user agent and
locale, and the operator's sanctioned header/cookie for the target host only. The client is
`browser.request_client` (watchdog/probe/transport.py): aiohttp in this process, or
Playwright's `APIRequestContext` in its driver, which is then started on first use. The runner
owns what happens next: evidence, the observation, and the browser re-check under `auto`.

What a later rendering of the page needs (stylesheets, images, fonts) is fetched here, within
the probe's deadline and by the same client, and travels with the page
(`resources.RenderablePage`): the rendering itself never touches the site.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from probes import options_of
from watchdog.config.loader import Config
from watchdog.domain.errors import NeedsBrowser
from watchdog.domain.models import EngineChoice, Outcome, RequestClient, Step
from watchdog.domain.target import Target
from watchdog.engine.browser import BrowserHost
from watchdog.probe.classify import classify
from watchdog.probe.outcomes import Mapped, outcome_of
from watchdog.probe.requesting import RequestSession
from watchdog.probe.resources import with_resources
from watchdog.probe.session import Classification, Credentials, PageState, PlatformSpec
from watchdog.probe.transport import AiohttpTransport, PlaywrightTransport, Transport

log = logging.getLogger(__name__)
# Whether the attempt's page will be rendered (the runner's evidence policy).
Renders = Callable[["RequestAttempt"], bool]


@dataclass
class RequestAttempt:
    """What the request engine saw, whatever happened to the probe."""

    state: PageState | None = None
    classification: Classification | None = None
    mapped: Mapped | None = None
    steps: list[Step] = field(default_factory=list)
    server_ip: str | None = None
    # The evidence policy's answer, asked before fetching the rendering's resources
    # (`attempt`'s `renders`); None when it was not asked.
    render: bool | None = None

    @property
    def needs_browser(self) -> bool:
        """Under `auto`, the browser looks again: a script-built page, or one no rule knows."""
        if self.classification is not None:
            return self.classification.outcome is Outcome.UNRECOGNIZED
        return self.mapped is not None and self.mapped.detail == NeedsBrowser.detail


def accept_language(locale: str) -> str:
    """The Accept-Language header Chromium sends for `locale` (fr-FR → "fr-FR,fr;q=0.9")."""
    language = locale.split("-")[0]
    return locale if language == locale else f"{locale},{language};q=0.9"


class RequestEngine:
    """Runs request probes; on `playwright`, shares Playwright's driver with the browser host."""

    def __init__(self, config: Config, host: BrowserHost) -> None:
        self.config = config
        self.host = host

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": accept_language(self.config.browser.locale),
        }

    async def _transport(self, target: Target, creds: Credentials) -> Transport:
        if self.config.request_client is RequestClient.AIOHTTP:
            return AiohttpTransport(
                {"User-Agent": self.config.watchdog.user_agent, **self._headers()},
                creds.cookies,
                target.url,
                self.config.watchdog.proxy,
            )
        driver = await self.host.driver()
        cookies = [
            {"name": name, "value": value, "domain": target.host, "path": "/",
             "expires": -1, "httpOnly": False, "secure": False, "sameSite": "Lax"}
            for name, value in creds.cookies.items()
        ]  # fmt: skip
        proxy = self.config.watchdog.proxy
        context = await driver.request.new_context(
            user_agent=self.config.watchdog.user_agent,
            proxy={"server": proxy} if proxy else None,
            extra_http_headers=self._headers(),
            storage_state={"cookies": cookies, "origins": []},  # type: ignore[arg-type]
        )
        return PlaywrightTransport(context)

    async def attempt(
        self, target: Target, spec: PlatformSpec, creds: Credentials, renders: Renders | None = None
    ) -> RequestAttempt:
        """Run `target`'s request probe once, within the probe deadline.

        `renders`, asked once the journey is over: whether the page will be rendered. A page
        that will not be needs none of its stylesheets or images (no request for them reaches
        the site); without it, they are fetched whenever the page is kept."""
        deadline = self.config.browser.probe_timeout.total_seconds()
        ends = time.monotonic() + deadline
        result = RequestAttempt()
        transport = await self._transport(target, creds)
        session = RequestSession(
            transport, target.url, target.id, self.config.host_allowed, target.host,
            dict(creds.headers), timeout_ms=deadline * 1000,
        )  # fmt: skip
        try:
            await self._probe(target, spec, session, result)
            if result.state is not None and self._fetches(target, result, renders):
                resources = await session.resources(ends - time.monotonic())
                result.state = with_resources(result.state, resources)
        finally:
            await transport.close()
        result.steps, result.server_ip = session.steps, session.server_ip
        return result

    async def _probe(
        self, target: Target, spec: PlatformSpec, session: RequestSession, result: RequestAttempt
    ) -> None:
        assert spec.request_probe is not None
        options = options_of(target)
        deadline = self.config.browser.probe_timeout.total_seconds()
        try:
            result.state = await asyncio.wait_for(spec.request_probe(session, options), deadline)
            result.classification = classify(result.state, spec.classify, options)
        except Exception as exc:  # mapped by the one table, as for the browser
            result.mapped = outcome_of(exc)  # no page: nothing the site did besides `exc`
            result.state = session.state() if session.html else None
            log.info("request probe %s: %s (%s)", target.id, result.mapped.outcome,
                     result.mapped.detail)  # fmt: skip

    def _fetches(self, target: Target, result: RequestAttempt, renders: Renders | None) -> bool:
        """Whether a rendering of this attempt's page may need its resources."""
        return self._keeps(target, result) and (renders is None or renders(result))

    def _keeps(self, target: Target, result: RequestAttempt) -> bool:
        """Whether this attempt's page is the observation's (`auto` hands some to the browser,
        whose page replaces it: no need to fetch what its rendering would need)."""
        return not (self.config.engine_for(target) is EngineChoice.AUTO and result.needs_browser)
