"""RDV-Préfecture (`/rdvpref/reservation/demarche/<id>/`, platforms.md §3).

Journey: landing → "Prendre un rendez-vous" → `cgu/` (CaptchEtat captcha) → `creneau/`.
In `record` mode the captcha is the observation (outcome `captcha`): software never
answers it. In `operator` mode a header or cookie given by the site operator lets the
site skip the captcha; the probe then reads the slot page (`critere`, `trhId` radios,
publication notices). The HTTP redirect target is read, not the address bar, because
the front end rewrites `?error=` away.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from watchdog.models import Outcome
from watchdog.probing import Classification, Credentials, PageState, PlatformSpec, ProbeSession

_CRITERE = re.compile(r"\"critere\"\s*:\s*(\{[^{}]*\})")
_TRH = re.compile(r"<input[^>]*name=\"trhId\"[^>]*>", re.I)
_PROCHAINE = re.compile(
    r"Prochaine mise en ligne de nouveaux rendez-vous\s*:\s*"
    r"le (\d{2}/\d{2}/\d{4}) à (\d{2})[:h](\d{2})"
)
_FIRST_TIME = re.compile(r"<label class=\"fr-label\" for=\"trhId_[^\"]+\">\s*(\d{2})h(\d{2})")
_NO_SLOT = ("Aucun créneau disponible", "Veuillez réessayer ultérieurement")


class CaptchaMode(StrEnum):
    RECORD = "record"
    OPERATOR = "operator"
    ASSISTED = "assisted"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    captcha: CaptchaMode = CaptchaMode.RECORD
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
        if self.captcha is CaptchaMode.ASSISTED:
            raise ValueError("captcha: assisted is not available yet (use record or operator)")
        return self


def credentials(options: Options) -> Credentials:
    return Credentials(dict(options.operator_headers), dict(options.operator_cookies))


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "landing")
    button = session.page.locator("main a.q-btn.bg-primary", has_text="Prendre un rendez-vous")
    if "/cgu/" in session.url or "/creneau/" in session.url or await button.count() == 0:
        return await session.state()
    await session.navigate_by(button.first.click, "prendre_rdv")
    return await session.state()


def _parse_date(value: str) -> datetime | None:
    """A site date, kept as the local (Europe/Paris) wall time the site shows."""
    try:
        return datetime.strptime(value, "%d/%m/%Y")
    except ValueError:
        return None


def _first_slot(first_day: datetime | None, html: str) -> datetime | None:
    """`datePremiereDispo` plus the time of the first `trhId` radio ("09h30")."""
    if first_day is None:
        return None
    label = _FIRST_TIME.search(html)
    if label is None:
        return first_day
    return first_day.replace(hour=int(label.group(1)), minute=int(label.group(2)))


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
    match = _PROCHAINE.search(state.text)
    if match is None:
        return None
    day = datetime.strptime(match.group(1), "%d/%m/%Y")
    return day.replace(hour=int(match.group(2)), minute=int(match.group(3)))


def _captcha(state: PageState) -> Classification | None:
    on_cgu = "/cgu/" in state.url
    if not on_cgu or "captchaUsercode" not in state.html:
        return None
    hops = " ".join((*state.redirects, state.url))
    detail = "session_expired" if "errorSessionInvalide" in hops else "captcha_wall"
    message = next((line for line in state.lines if "code de sécurité" in line.lower()), None)
    return Classification(Outcome.CAPTCHA, detail, message)


def _slot_page(state: PageState) -> Classification | None:
    critere = _critere(state.html)
    if "/creneau/" not in state.url or critere is None:
        return None
    radios = len(_TRH.findall(state.html))
    first = _parse_date(str(critere.get("datePremiereDispo") or ""))
    upcoming = published_next(state)
    if radios:
        earliest = _first_slot(first, state.html)
        return Classification(Outcome.AVAILABLE, "slots", None, radios, earliest, upcoming)
    if first is not None:
        # "Prochaine disponibilité le …": nothing this week, but a later week has a slot.
        return Classification(Outcome.AVAILABLE, "later_week", None, None, first, upcoming)
    message = next((line for line in state.lines if line.startswith(_NO_SLOT)), None)
    return Classification(Outcome.NO_SLOT, "no_slot_week", message, 0, first, upcoming)


def classify(state: PageState, options: Options) -> Classification | None:
    return _captcha(state) or _slot_page(state)


SPEC = PlatformSpec(options=Options, probe=probe, classify=classify, credentials=credentials)
