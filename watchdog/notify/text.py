"""Typography of notifications, French first (« », espaces insécables, "9 h 05").

Rules as in the reports: a no-break space (U+00A0) before the colon and inside « », a narrow
no-break space (U+202F) before % ; ! ? and between thousands; decimals take a comma.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from watchdog.domain.clock import PARIS
from watchdog.domain.models import Outcome

Lang = Literal["fr", "en"]
NBSP = "\u00a0"
NNBSP = "\u202f"

MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
OUTCOMES = {
    "fr": {
        Outcome.AVAILABLE: "créneau disponible", Outcome.NO_SLOT: "aucun créneau",
        Outcome.CAPTCHA: "captcha", Outcome.QUEUE: "file d'attente",
        Outcome.CLOSED: "page fermée", Outcome.MAINTENANCE: "maintenance",
        Outcome.SITE_ERROR: "erreur du site", Outcome.BLOCKED: "accès bloqué",
        Outcome.TIMEOUT: "délai dépassé", Outcome.NETWORK_ERROR: "erreur réseau",
        Outcome.UNRECOGNIZED: "page non reconnue", Outcome.PROBE_ERROR: "erreur de la sonde",
    },
    "en": {
        Outcome.AVAILABLE: "slot available", Outcome.NO_SLOT: "no slot",
        Outcome.CAPTCHA: "captcha", Outcome.QUEUE: "queue", Outcome.CLOSED: "page closed",
        Outcome.MAINTENANCE: "maintenance", Outcome.SITE_ERROR: "site error",
        Outcome.BLOCKED: "blocked", Outcome.TIMEOUT: "timeout",
        Outcome.NETWORK_ERROR: "network error", Outcome.UNRECOGNIZED: "unrecognized page",
        Outcome.PROBE_ERROR: "probe error",
    },
}  # fmt: skip


def label(lang: Lang, text: str) -> str:
    """ "Dernière réponse :" with the no-break space French wants before the colon."""
    return f"{text}{NBSP}:" if lang == "fr" else f"{text}:"


def quoted(lang: Lang, text: str) -> str:
    return f"«{NBSP}{text}{NBSP}»" if lang == "fr" else f"“{text}”"


def num(lang: Lang, value: float, digits: int = 0) -> str:
    text = f"{value:,.{digits}f}"
    return text.replace(",", NNBSP).replace(".", ",") if lang == "fr" else text


def pct(lang: Lang, value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    number = num(lang, value * 100, digits)
    return f"{number}{NNBSP}%" if lang == "fr" else f"{number}%"


def share(lang: Lang, k: int, n: int) -> str:
    """ "95,0 % (190 sur 200)" / "95.0% (190 of 200)"."""
    word = "sur" if lang == "fr" else "of"
    return f"{pct(lang, k / n if n else None)} ({num(lang, k)} {word} {num(lang, n)})"


def points(lang: Lang, delta: float) -> str:
    sign = "+" if delta > 0 else ("−" if delta < 0 else "")
    return f"{sign}{num(lang, abs(delta) * 100, 1)}{NBSP}pts"


def count(lang: Lang, n: int, singular: str, plural: str) -> str:
    """French: 0 and 1 take the singular."""
    one = n < 2 if lang == "fr" else n == 1
    return f"{num(lang, n)}{NBSP}{singular if one else plural}"


def day(lang: Lang, value: date | datetime, weekday: bool = False) -> str:
    """ "1er mars 2025", "lundi 3 mars 2025" / "3 March 2025" (Paris calendar)."""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    month = MONTHS[lang][value.month - 1]
    number = "1er" if lang == "fr" and value.day == 1 else str(value.day)
    text = f"{number}{NBSP}{month} {value.year}"
    return f"{WEEKDAYS[lang][value.weekday()]} {text}" if weekday else text


def clock(lang: Lang, value: datetime) -> str:
    local = value.astimezone(PARIS)
    return f"{local.hour}{NBSP}h{NBSP}{local.minute:02d}" if lang == "fr" else f"{local:%H:%M}"


def moment(lang: Lang, value: datetime) -> str:
    """ "3 mars 2025 à 9 h 05" / "3 March 2025, 09:05" (Paris time)."""
    joiner = " à " if lang == "fr" else ", "
    return f"{day(lang, value)}{joiner}{clock(lang, value)}"


def duration(lang: Lang, value: timedelta) -> str:
    """ "2 j 3 h", "1 h 05", "12 min" / "2 d 3 h"."""
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    d = "j" if lang == "fr" else "d"
    if days:
        return f"{days}{NBSP}{d}{NBSP}{hours}{NBSP}h"
    if hours:
        return f"{hours}{NBSP}h{NBSP}{minutes:02d}"
    return f"{minutes}{NBSP}min"


def outcome(lang: Lang, value: Outcome | str) -> str:
    try:
        return OUTCOMES[lang][Outcome(value)]
    except ValueError:
        return str(value)


def listing(lang: Lang, items: list[str]) -> str:
    """Items joined with " ; " (French spacing) or "; "."""
    return (f"{NNBSP}; " if lang == "fr" else "; ").join(items)
