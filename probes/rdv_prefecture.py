"""RDV-Préfecture (`/rdvpref/reservation/demarche/<id>/`; facts and sources: docs/platforms.md).

Journey: landing → "Prendre un rendez-vous" → `cgu/` (CaptchEtat captcha) → `creneau/`.
In `record` mode the captcha is the observation (outcome `captcha`): software never
answers it. In `assisted` mode too; the runner then parks the page for a person to answer on
the assist desk (watchdog/assist/), after which `reread` reads `creneau/` again. In
`operator` mode a header or cookie given by the site operator lets the site skip the
captcha; the probe then reads the slot page once its front end has rendered it (the `trhId`
radios or one of its messages), after opening « Voir plus de créneaux » and the mobile day
panels so that every offered slot is on the page. The HTTP redirect target is read, not the
address bar, because the front end rewrites `?error=` away.

What each reading rests on, fact by fact: docs/readings.md (« rdv_prefecture »).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from watchdog.domain.errors import ProbeError
from watchdog.domain.models import Outcome, SlotSeen
from watchdog.probe.captcha import captcha_seen
from watchdog.probe.dates import clock, numeric_date, paris
from watchdog.probe.pagetext import sentence_containing
from watchdog.probe.session import (
    ACT_MS,
    Classification,
    Credentials,
    Labels,
    PageState,
    PlatformSpec,
    ProbeSession,
)

if TYPE_CHECKING:
    from playwright.async_api import Locator

_CRITERE = re.compile(r"\"critere\"\s*:\s*(\{[^{}]*\})")
_TRH = re.compile(r"<input\b[^>]*\bname=[\"']?trhId\b[^>]*>", re.I)
_TRH_LABEL = re.compile(r"<label\b[^>]*\bfor=[\"']?trhId_[^>]*>([^<]*)<", re.I)
# Reading each slot: the day columns' headings (class `celulleHeader`, weekday and DD/MM), the
# radios (`id="trhId_<id>"`) and their labels (« 09h30 »), in the order of the page.
_SLOT_PARTS = re.compile(r"<(?P<tag>div|input|label)\b(?P<attrs>[^>]*)>(?P<text>[^<]*)", re.I)
_HEADER_CLASS = re.compile(r"\bclass=[\"'][^\"']*\bcelulleHeader\b", re.I)
_TRH_NAME = re.compile(r"\bname=[\"']?trhId\b", re.I)
_RADIO_ID = re.compile(r"\bid=[\"']?trhId_([^\"'\s>]+)", re.I)
_LABEL_FOR = re.compile(r"\bfor=[\"']?trhId_([^\"'\s>]+)", re.I)
_DAY_MONTH = re.compile(r"\b(\d{2})/(\d{2})\b")
_PROCHAINE = re.compile(
    r"Prochaine mise en ligne de nouveaux rendez-vous\s*:\s*"
    r"le (\d{2}/\d{2}/\d{4}) à (\d{1,2})\s*[:h]\s*(\d{2})"
)
# The CaptchEtat gate: the answer field, the BotDetect component, the site's custom element.
_CAPTCHA_MARKERS = ("captchaUsercode", "BDC_CaptchaComponent", "<rdv-captchetat")
_NEXT_AVAILABILITY = re.compile(r"Prochaine disponibilité le\s+(.+)")
NO_SLOT_LAST_WEEK = "Aucun créneau disponible à partir de cette date."
NO_SLOT_WEEK = "Aucun créneau disponible sur cette semaine"
RETRY_LATER = "Veuillez réessayer ultérieurement."
NO_SLOT_DAY = "Aucun créneau disponible"
# The slot chooser is rendered by the front end after `load`: wait for its radios or words.
SLOTS_READY = """() => {
  if (document.querySelector("input[name='trhId'], .q-expansion-item")) return true;
  const text = document.body ? document.body.innerText : "";
  return /Aucun cr\u00e9neau disponible|Veuillez r\u00e9essayer ult\u00e9rieurement/.test(text)
    || /Prochaine disponibilit\u00e9 le/.test(text);
}"""
CAPTCHA_READY = """() => !!document.querySelector(
  "input[name='captchaUsercode'], #BDC_CaptchaComponent, rdv-captchetat")"""
MORE = "Voir plus de créneaux"
TAKE_APPOINTMENT = "Prendre un rendez-vous"
LANDING_READY = """() => Array.from(document.querySelectorAll("a, button"))
  .some(e => (e.textContent || "").includes("Prendre un rendez-vous"))"""
# Quasar expansion items (mobile markup): a closed day panel's header.
CLOSED_PANEL = ".q-expansion-item .q-item[aria-expanded='false']"
MAX_EXPANSIONS = 20
# Progress of the expanders: closed panels and « Voir plus » buttons fewer, or radios more.
_PROGRESS = """() => document.querySelectorAll("input[name='trhId']").length * 1000
  - document.querySelectorAll(".q-expansion-item .q-item[aria-expanded='false']").length
  - Array.from(document.querySelectorAll("button"))
      .filter(b => (b.textContent || "").includes("Voir plus de cr\u00e9neaux")).length"""


class CaptchaMode(StrEnum):
    RECORD = "record"
    OPERATOR = "operator"
    ASSISTED = "assisted"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    captcha: CaptchaMode = CaptchaMode.RECORD
    render_timeout_s: float = Field(default=10.0, gt=0, le=60)
    operator_headers: dict[str, str] = {}
    operator_cookies: dict[str, str] = {}

    @model_validator(mode="after")
    def _check_mode(self) -> Options:
        has_secret = bool(self.operator_headers or self.operator_cookies)
        if self.captcha is CaptchaMode.OPERATOR and not has_secret:
            raise ValueError("captcha: operator needs operator_headers or operator_cookies")
        if self.captcha is not CaptchaMode.OPERATOR and has_secret:
            raise ValueError(
                "operator_headers/operator_cookies are only used with captcha: operator"
            )
        return self


def credentials(options: Options) -> Credentials:
    return Credentials(dict(options.operator_headers), dict(options.operator_cookies))


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "landing")
    if "/cgu/" not in session.url and "/creneau/" not in session.url:
        # The landing page is the front end's too: its button may come after `load`.
        if (session.last_status or 200) < 400:
            await session.wait_for_content(LANDING_READY, options.render_timeout_s * 1000)
        button = session.page.locator("a, button").filter(has_text=TAKE_APPOINTMENT)
        if await button.count() == 0:
            return await session.state()
        await session.click_to(button, "prendre_rdv", "the « Prendre un rendez-vous » button")
    loaded = session.loaded_url
    wait_ms = options.render_timeout_s * 1000
    # The captcha comes from the PISTE endpoint, after `load`; what it offers is recorded.
    if "/cgu/" in loaded and await session.wait_for_content(CAPTCHA_READY, wait_ms):
        session.captcha = await captcha_seen(session, wait_ms)
    on_slots = "/creneau/" in loaded
    if on_slots and await session.wait_for_content(SLOTS_READY, options.render_timeout_s * 1000):
        await _show_every_slot(session)
    return await session.state()


async def reread(session: ProbeSession, options: Options) -> PageState:
    """`creneau/` in an assisted session: the page the person's answer opened (its step is
    already in the trail), else the slot page loaded again. Never a slot chosen."""
    url = session.page.url.split("?")[0]
    if "/creneau/" not in url:
        raise ProbeError("an assisted read needs a page on creneau/")
    if not session.steps:  # a later read: load the slot page again
        await session.goto(url, "creneau")
    if "/creneau/" in session.loaded_url and await session.wait_for_content(
        SLOTS_READY, options.render_timeout_s * 1000
    ):
        await _show_every_slot(session)
    return await session.state()


async def _show_every_slot(session: ProbeSession) -> None:
    """Open « Voir plus de créneaux » and closed day panels, as a person would to see all.

    An expander that shows nothing more once pressed (no panel opened, no radio added within
    2 s) is not pressed again: the page has shown what it had.
    """
    page = session.page
    expanders = [page.locator("button", has_text=MORE), page.locator(CLOSED_PANEL)]
    for _ in range(MAX_EXPANSIONS):
        counts = [await expander.count() for expander in expanders]
        target = next((e for e, n in zip(expanders, counts, strict=True) if n), None)
        if target is None:
            return
        before = await page.evaluate(_PROGRESS)
        try:
            await session.act(target, "a slot expander", _press)
        except ProbeError:
            # A dialog on top, say: read what is already on the page rather than guess.
            session.steps.append(session.steps[-1].model_copy(update={"name": "expand_skipped"}))
            return
        if not await session.wait_for_content(f"() => ({_PROGRESS})() !== {int(before)}", 2_000):
            expanders.remove(target)


async def _press(expander: Locator) -> None:
    await expander.click(timeout=ACT_MS, no_wait_after=True)


def _first_slot(critere: dict[str, Any] | None, html: str) -> datetime | None:
    """`datePremiereDispo` (DD/MM/YYYY) at the time of the first `trhId` radio ("09h30")."""
    first_day = numeric_date(str((critere or {}).get("datePremiereDispo") or ""))
    if first_day is None:
        return None
    label = _TRH_LABEL.search(html)
    return paris(first_day, clock(label.group(1)) if label else None)


def slots_seen(html: str, critere: dict[str, Any] | None) -> tuple[SlotSeen, ...]:
    """Each `trhId` radio: its id, the day of its column (the `celulleHeader` DD/MM, placed in
    the year of the week that starts at `critere.premierJour`), the time of its label. The
    mobile day panels name no day in documented markup: there the day stays unknown."""
    first = numeric_date(str((critere or {}).get("premierJour") or ""))
    day: str | None = None
    times: dict[str, str] = {}
    order: list[tuple[str, str | None]] = []
    for part in _SLOT_PARTS.finditer(html):
        tag, attrs = part.group("tag").lower(), part.group("attrs")
        if tag == "div" and _HEADER_CLASS.search(attrs):
            day = _column_day(part.group("text"), first)
        elif tag == "input" and _TRH_NAME.search(attrs):
            found = _RADIO_ID.search(attrs)
            if found is not None:
                order.append((found.group(1), day))
        elif tag == "label" and (found := _LABEL_FOR.search(attrs)) is not None:
            at = clock(part.group("text"))
            if at is not None:
                times[found.group(1)] = f"{at:%H:%M}"
    seen = {key: SlotSeen(key=key, day=on, time=times.get(key)) for key, on in order}
    return tuple(seen.values())


def _column_day(heading: str, first: date | None) -> str | None:
    """A heading's DD/MM as an ISO day within the week from `first` (None: not placed)."""
    match = _DAY_MONTH.search(heading)
    if match is None or first is None:
        return None
    for offset in range(7):
        day = first + timedelta(days=offset)
        if (day.day, day.month) == (int(match.group(1)), int(match.group(2))):
            return day.isoformat()
    return None


def _critere(html: str) -> dict[str, Any] | None:
    match = _CRITERE.search(html)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def published_next(state: PageState) -> datetime | None:
    """« Prochaine mise en ligne de nouveaux rendez-vous : le DD/MM/YYYY à HH:mm »."""
    match = _PROCHAINE.search(state.text)
    if match is None:
        return None
    day = numeric_date(match.group(1))
    if day is None:
        return None
    return paris(day, clock(f"{match.group(2)}:{match.group(3)}"))


def _captcha(state: PageState) -> Classification | None:
    on_cgu = "/cgu/" in state.url
    if not on_cgu or not any(marker in state.html for marker in _CAPTCHA_MARKERS):
        return None
    hops = " ".join((*state.redirects, state.url))
    detail = "session_expired" if "errorSessionInvalide" in hops else "captcha_wall"
    return Classification(
        Outcome.CAPTCHA, detail, sentence_containing(state.lines, "code de sécurité")
    )


def _later_week(state: PageState, critere: dict[str, Any] | None) -> datetime | None:
    """The first availability the page offers beyond the week shown, if it offers one."""
    button = next((m for line in state.lines if (m := _NEXT_AVAILABILITY.search(line))), None)
    day = numeric_date(button.group(1)) if button is not None else None
    day = day or numeric_date(str((critere or {}).get("datePremiereDispo") or ""))
    return paris(day) if day is not None else None


def _slot_page(state: PageState) -> Classification | None:
    if "/creneau/" not in state.url:
        return None
    critere = _critere(state.html)
    upcoming = published_next(state)
    radios = len(_TRH.findall(state.html))
    if radios:
        earliest = _first_slot(critere, state.html)
        seen = slots_seen(state.html, critere)
        return Classification(Outcome.AVAILABLE, "slots", None, radios, earliest, upcoming, seen)
    later = _later_week(state, critere)
    if later is not None:
        # "Prochaine disponibilité le …": nothing this week, but a later week has a slot.
        return Classification(Outcome.AVAILABLE, "later_week", None, None, later, upcoming)
    for marker, detail in (
        (NO_SLOT_LAST_WEEK, "no_slot_last_week"),
        (NO_SLOT_WEEK, "no_slot_week"),
        (RETRY_LATER, "no_calendar"),
        (NO_SLOT_DAY, "no_slot_day"),
    ):
        message = sentence_containing(state.lines, marker)
        if message is not None:
            return Classification(Outcome.NO_SLOT, detail, message, 0, None, upcoming, ())
    if critere is not None:
        # The page's data says nothing is free, but no sentence shows it: not yet rendered.
        return Classification(
            Outcome.UNRECOGNIZED, "slots_not_rendered", None, None, None, upcoming
        )
    return None


def classify(state: PageState, options: Options) -> Classification | None:
    return _captcha(state) or _slot_page(state)


SPEC = PlatformSpec(
    name="rdv_prefecture",
    labels=Labels(fr="RDV-Préfecture", en="RDV-Préfecture"),
    options=Options,
    probe=probe,
    classify=classify,
    credentials=credentials,
    assisted_read=reread,
)
