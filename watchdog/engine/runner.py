"""The runner: one place that owns deadlines, timing and evidence, for both engines.

A probe only drives its platform (probes/<slug>.py). Everything else that makes an
observation trustworthy happens here, the same way for every platform. An exception becomes
an outcome through the one table (`outcome_of`, watchdog/probe/outcomes.py), as in the
request engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import platform as host_platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Dialog, Download, Page, Request, Route
from ulid import ULID

from probes import REGISTRY, options_of
from watchdog import __version__
from watchdog.a11y import profiles
from watchdog.a11y.audit import ALLOWANCE_S, Auditor
from watchdog.assist.desk import AssistedSession, CaptchaImages, Desk
from watchdog.config.loader import Config
from watchdog.domain.errors import SiteFault
from watchdog.domain.models import (
    AuditProfile,
    Engine,
    EngineChoice,
    Env,
    EvidenceRefs,
    Observation,
    Outcome,
    Profile,
    Step,
    audit_chain,
)
from watchdog.domain.target import Target
from watchdog.domain.vantage import proxy_label
from watchdog.engine.browser import BrowserHost
from watchdog.engine.pages import Lent, PagePool
from watchdog.engine.rendering import render_later
from watchdog.engine.requests import RequestAttempt, RequestEngine
from watchdog.evidence.frame import Banner, frame
from watchdog.evidence.network import (
    NAVIGATION_JS,
    Certificate,
    NetworkFacts,
    navigation_phases,
    resolve,
    tls_certificate,
)
from watchdog.evidence.policy import EvidenceMemory, page_fingerprint
from watchdog.evidence.volatile import keep_page
from watchdog.probe.classify import classify
from watchdog.probe.outcomes import NO_RESULT, Mapped, outcome_of
from watchdog.probe.requesting import MAX_PAGE_BYTES
from watchdog.probe.resources import resources_of
from watchdog.probe.resources import to_json as resources_json
from watchdog.probe.session import Classification, Credentials, PageState, ProbeSession, host_of
from watchdog.probe.transport import client_name

log = logging.getLogger(__name__)

BlobPut = Callable[[bytes, str], str]
OnNetwork = Callable[[Target, NetworkFacts], None]  # the daemon's metrics, after each probe
Listeners = list[tuple[str, Callable[..., object]]]
CAPTURE_TIMEOUT_MS = 10_000
# The probes whose trace is kept: our failures, unknown pages and the site's silences. Every
# other probe's trace is dropped when it ends (stopped, never written).
KEEP_TRACE = frozenset({Outcome.UNRECOGNIZED, Outcome.PROBE_ERROR, Outcome.TIMEOUT})


def trace_snapshots(previous: Outcome | None) -> bool:
    """Whether a probe's trace records the DOM before and after each action and the network
    log (Playwright records both only with snapshots), given the target's previous outcome.

    Every browser probe is traced: its actions (each call, its parameters, timing and
    error) and the console, which cost next to nothing. The snapshots cost a fifth to a
    quarter of a probe's CPU (issue 20, README « Performance »), so they are recorded only
    once the target is in trouble: after a probe of it whose trace was kept, until one ends
    well. A fault's first probe keeps the actions' trace, every probe after it the full one.
    """
    return previous in KEEP_TRACE


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Capture:
    """What the runner saw, whatever happened to the probe."""

    state: PageState | None = None
    classification: Classification | None = None
    mapped: Mapped | None = None
    session: ProbeSession | None = None
    evidence: EvidenceRefs = field(default_factory=EvidenceRefs)
    engine: Engine = Engine.BROWSER
    trail: list[Step] = field(default_factory=list)  # steps not in `session` (request engine)
    fingerprint: str | None = None  # of the page, volatile tokens aside (evidence policy)
    profile: Profile | None = None  # how the browser's clean state was made, if one ran
    shot_at: datetime | None = None  # when its screenshot was taken, if one was
    phases: dict[str, float] = field(default_factory=dict)  # the last page load's (browser)
    auditor: Auditor | None = None  # an accessibility audit rides along (watchdog/a11y)
    render: bool | None = None  # the evidence policy's answer, when asked during the probe

    @classmethod
    def of_request(cls, attempt: RequestAttempt) -> Capture:
        return cls(attempt.state, attempt.classification, attempt.mapped, None,
                   engine=Engine.REQUEST, trail=list(attempt.steps),
                   render=attempt.render)  # fmt: skip

    @property
    def steps(self) -> list[Step]:
        return self.trail + (self.session.steps if self.session is not None else [])


class Runner:
    """Runs one probe at a time per call; share one Runner (one browser) per process."""

    session_class: type[ProbeSession] = ProbeSession  # what a browser probe is handed

    def __init__(
        self,
        config: Config,
        put_blob: BlobPut,
        host: BrowserHost | None = None,
        memory: EvidenceMemory | None = None,
        on_network: OnNetwork | None = None,
        desk: Desk | None = None,
        *,
        full_traces: bool = False,
    ) -> None:
        self.config = config
        # A one-off probe (`watchdog probe`, an audit) has a person waiting for it: its trace
        # records everything; the daemon's record the snapshots only for targets in trouble.
        self.full_traces = full_traces
        self.desk = desk  # parks `captcha: assisted` pages for a person (watchdog/assist/)
        self.put_blob = put_blob
        self.on_network = on_network
        self.host = host or BrowserHost(
            config.browser.executable_path,
            config.browser.headless,
            config.watchdog.allowed_hosts,
            config.watchdog.proxy,
        )
        self.memory = memory or EvidenceMemory()  # the evidence policy's per-target memory
        self.requests = RequestEngine(config, self.host)

    @property
    def pages(self) -> PagePool:
        """Pages kept for `browser.profile: cleared` (held by the browser host, see there)."""
        b = self.config.browser
        settings = (self.config.watchdog.user_agent, b.viewport, b.locale, b.timezone)
        return self.host.pages(settings, self._bare_context, b.max_contexts)

    async def close(self) -> None:
        await self.host.close()

    def _viewport(self) -> dict[str, int]:
        width, height = self.config.browser.viewport.split("x")
        return {"width": int(width), "height": int(height)}

    async def _bare_context(self, auditor: Auditor | None = None) -> BrowserContext:
        browser = await self.host.get()
        conditions = auditor.conditions if auditor is not None else None
        emulation: dict[str, Any] = {}
        if conditions is not None:  # an audit profile's viewport (watchdog/a11y/profiles.py)
            emulation = {"is_mobile": conditions.mobile, "has_touch": conditions.mobile}
        return await browser.new_context(
            user_agent=self.config.watchdog.user_agent,  # never changed by a profile
            viewport=profiles.viewport(conditions) if conditions else self._viewport(),  # type: ignore[arg-type]
            locale=self.config.browser.locale,
            timezone_id=self.config.browser.timezone,
            service_workers="block",
            **emulation,
        )

    async def _new_context(
        self, target: Target, creds: Credentials, auditor: Auditor | None = None
    ) -> BrowserContext:
        context = await self._bare_context(auditor)
        if creds.headers:
            # Interception costs every request a round trip through Python: only when
            # operator headers must be added. Off-list hosts are refused by Chromium's
            # resolver rules (watchdog/engine/browser.py), redirect hops included.
            await context.route("**/*", self._router(target, creds))
        for name, value in creds.cookies.items():
            await context.add_cookies(
                [{"name": name, "value": value, "domain": target.host, "path": "/"}]
            )
        return context

    def _router(self, target: Target, creds: Credentials) -> Callable[[Route], object]:
        async def route(route: Route) -> None:
            request = route.request
            host = host_of(request.url)
            if request.is_navigation_request() and not self.config.host_allowed(host):
                await route.abort("blockedbyclient")
                return
            if creds.headers and host == target.host:
                # Operator secrets go to the operator's host only, never to third parties.
                await route.continue_(headers={**request.headers, **creds.headers})
                return
            await route.continue_()

        return route

    async def probe(
        self, target: Target, audit: bool = False, profile: AuditProfile = AuditProfile.STANDARD
    ) -> Observation:
        """Run `target`'s probe once (engine per config) and return the unsealed observation.

        `audit`: the same journey in the browser, with axe-core run on every step page it
        visits; the observation is an audit, for the target's audit chain (issue 18).
        `profile` (with `audit`): a mobile or slow-network run, which measures each step's
        load instead (watchdog/a11y/profiles.py).
        """
        obs_id = str(ULID())
        started = utcnow()
        spec = REGISTRY[target.platform]
        creds = spec.credentials(options_of(target))
        if audit:
            auditor = Auditor(
                target.id, obs_id, self.put_blob, self.config.watchdog.simulated,
                profile=profile, conditions=profiles.conditions_of(profile),
            )  # fmt: skip
            return await self._browse(target, obs_id, started, creds, [], auditor)
        choice = self.config.engine_for(target)
        trail: list[Step] = []
        if choice is not EngineChoice.BROWSER and spec.request_probe is not None:
            attempt = await self.requests.attempt(target, spec, creds, self._renders(target))
            if choice is EngineChoice.REQUEST or not attempt.needs_browser:
                capture = Capture.of_request(attempt)
                finished = utcnow()
                await self._keep_request_evidence(capture, target, obs_id)
                return await self._observation(target, obs_id, started, finished, capture, creds)
            # `auto`: a page only a renderer reads, or one no rule knows: the browser looks.
            trail = [s.model_copy(update={"name": f"request:{s.name}"}) for s in attempt.steps]
        return await self._browse(target, obs_id, started, creds, trail)

    async def _browse(
        self,
        target: Target,
        obs_id: str,
        started: datetime,
        creds: Credentials,
        trail: list[Step],
        auditor: Auditor | None = None,
    ) -> Observation:
        spec = REGISTRY[target.platform]
        options = options_of(target)
        capture = Capture(trail=trail, auditor=auditor)
        context: BrowserContext | None = None
        lent: Lent | None = None
        page: Page | None = None
        listeners: Listeners = []
        tracing = False
        # An audit never parks its page for a person: assisted reads belong to the probes.
        assisted = self._assisted(target) and auditor is None
        images = CaptchaImages() if assisted else None  # the captcha image, as served
        try:
            conditions = auditor.conditions if auditor is not None else None
            if (
                self.config.browser.profile is Profile.CLEARED
                and not creds
                and not assisted
                and conditions is None  # a profile's viewport is not the kept pages'
            ):
                lent = await self.pages.borrow()
                context, page = lent.context, lent.page
                capture.profile = Profile.CLEARED
            else:  # operator credentials never go into a page that outlives the probe
                context = await self._new_context(target, creds, auditor)
                page = await context.new_page()
                capture.profile = Profile.FRESH
                if conditions is not None:
                    await profiles.throttle(context, page, conditions)
                if images is not None:
                    images.watch(page)
            tracing = not creds  # a trace records headers: never with operator secrets
            if tracing:
                snapshots = self.full_traces or trace_snapshots(self.memory.last_outcome(target.id))
                await context.tracing.start(screenshots=False, snapshots=snapshots)
            capture.session, listeners = self._session(page, target, auditor)
            deadline = self.config.browser.probe_timeout.total_seconds()
            deadline += ALLOWANCE_S if auditor is not None else 0  # axe-core's own time
            if conditions is not None and conditions.latency_ms is not None:
                deadline += profiles.SLOW_ALLOWANCE_S  # a throttled journey takes longer
            page.set_default_timeout(deadline * 1000)
            capture.state = await asyncio.wait_for(spec.probe(capture.session, options), deadline)
            capture.session.check_refused()
            if len(capture.state.html) > MAX_PAGE_BYTES:
                raise SiteFault(f"a page of {len(capture.state.html)} characters", "page_too_large")
            capture.classification = classify(capture.state, spec.classify, options)
        except Exception as exc:  # mapped by the one table, as for the request engine
            capture.mapped = outcome_of(exc, capture.session)
            log.info("probe %s: %s (%s)", target.id, capture.mapped.outcome, capture.mapped.detail)
        finished = utcnow()
        await self._keep_evidence(capture, context, tracing, target, obs_id, started)
        if page is not None:
            for event, listener in listeners:  # a kept page must not call this probe's handlers
                page.remove_listener(event, listener)
        await self._release(capture, target, lent, context, page, images)
        return await self._observation(target, obs_id, started, finished, capture, creds)

    async def _release(
        self,
        capture: Capture,
        target: Target,
        lent: Lent | None,
        context: BrowserContext | None,
        page: Page | None,
        images: CaptchaImages | None,
    ) -> None:
        """Give a lent page back, park a page at an assisted captcha, close the rest."""
        if lent is not None:
            # Only a probe that ended normally leaves a page fit to wipe and lend again.
            await self.pages.give_back(lent, clean_end=capture.mapped is None)
        elif context is not None:
            parked = self._park(capture, target, context, page, images)
            if parked is None:
                await _quietly_close(context)
            elif self.desk is not None:  # its captcha, kept now (for the record, the notice)
                await self.desk.keep_captcha(parked)

    def _assisted(self, target: Target) -> bool:
        """A journey in `captcha: assisted` mode whose platform can read on, with a desk."""
        spec = REGISTRY[target.platform]
        mode = getattr(options_of(target), "captcha", None)
        return self.desk is not None and spec.assisted_read is not None and mode == "assisted"

    def _park(
        self,
        capture: Capture,
        target: Target,
        context: BrowserContext,
        page: Page | None,
        images: CaptchaImages | None,
    ) -> AssistedSession | None:
        """Hand a page at the captcha to the assist desk; None: close it as always (not at
        the captcha, not assisted, or the desk full)."""
        at_captcha = capture.classification is not None and _outcome(capture) is Outcome.CAPTCHA
        if self.desk is None or images is None or page is None or not at_captcha:
            return None
        return self.desk.park(target, context, page, images)

    async def read_assisted(self, parked: AssistedSession, first: bool) -> Observation:
        """One read of `creneau/` on a page a person's answer opened: the platform's
        `assisted_read`, then the same classification, evidence and observation as a probe,
        its `env` saying who answered the captcha, which session and how long ago."""
        target = parked.target
        spec = REGISTRY[target.platform]
        options = options_of(target)
        assert spec.assisted_read is not None
        creds = spec.credentials(options)
        obs_id = str(ULID())
        started = utcnow()
        capture = Capture(profile=Profile.FRESH)
        page = parked.page
        capture.session, listeners = self._session(page, target)
        if first:  # the page the person's answer opened is this read's page
            capture.session.steps.append(Step(name="person_answer", url=page.url, status=None,
                                              ms=0))  # fmt: skip
        try:
            deadline = self.config.browser.probe_timeout.total_seconds()
            state = await asyncio.wait_for(spec.assisted_read(capture.session, options), deadline)
            capture.state = state
            capture.session.check_refused()
            capture.classification = classify(state, spec.classify, options)
        except Exception as exc:  # the one table of exceptions to outcomes
            capture.mapped = outcome_of(exc, capture.session)
        finished = utcnow()
        await self._keep_evidence(capture, None, False, target, obs_id, started)
        for event, listener in listeners:
            page.remove_listener(event, listener)
        obs = await self._observation(target, obs_id, started, finished, capture, creds)
        assert parked.solved_at is not None
        env = obs.env.model_copy(update={
            "captcha_solved_by": "person", "assisted_session": parked.id,
            "since_solve_s": round((started - parked.solved_at).total_seconds(), 1),
            "fresh_context": False,
        })  # fmt: skip
        return obs.model_copy(update={"env": env})

    def _session(
        self, page: Page, target: Target, auditor: Auditor | None = None
    ) -> tuple[ProbeSession, Listeners]:
        session = self.session_class(
            page=page, url=target.url, target_id=target.id, host_allowed=self.config.host_allowed
        )
        if auditor is not None:  # axe-core reads each step page before the probe leaves it
            session.before_leaving = auditor.visit

        async def on_dialog(dialog: Dialog) -> None:
            session.note_dialog(dialog.message)
            await dialog.dismiss()

        def on_failed(request: Request) -> None:
            session.note_failed_request(request.url, request.is_navigation_request())

        async def on_download(download: Download) -> None:
            session.downloads.append(download.url)  # never saved: the file is the site's fault
            await download.cancel()

        def on_crash(crashed: Page) -> None:
            session.crashed = True

        async def on_popup(popup: Page) -> None:
            # A window the page opened by itself: noted in the trail, closed unread.
            session.steps.append(Step(name="popup", url=popup.url, status=None, ms=0))
            await popup.close()

        listeners: Listeners = [("dialog", on_dialog), ("requestfailed", on_failed),
                                ("download", on_download), ("crash", on_crash),
                                ("popup", on_popup)]  # fmt: skip
        for event, listener in listeners:
            page.on(event, listener)  # type: ignore[call-overload]
        return session, listeners

    async def _keep_evidence(
        self,
        capture: Capture,
        context: BrowserContext | None,
        tracing: bool,
        target: Target,
        obs_id: str,
        started: datetime,
    ) -> None:
        session = capture.session
        if session is not None and session.page is not None and not session.page.is_closed():
            step = session.page_step
            if capture.auditor is not None and step is not None:  # the page the probe ended on
                await capture.auditor.visit(session.page, step.name, step.url)
            await self._capture_page(capture, session, target, obs_id, started)
        outcome = _outcome(capture)
        if context is None or not tracing:
            return
        try:
            if outcome in KEEP_TRACE:
                with tempfile.TemporaryDirectory() as tmp:
                    trace = Path(tmp) / "trace.zip"
                    await context.tracing.stop(path=str(trace))
                    capture.evidence.trace = self.put_blob(trace.read_bytes(), "trace")
            else:
                await context.tracing.stop()
        except Exception as exc:  # evidence is best effort once the probe ended
            log.warning("trace for %s not kept: %s", target.id, exc)

    async def _capture_page(
        self,
        capture: Capture,
        session: ProbeSession,
        target: Target,
        obs_id: str,
        started: datetime,
    ) -> None:
        page = session.page
        try:  # the last page load's phases, for the metrics (one round trip, best effort)
            entry = await asyncio.wait_for(page.evaluate(NAVIGATION_JS), CAPTURE_TIMEOUT_MS / 1000)
            capture.phases = navigation_phases(entry)
        except Exception as exc:
            log.debug("navigation timing of %s not read: %s", target.id, exc)
        try:
            if capture.state is not None:  # the DOM the classifier read: kept as it read it
                html = capture.state.html
            else:
                html = await asyncio.wait_for(page.content(), CAPTURE_TIMEOUT_MS / 1000)
            if len(html) > MAX_PAGE_BYTES:  # not a page to keep (nor to photograph whole)
                log.info("capture of %s skipped: a page of %d characters", target.id, len(html))
                return
            keep_page(capture.evidence, html, self.put_blob)  # skeleton + volatile record
            if capture.state is None:
                capture.state = PageState(
                    url=page.url,
                    status=session.last_status,
                    html=html,
                    dialogs=tuple(session.dialogs),
                )
            if not self._wants_screenshot(capture, target, html):
                return
            raw = await page.screenshot(full_page=True, timeout=CAPTURE_TIMEOUT_MS)
        except Exception as exc:  # a page that cannot be captured is noted, not fatal
            log.info("capture of %s incomplete: %s", target.id, exc)
            return
        await self._keep_screenshot(capture, raw, target, obs_id)

    def _wants_screenshot(self, capture: Capture, target: Target, html: str) -> bool:
        capture.fingerprint = page_fingerprint(html)
        if capture.auditor is not None:  # an audit keeps its page, outside the probes' policy
            return True
        policy = self.config.screenshots_for(target)
        outcome = _outcome(capture)
        return self.memory.wants_screenshot(
            target.id, policy, outcome, capture.fingerprint, utcnow()
        )

    async def _keep_screenshot(
        self, capture: Capture, raw: bytes, target: Target, obs_id: str
    ) -> None:
        """Keep the raw capture and its framed copy (which says when it was rendered later)."""
        assert capture.state is not None
        raw_hash = self.put_blob(raw, "screenshot")
        capture.evidence.screenshot = raw_hash
        capture.shot_at = utcnow()
        banner = Banner(
            url=capture.state.url,
            taken_at=capture.shot_at,
            target=target.id,
            observation_id=obs_id,
            raw_sha256=raw_hash,
            simulated=self.config.watchdog.simulated,
            rendered_later=capture.engine is Engine.REQUEST,
        )
        framed = await asyncio.to_thread(frame, raw, banner)
        capture.evidence.framed = self.put_blob(framed, "framed")

    def _renders(self, target: Target) -> Callable[[RequestAttempt], bool]:
        """The evidence policy, asked as a request probe's journey ends, before the resources
        of a rendering are fetched: an unchanged page is not rendered and needs none."""

        def renders(attempt: RequestAttempt) -> bool:
            assert attempt.state is not None
            capture = Capture.of_request(attempt)
            attempt.render = self._wants_screenshot(capture, target, attempt.state.html)
            return attempt.render

        return renders

    async def _keep_request_evidence(self, capture: Capture, target: Target, obs_id: str) -> None:
        """The served HTML always; with a screenshot rendered from it when the policy asks, the
        resources the probe fetched for that rendering (which never reaches the site)."""
        state = capture.state
        if state is None:
            return
        # Off the event loop: the blobs' fsyncs wait for the disk, and every probe in flight
        # would wait with them. The observation is built (and committed) only once they end.
        await asyncio.to_thread(keep_page, capture.evidence, state.html, self.put_blob)
        wanted = self._wants_screenshot(capture, target, state.html)
        if not (wanted if capture.render is None else capture.render):
            return
        resources = resources_of(state)
        try:
            if resources:
                capture.evidence.resources = self.put_blob(resources_json(resources), "resources")
            browser = await self.host.get()
            # One render at a time per browser, on a kept page: see watchdog/engine/rendering.py.
            raw = await render_later(
                browser, state.html, state.url, self.config.browser.viewport, resources
            )
        except Exception as exc:  # evidence is best effort once the probe ended
            log.info("rendering of %s's page not kept: %s", target.id, exc)
            return
        await self._keep_screenshot(capture, raw, target, obs_id)

    async def _env(self, target: Target, url: str, certificate: Certificate | None) -> Env:
        return Env(
            software=f"prefecture-watchdog {__version__}",
            browser=self.host.product,
            browser_version=self.host.version,
            os=host_platform.platform(),
            user_agent=self.config.watchdog.user_agent,
            viewport=self.config.browser.viewport,
            locale=self.config.browser.locale,
            timezone=self.config.browser.timezone,
            fresh_context=True,
            proxy=proxy_label(self.config.watchdog.proxy),
            resolved_ip=await resolve(host_of(url)) if not self.config.watchdog.proxy else None,
            tls_fingerprint=certificate.fingerprint if certificate is not None else None,
            simulated=self.config.watchdog.simulated,
        )

    async def _observation(
        self,
        target: Target,
        obs_id: str,
        started: datetime,
        finished: datetime,
        capture: Capture,
        creds: Credentials,
    ) -> Observation:
        state = capture.state
        c = capture.classification
        if c is not None:
            outcome, detail, message = c.outcome, c.detail, c.message
        else:
            mapped = capture.mapped or NO_RESULT
            outcome, detail, message = mapped.outcome, mapped.detail, mapped.message
        final_url = state.url if state is not None else None
        # Network facts of the page the probe ended on; of the target's own URL when it ended
        # on none (a browser error page after a refused certificate, a timeout…).
        url = final_url if final_url and final_url.startswith(("http:", "https:")) else target.url
        # Behind a vantage's proxy, the site's address and certificate are what the proxy saw:
        # a direct look from this machine would describe another network, so none is kept.
        direct = not self.config.watchdog.proxy
        certificate = await tls_certificate(url) if direct else None
        if capture.auditor is None or capture.auditor.conditions is None:  # not throttled
            self._report_network(target, url, certificate, capture.phases)
        steps = capture.steps
        chain, audit = target.id, None
        if capture.auditor is not None:
            chain, audit = audit_chain(target.id), capture.auditor.record(target.platform, steps)
            if capture.auditor.runs_axe:
                capture.evidence.axe = self.put_blob(capture.auditor.results_json(), "axe")
        else:
            self.memory.remember(target.id, outcome, capture.fingerprint, capture.shot_at)
        obs = Observation(
            id=obs_id,
            target=chain,
            outcome=outcome,
            detail=detail,
            message=_mask(message, creds),
            dialogs=[m for d in _dialogs(capture) if (m := _mask(d, creds)) is not None],
            captcha=capture.session.captcha if capture.session is not None else None,
            audit=audit,
            slots=c.slots if c else None,
            slots_seen=list(c.slots_seen) if c and c.slots_seen is not None else None,
            earliest_slot=c.earliest_slot if c else None,
            published_next=c.published_next if c else None,
            started_at=started,
            finished_at=finished,
            duration_s=round((finished - started).total_seconds(), 3),
            steps=steps,
            final_url=final_url,
            http_status=state.status if state is not None else None,
            evidence=capture.evidence,
            env=self._engine_env(await self._env(target, url, certificate), capture, target),
            vantage=self.config.watchdog.vantage,
        )
        return obs

    def _report_network(
        self, target: Target, url: str, certificate: Certificate | None, phases: dict[str, float]
    ) -> None:
        """Hand what the probe measured of the network to the metrics (not to the record)."""
        if self.on_network is None:
            return
        expiry = certificate.not_after if certificate is not None else None
        try:
            self.on_network(target, NetworkFacts(host_of(url), expiry, phases))
        except Exception:  # the metrics never cost an observation
            log.exception("network metrics of %s not recorded", target.id)

    def _engine_env(self, env: Env, capture: Capture, target: Target) -> Env:
        """`env` as the engine that ran saw it (no browser, no viewport for the request engine)."""
        update: dict[str, object] = {
            "screenshots": self.config.screenshots_for(target),
            "profile": capture.profile,
            "fresh_context": capture.profile is not Profile.CLEARED,
        }
        if capture.engine is Engine.REQUEST:
            update |= {"engine": Engine.REQUEST, "browser": None, "browser_version": None,
                       "viewport": None, "timezone": None,
                       "http_client": client_name(self.config.request_client.value)}  # fmt: skip
        return env.model_copy(update=update)


def _dialogs(capture: Capture) -> list[str]:
    """What the page said in `alert()`/`confirm()` dialogs, kept verbatim in the observation."""
    if capture.state is not None and capture.state.dialogs:
        return list(capture.state.dialogs)
    return list(capture.session.dialogs) if capture.session is not None else []


def _outcome(capture: Capture) -> Outcome:
    if capture.classification is not None:
        return capture.classification.outcome
    return capture.mapped.outcome if capture.mapped is not None else Outcome.PROBE_ERROR


def _mask(text: str | None, creds: Credentials) -> str | None:
    if text is None:
        return None
    for secret in creds.secret_values():
        text = text.replace(secret, "****")
    return text


async def _quietly_close(context: BrowserContext) -> None:
    try:
        await context.close()
    except Exception as exc:  # a crashed browser has no context left to close
        log.debug("context close failed: %s", exc)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
