"""Legacy eZ Publish booking module: `/booking/create/<id>/<step>` (platforms.md §2).

Journey: step 0 conditions checkbox → optional step 1 guichet (`planning`) → step 2
"no slot" page, or step 3 (description) → step 4 weekly calendar with free cells.
Availability is visible before the captcha (step 6); the probe never goes past step 4.
Every page of the journey is server-rendered, so `request_probe` walks it as plain HTTP
requests (the cheap path), refusing any URL past step 4 before it is requested.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from watchdog.errors import BookingStepRefused, ProbeError
from watchdog.models import Outcome
from watchdog.probing import Classification, PageState, PlatformSpec, ProbeSession
from watchdog.requesting import RequestSession, press

NO_SLOT_TEXT = "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous"
LAST_VISIBLE_STEP = 4
_STEP = re.compile(r"/booking/create/\d+/(\d+)")
_FREE_CELL = re.compile(r"<td[^>]*class=\"[^\"]*\bstatus-1\b[^\"]*\bfree\b[^\"]*\"[^>]*>", re.I)
_SLOT_ATTR = re.compile(r"data-slot=\"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})\"")


class Options(BaseModel):
    """`planning`: the guichet to choose when step 1 offers several."""

    model_config = ConfigDict(extra="forbid")

    planning: str | None = None


def step_of(url: str) -> int | None:
    match = _STEP.search(url)
    return int(match.group(1)) if match else None


def _refuse_booking_steps(session: ProbeSession) -> None:
    step = step_of(session.steps[-1].url) if session.steps else None
    if step is not None and step > LAST_VISIBLE_STEP:
        raise BookingStepRefused(f"the site led to booking step {step}; the probe stops at 4")


async def _choose_planning(session: ProbeSession, options: Options) -> None:
    radios = session.page.locator("#fchoix_Booking input.radio[name='planning']")
    choices = [v for v in await radios.evaluate_all("els => els.map(e => e.value)")]
    planning = _planning_choice(choices, options)
    await session.page.check(f"#fchoix_Booking input.radio[value='{planning}']")
    submit = session.page.locator("#FormBookingCreate input.Bbutton[name='nextButton']")
    await session.navigate_by(submit.click, "planning")


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "conditions")
    form = "#FormBookingCreate"
    if not await session.exists(f"{form} input#condition"):
        return await session.state()
    await session.page.check(f"{form} input#condition")
    submit = session.page.locator(f"{form} input[name='nextButton']")
    await session.navigate_by(submit.click, "submit_conditions")
    if step_of(session.steps[-1].url) == 1 and await session.exists("#fchoix_Booking"):
        await _choose_planning(session, options)
    if step_of(session.steps[-1].url) == 3 and await session.exists(
        f"{form} input[name='nextButton']"
    ):
        # Step 3 only describes the appointment; step 4 shows the calendar (still before captcha).
        await session.navigate_by(
            session.page.locator(f"{form} input[name='nextButton']").click, "description"
        )
    _refuse_booking_steps(session)
    return await session.state()


def _refuse_booking_url(url: str) -> None:
    step = step_of(url)
    if step is not None and step > LAST_VISIBLE_STEP:
        raise BookingStepRefused(f"the site led to booking step {step}; the probe stops at 4")


def _planning_choice(choices: list[str], options: Options) -> str:
    if options.planning is None:
        raise ProbeError(
            f"several guichets are offered; set options.planning to one of {choices}",
            detail="planning_required",
        )
    if options.planning not in choices:
        raise ProbeError(
            f"planning {options.planning!r} is not offered; choices: {choices}",
            detail="planning_not_offered",
        )
    return options.planning


async def request_probe(session: RequestSession, options: Options) -> PageState:
    """The same journey as `probe`, as the HTTP requests the browser would send."""
    session.guard = _refuse_booking_url
    await session.get(session.url, "conditions")
    form = session.form("FormBookingCreate")
    box = form.find(id="condition") if form is not None else None
    if form is None or box is None:
        return session.state()
    pairs = form.submission({box.name: box.value or "on"}, press(form, "nextButton"))
    await session.submit(form, pairs, "submit_conditions")
    form = session.form("FormBookingCreate")
    if step_of(session.page_url) == 1 and form is not None and "fchoix_Booking" in session.html:
        planning = _planning_choice(form.choices("planning"), options)
        pairs = form.submission({"planning": planning}, press(form, "nextButton"))
        await session.submit(form, pairs, "planning")
        form = session.form("FormBookingCreate")
    if step_of(session.page_url) == 3 and form is not None and form.button("nextButton"):
        # Step 3 only describes the appointment; step 4 shows the calendar (still before captcha).
        await session.submit(form, form.submission(press=press(form, "nextButton")), "description")
    return session.state()


def _slots(state: PageState) -> tuple[int, datetime | None]:
    cells = _FREE_CELL.findall(state.html)
    dates = sorted(datetime.fromisoformat(m) for m in _SLOT_ATTR.findall(state.html))
    return len(cells), (dates[0] if dates else None)


def classify(state: PageState, options: Options) -> Classification | None:
    step = step_of(state.url)
    if NO_SLOT_TEXT.lower() in state.text.lower():
        message = next((line for line in state.lines if NO_SLOT_TEXT.lower() in line.lower()), None)
        return Classification(Outcome.NO_SLOT, "no_free_slot", message)
    if step in (3, 4) and "FormBookingCreate" in state.html:
        count, earliest = _slots(state)
        if step == 4 and count == 0:
            return Classification(Outcome.NO_SLOT, "calendar_full", "Aucune plage libre")
        return Classification(Outcome.AVAILABLE, f"step_{step}", None, count or None, earliest)
    return None


SPEC = PlatformSpec(options=Options, probe=probe, classify=classify, request_probe=request_probe)
