"""Java eAppointment (`…/appointment.do`; facts and their sources: docs/platforms.md).

Journey: optional postal-code routing page → motive checkboxes → calendar step. "No slot"
arrives as a JavaScript `alert()`, which the session records and dismisses.

The request engine (`request_probe`) walks the same journey from `appointment.do?sitekey=…`:
the motive form and the calendar are server-rendered, and the no-slot alert is a string
literal in the calendar page's own script. It reads that alert only when the calendar shows
no day (a disabled or absent day select), so a script the page would not run on load
cannot make a page with days read as "no slot"; a page with both is the browser's to read.
The postal-code page routes with its script: from there, the browser takes over (`auto`).

What each reading rests on, fact by fact: docs/readings.md (« eappointment »).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from html.parser import HTMLParser

from pydantic import BaseModel, ConfigDict, Field

from watchdog.domain.errors import NeedsBrowser
from watchdog.domain.models import Outcome
from watchdog.probe.dates import any_date, clock, long_date, paris
from watchdog.probe.forms import read_forms
from watchdog.probe.pagetext import sentence_containing
from watchdog.probe.requesting import RequestSession, press
from watchdog.probe.session import (
    ACT_MS,
    Classification,
    Labels,
    PageState,
    PlatformSpec,
    ProbeSession,
)

_OPTIONS = re.compile(r"<option\b([^>]*)>([^<]*)</option>", re.I)
_VALUE = re.compile(r"\bvalue=[\"']?([^\"'>\s]*)", re.I)
_SELECT_BODY = r"<select\b[^>]*\bid=[\"']?{id}\b[^>]*>(.*?)</select>"
_PICKER_DAY = re.compile(
    r"<td\b[^>]*data-handler=[\"']?selectDay[^>]*data-month=[\"']?(\d+)[^>]*"
    r"data-year=[\"']?(\d{4})[^>]*>\s*<a\b[^>]*>\s*(\d{1,2})\s*</a>",
    re.I,
)
_SOONEST = re.compile(r"<[^>]*\bclass=[\"'][^\"']*\bsoonestText\b[^>]*>([^<]*)<", re.I)
_CALENDAR_SHOWN = (
    "() => !!document.querySelector('#dayValueId, .ui-datepicker, #hourValueSelect')"
    " || /erreur/i.test(document.title)"
)
_DAY_SELECT = re.compile(r"<select[^>]*id=\"dayValueId\"[^>]*>", re.I)
_NO_SLOT_ALERTS = ("Aucun rendez-vous n'est possible", "Il n'y a pas de rendez-vous disponible")
_ALERT_LITERAL = re.compile(r"""alert\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")
_MOTIVE = "selectedMotiveKeyList"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    postal_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    motives: list[str] = Field(default_factory=list, min_length=0)
    calendar_timeout_s: float = Field(default=10.0, gt=0, le=60)
    alert_grace_s: float = Field(default=2.0, ge=0, le=10)


async def _route_postal_code(session: ProbeSession, options: Options) -> bool:
    if not await session.exists("input#CPId"):
        return True
    if options.postal_code is None:
        return False
    code = options.postal_code
    await session.act(
        session.page.locator("input#CPId"),
        "the postal code field",
        lambda field: field.fill(code, timeout=ACT_MS),
    )
    button = session.page.locator("input[type='button'][value='Continuer']")
    # The routing script either leaves for the site of that code or refuses the code with an
    # alert() and stays: whichever comes first is the site's answer.
    return await session.click_answered(button, "postal_code", "the « Continuer » button")


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "entry")
    if not await _route_postal_code(session, options):
        return await session.state()
    boxes = session.page.locator(f"input[name='{_MOTIVE}']")
    if await boxes.count() == 0:
        return await session.state()
    wanted = options.motives or [await boxes.first.get_attribute("value") or ""]
    for value in wanted:
        box = session.page.locator(f"input[name='{_MOTIVE}'][value='{value}']")
        await session.tick(box, f"the motive checkbox {value}")
    await session.click_to(session.page.locator("#nextButtonId"), "motives", "the next button")
    await _await_calendar(session, options)
    return await session.state()


async def _await_calendar(session: ProbeSession, options: Options) -> None:
    """The calendar step once shown, and its no-slot alert if one comes."""
    if session.dialogs:
        return
    if not await session.wait_for_content(_CALENDAR_SHOWN, options.calendar_timeout_s * 1000):
        return
    if _days(await session.page.content()):
        return
    await session.dialog_within(options.alert_grace_s)  # the site's answer, maybe after `load`


async def request_probe(session: RequestSession, options: Options) -> PageState:
    """The journey as the HTTP requests a browser sends, from `appointment.do?sitekey=…`."""
    await session.get(session.url, "entry")
    if 'id="CPId"' in session.html:
        raise NeedsBrowser("the postal-code page routes to a site with its script")
    # The motive form is the one holding the motive checkboxes (its id is not reported).
    form = next((f for f in read_forms(session.html) if f.choices(_MOTIVE)), None)
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


def _select_options(html: str, select_id: str, with_values: bool = False) -> list[str]:
    """The options of a select as shown (and, if asked, each followed by its value)."""
    match = re.search(_SELECT_BODY.format(id=select_id), html, re.I | re.S)
    if match is None:
        return []
    found = []
    for attrs, text in _OPTIONS.findall(match.group(1)):
        value = _VALUE.search(attrs)
        extra = f" {value.group(1)}" if with_values and value is not None else ""
        found.append(text.strip() + extra)
    return found


def _days(html: str) -> list[date]:
    """Days offered: the day select's options (their text, else their value), and the
    datepicker's clickable days."""
    options = _select_options(html, "dayValueId", with_values=True)
    days = {d for text in options if (d := any_date(text))}
    for month, year, day in _PICKER_DAY.findall(html):
        try:
            days.add(date(int(year), int(month) + 1, int(day)))
        except ValueError:
            continue
    return sorted(days)


class _ColumnRadios(HTMLParser):
    """The labels of the radios inside `.availabilityColumnX` elements ("A 09:45")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0  # open elements inside the current column; 0: outside any column
        self.labels: list[str] = []
        self._radio = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self.depth:
            self.depth += tag not in _VOID
        elif any(c.startswith("availabilityColumn") for c in (found.get("class") or "").split()):
            self.depth = 1
        if self.depth and tag == "input" and (found.get("type") or "").lower() == "radio":
            self.labels.append("")
            self._radio = True

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in _VOID:
            self.depth -= 1
        if tag in ("label", "div"):
            self._radio = False

    def handle_data(self, data: str) -> None:
        if self._radio and self.labels:
            self.labels[-1] += data


_VOID = frozenset({"input", "br", "img", "hr", "meta", "link", "area", "col", "source", "wbr"})


def _hours(html: str) -> list[time]:
    """Hours shown: radios in the `.availabilityColumnX` lists, else the hour select."""
    parser = _ColumnRadios()
    parser.feed(html)
    radios = [t for label in parser.labels if (t := clock(label)) is not None]
    if radios:
        return radios
    return [t for text in _select_options(html, "hourValueSelect") if (t := clock(text))]


def _earliest(html: str, days: list[date], hours: list[time]) -> datetime | None:
    soonest = _SOONEST.search(html)
    if soonest is not None and (day := long_date(soonest.group(1))) is not None:
        return paris(day, clock(soonest.group(1)))
    first = _select_options(html, "hourValueSelect")
    first_time = next((t for text in first if (t := clock(text))), hours[0] if hours else None)
    return paris(days[0], first_time) if days else None


# Alerts of the postal-code page that answer what we typed or how our browser is set up:
# the site refused our input, it did not say anything about slots.
_OUR_FAULT_ALERTS = (
    ("Veuillez saisir un code postal valide", "postal_code_rejected"),
    ("Vous devez activer les cookies", "cookies_disabled"),
)


def classify(state: PageState, options: Options) -> Classification | None:
    for alert in state.dialogs:
        if alert.startswith(_NO_SLOT_ALERTS):
            return Classification(Outcome.NO_SLOT, "js_alert", alert)
        for marker, detail in _OUR_FAULT_ALERTS:
            if alert.startswith(marker):
                return Classification(Outcome.PROBE_ERROR, detail, alert)
    if "erreur" in state.title.lower():  # the product's error pages say so in their title
        message = sentence_containing(state.lines, "erreur") or state.title
        return Classification(Outcome.SITE_ERROR, "error_page", message)
    days = _days(state.html)
    if not days:
        return None
    hours = _hours(state.html)
    earliest = _earliest(state.html, days, hours)
    return Classification(Outcome.AVAILABLE, "calendar", None, len(hours) or None, earliest)


SPEC = PlatformSpec(
    name="eappointment",
    labels=Labels(fr="eAppointment", en="eAppointment"),
    options=Options,
    probe=probe,
    classify=classify,
    request_probe=request_probe,
)
