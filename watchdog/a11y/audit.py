"""One audit: axe-core on each step page of a probe's journey, before the probe leaves it.

The runner hands an `Auditor` to the probe's session (watchdog/probe/session.py calls it
before each navigation) and calls it once more on the page the probe ended on, so the pages
audited are exactly those the journey visited, never one past the availability step, and
axe-core itself fetches nothing. A page that broke a rule is photographed (full page), and
so are its first elements in breach, each framed like any capture (watchdog/evidence/frame.py).
A page axe-core could not run on keeps its error: that page is unknown, never « no
violation ».

On each page the auditor also reads the page's own navigation timing (its load, by phase) and
any meta refresh with a delay (a time limit, watchdog/a11y/timelimits.py). A `mobile` or
`slow-3g` run (watchdog/a11y/profiles.py) runs no axe-core: its findings are those loads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from watchdog.a11y import axe
from watchdog.a11y.rgaa import RgaaTable, table
from watchdog.a11y.timelimits import META_REFRESH_JS, limits_of, refresh_limit
from watchdog.domain.models import (
    Audit,
    AuditedPage,
    AuditProfile,
    ElementShot,
    Impact,
    RunConditions,
    Step,
    StepLoad,
    TimeLimit,
    Violation,
)
from watchdog.evidence.frame import Banner, frame
from watchdog.evidence.network import NAVIGATION_JS, navigation_phases

if TYPE_CHECKING:
    from playwright.async_api import Page

log = logging.getLogger(__name__)

BlobPut = Callable[[bytes, str], str]
AXE_TIMEOUT_S = 30.0  # one page's run; a longer one is recorded as an error on that page
CAPTURE_TIMEOUT_MS = 10_000
ALLOWANCE_S = 120.0  # added to the probe's deadline when it is audited (axe-core's own time)
MAX_ELEMENTS = 20  # selectors kept per rule and page in the observation (all are in the JSON)
SHOTS_PER_RULE = 3  # elements photographed per rule and page
SHOTS_PER_PAGE = 10
ELEMENT_TIMEOUT_MS = 2_000


@dataclass
class Auditor:
    """Collects the pages of one audited probe; `record` is the observation's `audit`."""

    target: str
    observation_id: str
    put_blob: BlobPut
    simulated: bool = False
    profile: AuditProfile = AuditProfile.STANDARD
    conditions: RunConditions | None = None
    rgaa: RgaaTable = field(default_factory=table)
    pages: list[AuditedPage] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)  # axe-core's results, by page
    loads: list[StepLoad] = field(default_factory=list)
    limits: list[TimeLimit] = field(default_factory=list)  # seen on the pages
    _seen: set[tuple[str, str]] = field(default_factory=set)

    @property
    def runs_axe(self) -> bool:
        return self.profile is AuditProfile.STANDARD

    async def visit(self, page: Page, step: str, url: str) -> None:
        """Audit `page`, the journey's step `step` loaded from `url` (once per step)."""
        if (step, url) in self._seen or page.is_closed():
            return
        self._seen.add((step, url))
        await self._read_page(page, step, url)
        if self.runs_axe:
            await self._axe(page, step, url)

    async def _read_page(self, page: Page, step: str, url: str) -> None:
        """The page's navigation timing and meta refresh (best effort: one round trip each)."""
        phases: dict[str, float] = {}
        try:
            phases = navigation_phases(await asyncio.wait_for(page.evaluate(NAVIGATION_JS), 10))
            limit = refresh_limit(step, await asyncio.wait_for(page.evaluate(META_REFRESH_JS), 10))
            if limit is not None:
                self.limits.append(limit)
        except Exception as exc:  # a page gone or hung: its load stays unknown
            log.debug("timing of %s at %s not read: %s", self.target, step, exc)
        self.loads.append(StepLoad(step=step, url=url, phases=phases))

    async def _axe(self, page: Page, step: str, url: str) -> None:
        try:
            results = await asyncio.wait_for(axe.run(page), AXE_TIMEOUT_S)
        except Exception as exc:  # our tool failed on this page: unknown, not clean
            log.info("audit of %s at %s: axe-core failed: %s", self.target, step, exc)
            self.pages.append(AuditedPage(step=step, url=url, error=_reason(exc)))
            self.raw.append({"step": step, "url": url, "error": _reason(exc)})
            return
        audited = AuditedPage(
            step=step,
            url=url,
            violations=[self._violation(v) for v in results.get("violations", [])],
            passes=len(results.get("passes", [])),
            incomplete=len(results.get("incomplete", [])),
        )
        if audited.violations:
            await self._capture(page, audited)
            await self._capture_elements(page, audited)
        self.pages.append(audited)
        self.raw.append({"step": step, "url": url, "results": results})

    def _violation(self, found: dict[str, Any]) -> Violation:
        rule = str(found.get("id"))
        impact = found.get("impact")
        elements = [_selector(node) for node in found.get("nodes", [])]
        return Violation(
            rule=rule,
            impact=Impact(impact) if impact in set(Impact) else None,
            criteria=self.rgaa.criteria_of(rule),
            elements=elements[:MAX_ELEMENTS],
        )

    async def _capture(self, page: Page, audited: AuditedPage) -> None:
        try:
            raw = await page.screenshot(full_page=True, timeout=CAPTURE_TIMEOUT_MS)
        except Exception as exc:  # evidence is best effort; the finding stays
            log.info("audit capture of %s at %s failed: %s", self.target, audited.step, exc)
            return
        audited.screenshot, audited.framed = await self._keep(raw, audited.url)

    async def _capture_elements(self, page: Page, audited: AuditedPage) -> None:
        """A framed capture of each element in breach: the first SHOTS_PER_RULE of each rule,
        SHOTS_PER_PAGE in all; an element that cannot be photographed (hidden, inside a
        frame, gone) is only named, in `elements`."""
        budget = SHOTS_PER_PAGE
        for v in audited.violations:
            for element in v.elements[:SHOTS_PER_RULE]:
                if budget <= 0:
                    return
                budget -= 1
                try:
                    raw = await page.locator(element).first.screenshot(timeout=ELEMENT_TIMEOUT_MS)
                except Exception as exc:  # best effort, as above
                    log.debug("no capture of %s on %s: %s", element, audited.step, exc)
                    continue
                shot, framed = await self._keep(raw, audited.url)
                v.shots.append(ElementShot(element=element, screenshot=shot, framed=framed))

    async def _keep(self, raw: bytes, url: str) -> tuple[str, str]:
        """Store a capture and its framed copy (banner: URL, times, target, observation, hash)."""
        sha = self.put_blob(raw, "screenshot")
        banner = Banner(
            url=url,
            taken_at=datetime.now(UTC),
            target=self.target,
            observation_id=self.observation_id,
            raw_sha256=sha,
            simulated=self.simulated,
        )
        return sha, self.put_blob(await asyncio.to_thread(frame, raw, banner), "framed")

    def results_json(self) -> bytes:
        """axe-core's results of every page, as one JSON document (the `axe` evidence)."""
        document = {"axe_core": axe.version(), "tags": list(axe.TAGS), "pages": self.raw}
        return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()

    def record(self, platform: str, steps: list[Step]) -> Audit:
        """The run's record; `steps` (the journey's trail) give each page's load time and any
        documented session end the journey met."""
        loads = [load.model_copy(update={"ms": _ms_of(load, steps)}) for load in self.loads]
        return Audit(
            target=self.target,
            engine=f"axe-core {axe.version()}" if self.runs_axe else "navigation timing",
            mapping=self.rgaa.sha256 if self.runs_axe else "",
            tags=list(axe.TAGS) if self.runs_axe else [],
            pages=list(self.pages),
            profile=self.profile,
            conditions=self.conditions,
            loads=loads,
            time_limits=limits_of(platform, steps, self.limits),
        )


def _ms_of(load: StepLoad, steps: list[Step]) -> int | None:
    found = [s.ms for s in steps if s.name == load.step and s.url == load.url]
    return found[-1] if found else None


def _selector(node: dict[str, Any]) -> str:
    target = node.get("target") or []
    return " ".join(str(part) for part in target) if isinstance(target, list) else str(target)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
