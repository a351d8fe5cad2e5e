"""Legacy eZ Publish booking module: `/booking/create/<id>/<step>` (facts: docs/platforms.md).

Journey: step 0 conditions checkbox → optional step 1 guichet (`planning`) → step 2
"no slot" page, or step 3 (description) → step 4 weekly calendar with free cells (or a first
week all « complet »: the slots are in a later week, the probe does not page through weeks).
Availability is visible before the captcha (step 6); the probe never goes past step 4.
The week table arrives by an `ezjscore` XHR after the page's `load` on some sites: the
browser probe waits for it (or for the no-slot sentence); the request engine, which runs no
script, hands such a page to the browser rather than read an empty calendar.

What each reading rests on, fact by fact: docs/readings.md (« legacy_booking »).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from watchdog.domain.errors import BookingStepRefused, NeedsBrowser, ProbeError
from watchdog.domain.models import Outcome
from watchdog.probe.dates import clock, long_date, numeric_date, paris
from watchdog.probe.forms import read_forms
from watchdog.probe.pagetext import sentence_containing
from watchdog.probe.requesting import RequestSession, press
from watchdog.probe.session import Classification, Labels, PageState, PlatformSpec, ProbeSession
from watchdog.probe.tables import Row, Table, tables

NO_SLOT_TEXT = "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous"
# Wordings the module used besides the classic sentence, only trusted on a booking page.
LATE_NO_SLOT = (
    ("Il n'y a pas calendrier disponible", "no_calendar"),
    ("Veuillez réessayer ultérieurement", "retry_later"),
    ("Please try later", "no_free_slot"),
)
DESCRIPTION = "Description de la nature du rendez-vous"  # step 3's h2
CHOOSE = "Choix d'une plage horaire"  # step 4's h2
LAST_VISIBLE_STEP = 4
_STEP = re.compile(r"/booking/create/\d+/(\d+)")
_WEEK = re.compile(r"^\s*(Semaine du|Week from)\b", re.I)
# The browser waits for the week table or for one of the module's no-slot sentences.
CALENDAR_READY = """() => {
  const week = /^\\s*(Semaine du|Week from)\\b/i;
  for (const cell of document.querySelectorAll("table th, table td")) {
    if (week.test(cell.textContent || "")) return true;
  }
  const text = document.body ? document.body.innerText : "";
  return /Il n'existe plus de plage horaire libre|Il n'y a pas calendrier disponible/i.test(text)
    || /Veuillez r\u00e9essayer ult\u00e9rieurement|Please try later/i.test(text);
}"""


class Options(BaseModel):
    """`planning`: the guichet to choose when step 1 offers several."""

    model_config = ConfigDict(extra="forbid")

    planning: str | None = None
    calendar_timeout_s: float = Field(default=10.0, gt=0, le=60)


def step_of(url: str) -> int | None:
    match = _STEP.search(url)
    return int(match.group(1)) if match else None


def _refuse_booking_url(url: str) -> None:
    step = step_of(url)
    if step is not None and step > LAST_VISIBLE_STEP:
        raise BookingStepRefused(f"the site led to booking step {step}; the probe stops at 4")


def _refuse_booking_steps(session: ProbeSession) -> None:
    if session.steps:
        _refuse_booking_url(session.loaded_url)


def _current_step(session: ProbeSession) -> int | None:
    return step_of(session.loaded_url) if session.steps else None


async def _choose_planning(session: ProbeSession, options: Options) -> None:
    radios = session.page.locator("#fchoix_Booking input[name='planning']")
    choices = [v for v in await radios.evaluate_all("els => els.map(e => e.value)")]
    planning = _planning_choice(choices, options)
    radio = session.page.locator("#fchoix_Booking input[name='planning']").filter(
        has=session.page.locator(f"xpath=self::*[@value={_xpath_literal(planning)}]")
    )
    await session.tick(radio, f"the guichet radio {planning}")
    submit = session.page.locator("#FormBookingCreate [name='nextButton']")
    await session.click_to(submit, "planning", "the « Etape suivante » button")


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', "") + '"'


# Step 0's form is the one holding the `condition` checkbox (its id is only reported for
# step 1, `#FormBookingCreate`); its submit is `nextButton`, an input or a button.
CONDITIONS_FORM = "form:has(input[name='condition'])"


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "conditions")
    form = "#FormBookingCreate"
    box = session.page.locator(f"{CONDITIONS_FORM} input[name='condition']")
    if await box.count() > 0:
        await session.tick(box, "the conditions checkbox")
        submit = session.page.locator(f"{CONDITIONS_FORM} [name='nextButton']")
        await session.click_to(submit, "submit_conditions", "the conditions' submit button")
    if _current_step(session) == 1 and await session.exists("#fchoix_Booking"):
        await _choose_planning(session, options)
    if _current_step(session) == 3 and await session.exists(f"{form} [name='nextButton']"):
        # Step 3 only describes the appointment; step 4 shows the calendar (still before captcha).
        submit = session.page.locator(f"{form} [name='nextButton']")
        await session.click_to(submit, "description", "the « Etape suivante » button")
    _refuse_booking_steps(session)
    if _current_step(session) == 4:
        await session.wait_for_content(CALENDAR_READY, options.calendar_timeout_s * 1000)
    return await session.state()


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
    form = next((f for f in read_forms(session.html) if f.find(name="condition")), None)
    box = form.find(name="condition") if form is not None else None
    if form is not None and box is not None:
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
    state = session.state()
    if step_of(state.url) == 4 and _week(state.html) is None and _no_slot(state) is None:
        raise NeedsBrowser("the step-4 week table is not in the served page (it comes by XHR)")
    return state


@dataclass(frozen=True)
class Week:
    """The week table of step 4, as a person reads it."""

    monday: date | None
    free: list[datetime | None]  # one entry per free cell, its start when readable

    @property
    def earliest(self) -> datetime | None:
        known = [moment for moment in self.free if moment is not None]
        return min(known) if known else None


def _week_table(html: str) -> tuple[Table, Row] | None:
    for table in tables(html):
        for row in table.head:
            header = next((c for c in row.cells if _WEEK.match(c.text)), None)
            if header is not None:
                return table, row
    return None


def _is_free(classes: frozenset[str], text: str) -> bool:
    if "free" in classes and "status-1" in classes:
        return True
    words = text.lower().split()
    return "libre" in words and "complet" not in words


def _week(html: str) -> Week | None:
    found = _week_table(html)
    if found is None:
        return None
    table, header_row = found
    header = next(c.text for c in header_row.cells if _WEEK.match(c.text))
    monday = long_date(header) or numeric_date(header)
    free: list[datetime | None] = []
    for row in table.body:
        if row.text.lower().startswith(("légende", "legende", "legend")):
            continue  # a legend row shows what « libre » looks like; it is not a slot
        row_time = next((clock(c.text) for c in row.cells if c.tag == "th"), None)
        days = [c for c in row.cells if c.tag == "td"]
        for index, cell in enumerate(days):
            if not _is_free(cell.classes, cell.text):
                continue
            start = clock(cell.text) or row_time
            on_day = monday + timedelta(days=index) if monday and len(days) == 7 else None
            free.append(paris(on_day, start) if on_day is not None and start else None)
    return Week(monday, free)


def _no_slot(state: PageState) -> Classification | None:
    message = sentence_containing(state.lines, NO_SLOT_TEXT)
    if message is not None:
        return Classification(Outcome.NO_SLOT, "no_free_slot", message)
    on_booking_page = "FormBookingCreate" in state.html and step_of(state.url) is not None
    if not on_booking_page or (state.status or 200) >= 400:
        return None
    for marker, detail in LATE_NO_SLOT:
        message = sentence_containing(state.lines, marker)
        if message is not None:
            return Classification(Outcome.NO_SLOT, detail, message)
    return None


def classify(state: PageState, options: Options) -> Classification | None:
    step = step_of(state.url)
    no_slot = _no_slot(state)
    if no_slot is not None:
        return no_slot
    if step not in (3, 4) or (state.status or 200) >= 400:
        return None
    if step == 3:  # the module shows step 3 only when slots exist; no calendar yet
        if "FormBookingCreate" in state.html or DESCRIPTION in state.text:
            return Classification(Outcome.AVAILABLE, "step_3")
        return None
    week = _week(state.html)
    if week is None:
        if "FormBookingCreate" not in state.html and CHOOSE not in state.text:
            return None  # not the calendar step's page: the generic rules read it
        # A calendar that has not arrived says nothing about slots.
        return Classification(Outcome.UNRECOGNIZED, "calendar_not_loaded")
    if not week.free:
        # The week shown is all « complet », but the module shows its calendar only when it
        # has slots (its no-slot answer is step 2): they are in a later week. No count, no date.
        return Classification(Outcome.AVAILABLE, "later_week")
    return Classification(Outcome.AVAILABLE, "step_4", None, len(week.free), week.earliest)


SPEC = PlatformSpec(
    name="legacy_booking",
    labels=Labels(
        fr="module de réservation du site de la préfecture", en="prefecture website booking module"
    ),
    options=Options,
    probe=probe,
    classify=classify,
    request_probe=request_probe,
)
