"""Java eAppointment (`…/appointment.do`, platforms.md §4.1).

Journey: optional postal-code routing page → motive checkboxes → calendar step. "No slot"
arrives as a JavaScript `alert()`, which the session records and dismisses.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from watchdog.models import Outcome
from watchdog.probing import Classification, PageState, PlatformSpec, ProbeSession

_DAY_OPTION = re.compile(r"<option[^>]*value=\"(\d{4}-\d{2}-\d{2})\"", re.I)
_HOUR_RADIO = re.compile(r"<input[^>]*type=\"radio\"[^>]*name=\"[^\"]*[Hh]our[^\"]*\"", re.I)
_DAY_SELECT = re.compile(r"<select[^>]*id=\"dayValueId\"[^>]*>", re.I)
_NO_SLOT_ALERTS = ("Aucun rendez-vous n'est possible", "Il n'y a pas de rendez-vous disponible")


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


SPEC = PlatformSpec(options=Options, probe=probe, classify=classify)
