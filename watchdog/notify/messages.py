"""Incident messages (French first, English on request): figures, period, target, evidence.

Rendered from the incident's own facts (written when it opened), so a message needs nothing
but the incident — the same text after a restart, or from `watchdog incidents`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from watchdog.domain.incidents import Event, IncidentKind
from watchdog.notify.repo import Incident
from watchdog.notify.text import (
    Lang,
    count,
    day,
    duration,
    label,
    listing,
    moment,
    outcome,
    pct,
    quoted,
    share,
)

Link = Callable[[str], str]  # evidence sha256 -> a path or URL a person can open

HEADLINES: dict[IncidentKind, dict[str, str]] = {
    IncidentKind.SITE_DOWN: {"fr": "Site en panne", "en": "Site down"},
    IncidentKind.CAPTCHA_WALL: {"fr": "Mur de captcha", "en": "Captcha wall"},
    IncidentKind.PAGE_CLOSED: {"fr": "Page de réservation fermée", "en": "Booking page closed"},
    IncidentKind.BLOCKED: {"fr": "Watchdog bloqué par le site", "en": "Watchdog blocked"},
    IncidentKind.HIGH_NO_SLOT_RATE: {"fr": "Aucun créneau", "en": "No slot"},
    IncidentKind.HIGH_FAILURE_RATE: {"fr": "Échecs de prise de rendez-vous",
                                     "en": "Booking attempts failing"},
    IncidentKind.ASSIST_NEEDED: {"fr": "Une personne est attendue",
                                 "en": "A person is needed"},
}  # fmt: skip
PREFIX = {
    Event.OPENED: {"fr": "", "en": ""},
    Event.REMINDER: {"fr": "Rappel — ", "en": "Reminder — "},
    Event.RESOLVED: {"fr": "Rétabli — ", "en": "Resolved — "},
}
STREAK_LEADS = {
    IncidentKind.SITE_DOWN: {
        "fr": "Le site de réservation ne fonctionne plus",
        "en": "The booking site is not working",
    },
    IncidentKind.CAPTCHA_WALL: {
        "fr": "Un captcha cache désormais les créneaux",
        "en": "A captcha now hides the slots",
    },
    IncidentKind.PAGE_CLOSED: {
        "fr": "La page de réservation est fermée ou retirée",
        "en": "The booking page is closed or retired",
    },
    IncidentKind.BLOCKED: {
        "fr": "Le site bloque le watchdog (403, 429 ou page de protection)",
        "en": "The site blocks the watchdog (403, 429 or a protection page)",
    },
    IncidentKind.ASSIST_NEEDED: {
        "fr": "Personne n'a répondu au captcha en session assistée",
        "en": "Nobody has answered the captcha in an assisted session",
    },
}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    notify_type: str


def _t(lang: Lang, fr: str, en: str) -> str:
    return fr if lang == "fr" else en


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def where(lang: Lang, target: dict[str, Any]) -> str:
    """ "Ain (01) — Première demande de titre de séjour"."""
    place = target["prefecture"] + (f", {target['site']}" if target.get("site") else "")
    return f"{place} ({target['department']}) — {target['label']}"


def render_incident(
    incident: Incident,
    event: Event,
    lang: Lang,
    link: Link,
    now: datetime,
    latest: dict[str, Any] | None = None,
) -> Rendered:
    """Title and body of `event` (opened, reminder or resolved) for `incident`."""
    facts = incident.facts
    target = facts["target"]
    headline = HEADLINES[incident.kind][lang]
    title = f"{PREFIX[event][lang]}{headline} — {where(lang, target)}"
    if event is Event.RESOLVED:
        lines = _resolved(incident, lang)
    else:
        lines = _opened(incident, lang, link)
        if event is Event.REMINDER:
            lines.insert(0, _reminder_line(incident, lang, now))
            if latest is not None:
                lines.append(_last_line(lang, latest, _t(lang, "Dernière réponse", "Last answer")))
    lines += ["", f"{label(lang, _t(lang, 'Adresse', 'URL'))} {target['url']}",
              _t(lang, f"Cible{_colon(lang)} {target['id']} · incident {incident.id}",
                 f"Target: {target['id']} · incident {incident.id}")]  # fmt: skip
    notify_type = {Event.OPENED: "failure", Event.REMINDER: "warning"}.get(event, "success")
    return Rendered(title, "\n".join(lines), notify_type)


def _colon(lang: Lang) -> str:
    return label(lang, "")


def _reminder_line(incident: Incident, lang: Lang, now: datetime) -> str:
    lasting, opened = duration(lang, now - incident.opened_at), moment(lang, incident.opened_at)
    return _t(
        lang,
        f"Toujours en cours depuis {lasting} (incident ouvert le {opened}).",
        f"Still ongoing after {lasting} (incident opened {opened}).",
    )


def _opened(incident: Incident, lang: Lang, link: Link) -> list[str]:
    if incident.kind in STREAK_LEADS:
        lines = _streak_opened(incident, lang)
    else:
        lines = _rate_opened(incident, lang)
    lines += _evidence(lang, incident.facts.get("evidence", []), link)
    return lines


def _streak_opened(incident: Incident, lang: Lang) -> list[str]:
    facts = incident.facts
    lead = STREAK_LEADS[incident.kind][lang]
    attempts = count(lang, facts["count"], _t(lang, "tentative", "attempt"),
                     _t(lang, "tentatives", "attempts"))  # fmt: skip
    since = moment(lang, instant(facts["since"]))
    causes = listing(lang, [f"{outcome(lang, o)} ×{n}" for o, n in facts["outcomes"].items()])
    first = _t(
        lang,
        f"{lead} pour {quoted(lang, facts['target']['label'])} depuis le {since} (heure de Paris)"
        f"{_colon(lang)} {attempts} consécutives ({causes}).",
        f"{lead} for {quoted(lang, facts['target']['label'])} since {since} (Paris time): "
        f"{attempts} in a row ({causes}).",
    )
    lines = [first, _last_line(lang, facts["last"], _t(lang, "Dernière réponse", "Last answer"))]
    if facts.get("message") and facts["message"] != facts["last"].get("message"):
        lines.append(_said(lang, facts["message"]))
    if facts.get("assist_url"):  # where a volunteer answers the next captcha
        desk = _t(lang, "Répondre au prochain captcha", "Answer the next captcha")
        lines.append(f"{label(lang, desk)} {facts['assist_url']}")
    if facts.get("captcha_attached"):
        lines.append(_t(lang, "Le captcha qu'affiche la page en attente est joint, encadré.",
                        "The captcha the waiting page shows is attached, framed."))  # fmt: skip
    return lines


def _said(lang: Lang, message: str) -> str:
    return f"{label(lang, _t(lang, 'Message du site', 'The site said'))} {quoted(lang, message)}"


def _last_line(lang: Lang, last: dict[str, Any], heading: str) -> str:
    text = f"{label(lang, heading)} {outcome(lang, last['outcome'])} ({last['detail']})"
    if last.get("http_status"):
        text += f", HTTP {last['http_status']}"
    text += _t(lang, " le ", ", ") + moment(lang, instant(last["at"]))
    if last.get("message"):
        text += f" — {quoted(lang, last['message'])}"
    return text


def _rate_opened(incident: Incident, lang: Lang) -> list[str]:
    facts = incident.facts
    rate, threshold = share(lang, facts["k"], facts["n"]), facts["threshold"]
    first_day, last_day = (date.fromisoformat(facts[k]) for k in ("first_day", "last_day"))
    span = _t(lang, f"du {day(lang, first_day)} au {day(lang, last_day)}",
              f"from {day(lang, first_day)} to {day(lang, last_day)}")  # fmt: skip
    limit = _t(lang, f"seuil{_colon(lang)} {pct(lang, threshold['rate'])} chaque jour pendant "
                     f"{count(lang, threshold['days'], 'jour', 'jours')}",
               f"threshold: {pct(lang, threshold['rate'])} every day for "
               f"{count(lang, threshold['days'], 'day', 'days')}")  # fmt: skip
    if incident.kind is IncidentKind.HIGH_NO_SLOT_RATE:
        what = _t(lang, "Aucun créneau libre dans", "No free slot in")
        base = _t(lang, "des tentatives qui ont atteint le calendrier",
                  "of the attempts that reached the calendar")  # fmt: skip
    else:
        what = _t(lang, "Échec de", "Failure of")
        base = _t(lang, "des tentatives", "of the attempts")
    lines = [
        f"{what} {rate} {base} {span} ({limit}).",
        f"{label(lang, _t(lang, 'Par jour', 'Per day'))} " + listing(lang, [
            f"{day(lang, date.fromisoformat(d['day']))}{_colon(lang)} {share(lang, d['k'], d['n'])}"
            for d in facts["days"]
        ]) + ".",
    ]  # fmt: skip
    if facts.get("causes"):
        causes = listing(lang, [f"{outcome(lang, o)} ×{n}" for o, n in facts["causes"].items()])
        lines.append(f"{label(lang, _t(lang, 'Causes', 'Causes'))} {causes}.")
    example = facts.get("example")
    if example and example.get("message"):
        lines.append(_said(lang, example["message"]))
    return lines


def _resolved(incident: Incident, lang: Lang) -> list[str]:
    resolution = incident.resolution or {}
    back = instant(resolution["at"]) if "at" in resolution else incident.resolved_at
    assert back is not None
    lasted = duration(lang, back - incident.opened_at)
    if "days" in resolution:  # a daily rate: back under its threshold for whole days
        lines = [_t(lang, f"Taux repassé sous le seuil le {day(lang, back)}, après {lasted} "
                          f"d'incident (ouvert le {day(lang, incident.opened_at)}).",
                    f"Rate back under the threshold on {day(lang, back)}, after {lasted} "
                    f"(opened {day(lang, incident.opened_at)}).")]  # fmt: skip
    else:
        lines = [_t(lang, f"Situation rétablie le {moment(lang, back)} (heure de Paris), après "
                          f"{lasted} d'incident (ouvert le {moment(lang, incident.opened_at)}).",
                    f"Back to normal on {moment(lang, back)} (Paris time), after {lasted} "
                    f"(opened {moment(lang, incident.opened_at)}).")]  # fmt: skip
    if "count" in resolution:
        good = count(lang, resolution["count"], _t(lang, "tentative", "attempt"),
                     _t(lang, "tentatives", "attempts"))  # fmt: skip
        lines.append(
            _t(lang, f"Confirmé par {good} consécutives.", f"Confirmed by {good} in a row.")
        )
    if resolution.get("last"):
        lines.append(_last_line(lang, resolution["last"], _t(lang, "Dernière réponse",
                                                             "Last answer")))  # fmt: skip
    for entry in resolution.get("days", []):
        lines.append(f"{day(lang, date.fromisoformat(entry['day']))}{_colon(lang)} "
                     f"{share(lang, entry['k'], entry['n'])}.")  # fmt: skip
    return lines


def _evidence(lang: Lang, shas: list[str], link: Link) -> list[str]:
    heading = _t(lang, "Capture encadrée", "Framed screenshot")
    return [f"{label(lang, heading)} {link(sha)}" for sha in shas]
