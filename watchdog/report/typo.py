"""Typography of the reports: French first (« », espaces insécables, "12 novembre 2026").

French rules followed (Lexique des règles typographiques en usage à l'Imprimerie nationale):
a narrow no-break space (U+202F) groups thousands and precedes % ; ! ?, a no-break space
(U+00A0) precedes the colon, sits inside « guillemets », and binds a number to its unit
("8 tentatives", "9 h 30", "n° 435594"); decimals take a comma; the first of the month is
"1er".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from watchdog.domain.clock import PARIS
from watchdog.stats.intervals import Difference, Proportion

NNBSP = "\u202f"  # espace fine insécable
NBSP = "\u00a0"  # espace insécable
LANGS = ("fr", "en")

MONTHS = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip
WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


_MONTH_AFTER_DAY = re.compile(r"\b(1er|\d{1,2}) (" + "|".join(MONTHS["fr"]) + r")\b")


@dataclass(frozen=True)
class Typo:
    """Number, date and quotation formatting for one language."""

    lang: str = "fr"

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise ValueError(f"unsupported language {self.lang!r}; expected one of {LANGS}")

    @property
    def fr(self) -> bool:
        return self.lang == "fr"

    # -- numbers ------------------------------------------------------------------------

    def num(self, value: int | float | None, digits: int = 0) -> str:
        """12 345,6 (fr) or 12,345.6 (en); a dash for "no data"."""
        if value is None:
            return "—"
        # Half up, as a reader rounds (Python's format rounds 91.25 to 91.2).
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
        text = f"{rounded:,.{digits}f}"
        if self.fr:
            text = text.replace(",", NNBSP).replace(".", ",")
        return text.replace("-", "−")

    def pct(self, value: float | None, digits: int = 1) -> str:
        """47,3 % (fr, narrow no-break space) or 47.3% (en)."""
        if value is None:
            return "—"
        number = self.num(value * 100, digits)
        return f"{number}{NNBSP}%" if self.fr else f"{number}%"

    def rate(self, p: Proportion, digits: int = 1) -> str:
        """The share with its base: "47,3 % (71 sur 150)"."""
        if p.value is None:
            return "sans donnée" if self.fr else "no data"
        base = f"{self.num(p.k)} sur {self.num(p.n)}" if self.fr else f"{p.k:,} of {p.n:,}"
        return f"{self.pct(p.value, digits)} ({base})"

    def ci(self, p: Proportion, digits: int = 1) -> str:
        """The Wilson 95 % interval: "44,1 – 50,6 %"."""
        bounds = p.interval
        if bounds is None:
            return "—"
        low, high = (self.num(b * 100, digits) for b in bounds)
        return f"{low}{NBSP}–{NBSP}{high}{NNBSP}%" if self.fr else f"{low}–{high}%"

    def points(self, d: Difference | None, digits: int = 1) -> str:
        """A change in percentage points with its interval: "+12,0 pts [+4,1 ; +19,8]"."""
        if d is None:
            return "—"
        unit = f"{NBSP}pts" if self.fr else " pts"
        sep = f"{NBSP};{NBSP}" if self.fr else ", "
        value, low, high = (self._signed(x * 100, digits) for x in (d.value, d.low, d.high))
        return f"{value}{unit} [{low}{sep}{high}]"

    def _signed(self, value: float, digits: int) -> str:
        sign = "+" if value > 0 else ""
        return sign + self.num(value, digits)

    def unit(self, count: int | float | None, singular: str, plural: str, digits: int = 0) -> str:
        """ "8 tentatives", "1 tentative" (French: 0 and 1 take the singular)."""
        if count is None:
            return "—"
        one = count < 2 if self.fr else count == 1
        return f"{self.num(count, digits)}{NBSP}{singular if one else plural}"

    # -- dates --------------------------------------------------------------------------

    def date(self, value: date | datetime | None) -> str:
        """ "1er novembre 2026", "12 novembre 2026" / "12 November 2026" (Paris calendar)."""
        if value is None:
            return "—"
        day = _paris_date(value)
        month = MONTHS[self.lang][day.month - 1]
        if self.fr:
            number = "1er" if day.day == 1 else str(day.day)
            return f"{number}{NBSP}{month} {day.year}"
        return f"{day.day}{NBSP}{month} {day.year}"

    def time(self, value: datetime) -> str:
        """ "9 h 05" (fr) or "09:05" (en), Paris time."""
        local = value.astimezone(PARIS) if value.tzinfo else value
        if self.fr:
            return f"{local.hour}{NBSP}h{NBSP}{local.minute:02d}"
        return f"{local:%H:%M}"

    def datetime(self, value: datetime | None) -> str:
        """ "12 novembre 2026 à 9 h 05" / "12 November 2026, 09:05" (Paris time)."""
        if value is None:
            return "—"
        joiner = " à " if self.fr else ", "
        return f"{self.date(value)}{joiner}{self.time(value)}"

    def hour(self, hour: int) -> str:
        """ "9 h" (fr) or "09:00" (en)."""
        return f"{hour}{NBSP}h" if self.fr else f"{hour:02d}:00"

    def weekday(self, index: int) -> str:
        return WEEKDAYS[self.lang][index]

    def days(self, value: float | None, digits: int = 1) -> str:
        return self.unit(
            value, "jour" if self.fr else "day", "jours" if self.fr else "days", digits
        )

    def interval(self, value: timedelta) -> str:
        """A cadence as configured: "30 secondes", "2 minutes", "1 heure 30 minutes"."""
        seconds = round(value.total_seconds())
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        words = ("heure", "heures", "minute", "minutes", "seconde", "secondes")
        if not self.fr:
            words = ("hour", "hours", "minute", "minutes", "second", "seconds")
        parts = [
            self.unit(n, words[2 * i], words[2 * i + 1])
            for i, n in enumerate((hours, minutes, secs))
            if n
        ]
        return " ".join(parts) if parts else self.unit(0, words[4], words[5])

    def duration(self, value: timedelta | None) -> str:
        """ "3 jours et 9 heures", "45 minutes"."""
        if value is None:
            return "—"
        minutes = int(value.total_seconds() // 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        words = ("jour", "jours", "heure", "heures", "minute", "minutes")
        if not self.fr:
            words = ("day", "days", "hour", "hours", "minute", "minutes")
        parts = [
            self.unit(n, words[2 * i], words[2 * i + 1])
            for i, n in enumerate((days, hours, mins))
            if n
        ][:2]
        if not parts:
            return self.unit(0, words[4], words[5])
        return (" et " if self.fr else " ").join(parts)

    def quote(self, text: str | None) -> str:
        """« texte » with no-break spaces (fr) or “text” (en)."""
        if text is None:
            return "—"
        return f"«{NBSP}{text}{NBSP}»" if self.fr else f"“{text}”"

    def colon(self) -> str:
        return f"{NBSP}:" if self.fr else ":"

    def prose(self, text: str) -> str:
        """French spacing applied to text written with plain spaces (editable data files):
        « » get no-break spaces, ; ! ? % a narrow one, : a no-break one."""
        if not self.fr:
            return text
        text = re.sub(r"«\s*", f"«{NBSP}", text)
        text = re.sub(r"\s*»", f"{NBSP}»", text)
        text = re.sub(r"(?<=\S)\s+([;!?%])", f"{NNBSP}\\1", text)
        text = re.sub(r"(?<=\d) (?=\d{3}\b)", NNBSP, text)  # 5 000 €
        text = re.sub(r"\b(n°|art\.|p\.) ", f"\\1{NBSP}", text)  # n° 435594
        text = re.sub(r"(?<=\S)\s+:(?=\s)", f"{NBSP}:", text)
        return _MONTH_AFTER_DAY.sub(f"\\1{NBSP}\\2", text)  # 10 juin 2020


def _paris_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(PARIS) if value.tzinfo else value).date()
    return value
