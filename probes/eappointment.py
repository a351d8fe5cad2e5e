"""Java eAppointment (`…/appointment.do`, platforms.md §4.1).

Journey: optional postal-code routing page → motive checkboxes → calendar step. "No slot"
arrives as a JavaScript `alert()`, which the session records and dismisses.

The request engine (`request_probe`) walks the same journey from `appointment.do?sitekey=…`:
the motive form and the calendar are server-rendered, and the no-slot alert is a string
literal in the calendar page's own script. It reads that alert only when the calendar shows
no day (a disabled or absent day select), so a script the page would not run on load
cannot make a page with days read as "no slot"; a page with both is the browser's to read.
The postal-code page routes with its script: from there, the browser takes over (`auto`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from watchdog.errors import NeedsBrowser
from watchdog.models import Outcome
from watchdog.probing import Classification, PageState, PlatformSpec, ProbeSession
from watchdog.requesting import RequestSession, press

_DAY_OPTION = re.compile(r"<option[^>]*value=\"(\d{4}-\d{2}-\d{2})\"", re.I)
_HOUR_RADIO = re.compile(r"<input[^>]*type=\"radio\"[^>]*name=\"[^\"]*[Hh]our[^\"]*\"", re.I)
_DAY_SELECT = re.compile(r"<select[^>]*id=\"dayValueId\"[^>]*>", re.I)
_NO_SLOT_ALERTS = ("Aucun rendez-vous n'est possible", "Il n'y a pas de rendez-vous disponible")
_ALERT_LITERAL = re.compile(r"""alert\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")
_MOTIVE = "selectedMotiveKeyList"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    postal_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    motives: list[str] = Field(default_factory=list, min_length=0)


async def _route_postal_code(session: ProbeSession, options: Options) -> bool:
    if not await session.exists("input#CPId"):
        return True
    if options.postal_code is None:
        return False
    await session.page.fill("input#CPId", options.postal_code)
    button = session.page.locator("input[type='button'].btn-primary", has_text="")
    button = session.page.locator("input[type='button'][value='Continuer'].btn-primary")
    await session.navigate_by(button.first.click, "postal_code")
    return True


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "entry")
    if not await _route_postal_code(session, options):
        return await session.state()
    boxes = session.page.locator("input[name='selectedMotiveKeyList']")
    if await boxes.count() == 0:
        return await session.state()
    wanted = options.motives or [await boxes.first.get_attribute("value") or ""]
    for value in wanted:
        await session.page.check(f"input[name='selectedMotiveKeyList'][value='{value}']")
    await session.navigate_by(session.page.locator("#nextButtonId").click, "motives")
    return await session.state()


async def request_probe(session: RequestSession, options: Options) -> PageState:
    """The journey as the HTTP requests a browser sends, from `appointment.do?sitekey=…`."""
    await session.get(session.url, "entry")
    if 'id="CPId"' in session.html:
        raise NeedsBrowser("the postal-code page routes to a site with its script")
    form = session.form("form1")
    offered = form.choices(_MOTIVE) if form is not None else []
    if form is None or not offered:
        return session.state()
    wanted = options.motives or offered[:1]
    button = press(form, "nextButton")
    pairs = [pair for pair in form.submission(press=button) if pair[0] != button.name]
    pairs += [(_MOTIVE, value) for value in wanted] + [(button.name, button.value)]
    await session.submit(form, pairs, "motives")
    state = session.state()
    return PageState(state.url, state.status, state.html, _load_alerts(state.html),
                     state.redirects)  # fmt: skip


def _load_alerts(html: str) -> tuple[str, ...]:
    """The no-slot alerts in the page's script, when the calendar offers no day at all."""
    select = _DAY_SELECT.search(html)
    if select is not None and "disabled" not in select.group(0):
        return ()
    alerts = []
    for literal in _ALERT_LITERAL.findall(html):
        try:
            text = json.loads(literal) if literal.startswith('"') else literal[1:-1]
        except ValueError:  # a JavaScript escape JSON does not know (\x41, \')
            text = literal[1:-1]
        if text.startswith(_NO_SLOT_ALERTS):
            alerts.append(text)
    return tuple(alerts)


def classify(state: PageState, options: Options) -> Classification | None:
    for alert in state.dialogs:
        if alert.startswith(_NO_SLOT_ALERTS):
            return Classification(Outcome.NO_SLOT, "js_alert", alert)
    select = _DAY_SELECT.search(state.html)
    if select is None or "disabled" in select.group(0):
        return None
    days = sorted(_DAY_OPTION.findall(state.html))
    hours = len(_HOUR_RADIO.findall(state.html))
    earliest = datetime.fromisoformat(days[0]) if days else None
    return Classification(Outcome.AVAILABLE, "calendar", None, hours or len(days) or None, earliest)


SPEC = PlatformSpec(options=Options, probe=probe, classify=classify, request_probe=request_probe)
