"""What each outcome says about an applicant's access, and the words that follow its cause.

docs/design.md §2: « aucun créneau » is `no_slot` alone; a barrier is named as such. Three groups:
the calendar was reached (`available`, `no_slot`); a barrier of the service stood in the way
(captcha, waiting room, disabled page, maintenance, site error, no answer); or the attempt
says nothing against the service an applicant meets — `blocked` is aimed at our robot,
`network_error` may be our own network, `probe_error` and `unrecognized` are ours. The last
group is never counted as an applicant's failure and is always listed apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from probes import REGISTRY
from watchdog.domain.models import Outcome, Platform

REACHED = (Outcome.AVAILABLE, Outcome.NO_SLOT)
BARRIERS = (
    Outcome.CAPTCHA,
    Outcome.QUEUE,
    Outcome.CLOSED,
    Outcome.MAINTENANCE,
    Outcome.SITE_ERROR,
    Outcome.TIMEOUT,
)
# Barriers that make the service unusable for anyone: they support a finding of unavailability.
DOWN = (Outcome.CLOSED, Outcome.MAINTENANCE, Outcome.SITE_ERROR, Outcome.TIMEOUT)
# Barriers that stop our robot before the calendar but that a person may get past (a captcha
# is built to stop robots; a waiting room lets people in): they hide the calendar from us and
# prove neither that slots were there nor that they were not.
HIDING = (Outcome.CAPTCHA, Outcome.QUEUE)
# Counted in the rates (docs/design.md §2), never an applicant's failure (aimed at or caused by us).
PROBE_SIDE = (Outcome.BLOCKED, Outcome.NETWORK_ERROR)
# What an applicant would have met when trying: no slot, or a barrier of the service.
APPLICANT_FAILURES = (Outcome.NO_SLOT, *BARRIERS)
NOT_APPLICANT = (*PROBE_SIDE, Outcome.PROBE_ERROR, Outcome.UNRECOGNIZED)

# The words of a portal that files applications and books nothing (ANEF): never a slot.
_PORTAL: dict[str, dict[Outcome, str]] = {
    "fr": {
        Outcome.AVAILABLE: "portail disponible",
        Outcome.NO_SLOT: "portail disponible",
        Outcome.CAPTCHA: "portail inaccessible (captcha)",
        Outcome.QUEUE: "portail indisponible (file d'attente)",
        Outcome.CLOSED: "portail indisponible (page désactivée)",
        Outcome.MAINTENANCE: "portail en maintenance",
        Outcome.SITE_ERROR: "portail indisponible (erreur)",
        Outcome.TIMEOUT: "portail indisponible (sans réponse)",
    },
    "en": {
        Outcome.AVAILABLE: "portal available",
        Outcome.NO_SLOT: "portal available",
        Outcome.CAPTCHA: "portal not reached (captcha)",
        Outcome.QUEUE: "portal unavailable (waiting room)",
        Outcome.CLOSED: "portal unavailable (page disabled)",
        Outcome.MAINTENANCE: "portal under maintenance",
        Outcome.SITE_ERROR: "portal unavailable (error)",
        Outcome.TIMEOUT: "portal unavailable (no answer)",
    },
}


def books(platform: Platform) -> bool:
    """False for a portal that books nothing (ANEF): no « créneau » is ever said of it."""
    return REGISTRY[platform].books


def portal_outcome(lang: str, outcome: Outcome) -> str | None:
    """The portal wording of an outcome (None: the common wording applies)."""
    return _PORTAL[lang].get(outcome)


def dominant(outcomes: Mapping[Outcome, int], among: Iterable[Outcome]) -> list[Outcome]:
    """`among` that occurred, most frequent first (ties in vocabulary order)."""
    order = list(Outcome)
    found = [o for o in among if outcomes.get(o, 0)]
    return sorted(found, key=lambda o: (-outcomes[o], order.index(o)))
