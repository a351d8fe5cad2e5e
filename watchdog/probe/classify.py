"""Classification: platform markers first, then generic French rules, else `unrecognized`.

Generic rules are data (an ordered table) so they are easy to read, test and extend. They
see only what a person would see: the HTTP status, the visible text and JavaScript alerts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from watchdog.domain.models import Outcome
from watchdog.probe.pagetext import sentence_containing
from watchdog.probe.session import Classification, PageState, PlatformClassifier


@dataclass(frozen=True)
class TextRule:
    pattern: re.Pattern[str]
    outcome: Outcome
    detail: str


def _rule(pattern: str, outcome: Outcome, detail: str) -> TextRule:
    return TextRule(re.compile(pattern, re.IGNORECASE), outcome, detail)


# Order matters: protection and error pages first, then the site's own answers.
GENERIC_RULES: tuple[TextRule, ...] = (
    _rule(r"service surcharg[ée]", Outcome.SITE_ERROR, "overloaded"),
    _rule(r"une erreur (technique )?est survenue", Outcome.SITE_ERROR, "error_text"),
    _rule(
        r"\b(502 bad gateway|503 service (temporarily )?unavailable|504 gateway time-?out)\b",
        Outcome.SITE_ERROR,
        "proxy_error",
    ),
    _rule(
        r"site en maintenance|en cours de maintenance|op[ée]ration de maintenance",
        Outcome.MAINTENANCE,
        "maintenance",
    ),
    _rule(
        r"\b(403 forbidden|acc[èe]s refus[ée]|access denied|too many requests)\b",
        Outcome.BLOCKED,
        "forbidden_page",
    ),
    _rule(r"request unsuccessful\. incapsula|incident id", Outcome.BLOCKED, "protection_page"),
    _rule(r"d[ée]sactiv[ée] d[ée]finitivement", Outcome.CLOSED, "retired"),
    _rule(r"n'est pas disponible pour le moment", Outcome.CLOSED, "closed_banner"),
    _rule(
        r"salle d'attente|file d'attente|queue-it|vous [êe]tes dans la file",
        Outcome.QUEUE,
        "waiting_room",
    ),
    _rule(r"il n'existe plus de plage horaire libre", Outcome.NO_SLOT, "no_free_slot"),
    _rule(
        r"aucun (rendez-vous|cr[ée]neau) (n'est )?(possible|disponible)",
        Outcome.NO_SLOT,
        "no_slot_text",
    ),
    _rule(r"pas de (rendez-vous|cr[ée]neau) disponible", Outcome.NO_SLOT, "no_slot_text"),
    _rule(r"aucun cr[ée]neau", Outcome.NO_SLOT, "no_slot_text"),
    _rule(r"code de s[ée]curit[ée]|captcha", Outcome.CAPTCHA, "captcha_text"),
)

_CAPTCHA_MARKUP = re.compile(r"class=\"g-recaptcha\"|hcaptcha|BDC_CaptchaComponent", re.I)


def _by_status(state: PageState) -> Classification | None:
    status = state.status
    if status is None or status < 400:
        return None
    if status in (403, 429):
        return Classification(Outcome.BLOCKED, f"http_{status}", _first_line(state))
    if status >= 500:
        return Classification(Outcome.SITE_ERROR, f"http_{status}", _first_line(state))
    return None


def _first_line(state: PageState) -> str | None:
    return state.lines[0] if state.lines else (state.title or None)


def _by_text(state: PageState) -> Classification | None:
    for text in (*state.dialogs, state.text):
        for rule in GENERIC_RULES:
            match = rule.pattern.search(text)
            if match is None:
                continue
            lines = list(state.dialogs) + state.lines
            message = sentence_containing(lines, match.group(0))
            return Classification(rule.outcome, rule.detail, message)
    if _CAPTCHA_MARKUP.search(state.html):
        return Classification(Outcome.CAPTCHA, "captcha_markup")
    return None


# A page's own words win over its status code for these (a 503 "Site en maintenance" is
# maintenance, not an error); a 5xx page that happens to say "aucun créneau" is an error.
_TEXT_WINS_OVER_STATUS = frozenset(
    {Outcome.MAINTENANCE, Outcome.CLOSED, Outcome.SITE_ERROR, Outcome.BLOCKED, Outcome.QUEUE}
)


_GENERIC_DETAILS = frozenset({"proxy_error", "forbidden_page"})


def classify(state: PageState, platform: PlatformClassifier, options: Any) -> Classification:
    """The single classification path used by the runner and by golden tests."""
    found = platform(state, options)
    if found is not None:
        return found
    by_text = _by_text(state)
    by_status = _by_status(state)
    if by_text is not None and by_status is not None and by_text.detail in _GENERIC_DETAILS:
        # "502 Bad Gateway" on a 502: the status code is the more precise detail.
        return Classification(by_status.outcome, by_status.detail, by_text.message)
    if by_text is not None and by_text.outcome in _TEXT_WINS_OVER_STATUS:
        return by_text
    if by_status is not None:
        return by_status
    if by_text is not None:
        return by_text
    return Classification(Outcome.UNRECOGNIZED, "no_rule_matched", _first_line(state))
