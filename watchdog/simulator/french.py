"""French date wording as the booking sites print it."""

from __future__ import annotations

from datetime import date, datetime

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def long_date(day: date) -> str:
    """ "lundi 27 avril 2020", "dimanche 03 mai 2020" (day of month on two digits)."""
    return f"{DAYS[day.weekday()]} {day.day:02d} {MONTHS[day.month - 1]} {day.year}"


def short_day(day: date) -> str:
    """ "lun. 01/12" as in RDV-Préfecture column headings."""
    return f"{DAYS[day.weekday()][:3]}. {day:%d/%m}"


def dmy(day: date | datetime) -> str:
    return f"{day:%d/%m/%Y}"


def hm(moment: datetime) -> str:
    return f"{moment:%H:%M}"
