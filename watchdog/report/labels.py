"""Words the reports show for the closed vocabularies (outcomes, procedures, platforms)."""

from __future__ import annotations

from probes import REGISTRY
from watchdog.domain.models import Outcome, Platform, Procedure
from watchdog.report import causes

OUTCOMES: dict[str, dict[Outcome, str]] = {
    "fr": {
        Outcome.AVAILABLE: "créneau proposé",
        Outcome.NO_SLOT: "aucun créneau",
        Outcome.CAPTCHA: "calendrier non atteint (captcha)",
        Outcome.QUEUE: "calendrier non atteint (file d'attente)",
        Outcome.CLOSED: "page désactivée",
        Outcome.MAINTENANCE: "site en maintenance",
        Outcome.SITE_ERROR: "site indisponible (erreur)",
        Outcome.BLOCKED: "sonde bloquée par le site",
        Outcome.TIMEOUT: "site indisponible (sans réponse)",
        Outcome.NETWORK_ERROR: "erreur réseau (côté sonde possible)",
        Outcome.UNRECOGNIZED: "page non reconnue",
        Outcome.PROBE_ERROR: "erreur de la sonde",
    },
    "en": {
        Outcome.AVAILABLE: "slot offered",
        Outcome.NO_SLOT: "no slot",
        Outcome.CAPTCHA: "calendar not reached (captcha)",
        Outcome.QUEUE: "calendar not reached (waiting room)",
        Outcome.CLOSED: "page disabled",
        Outcome.MAINTENANCE: "site under maintenance",
        Outcome.SITE_ERROR: "site unavailable (error)",
        Outcome.BLOCKED: "probe blocked by the site",
        Outcome.TIMEOUT: "site unavailable (no answer)",
        Outcome.NETWORK_ERROR: "network error (possibly ours)",
        Outcome.UNRECOGNIZED: "unrecognised page",
        Outcome.PROBE_ERROR: "probe error",
    },
}

PROCEDURES: dict[str, dict[Procedure, str]] = {
    "fr": {
        Procedure.PREMIERE_DEMANDE: "première demande",
        Procedure.RENOUVELLEMENT: "renouvellement",
        Procedure.CHANGEMENT_STATUT: "changement de statut",
        Procedure.ADMISSION_EXCEPTIONNELLE: "admission exceptionnelle au séjour",
        Procedure.NATURALISATION: "naturalisation",
        Procedure.REMISE_TITRE: "remise de titre",
        Procedure.DUPLICATA: "duplicata",
        Procedure.ETUDIANT: "étudiant",
        Procedure.OTHER: "autre démarche",
    },
    "en": {
        Procedure.PREMIERE_DEMANDE: "first application",
        Procedure.RENOUVELLEMENT: "renewal",
        Procedure.CHANGEMENT_STATUT: "change of status",
        Procedure.ADMISSION_EXCEPTIONNELLE: "exceptional admission",
        Procedure.NATURALISATION: "naturalisation",
        Procedure.REMISE_TITRE: "permit collection",
        Procedure.DUPLICATA: "duplicate",
        Procedure.ETUDIANT: "student",
        Procedure.OTHER: "other procedure",
    },
}


def outcome(lang: str, value: Outcome, on: Platform | None = None) -> str:
    """The words for an outcome, by cause; on a platform that books nothing (`on`), a portal's."""
    if on is not None and not causes.books(on):
        return causes.portal_outcome(lang, value) or OUTCOMES[lang][value]
    return OUTCOMES[lang][value]


# Cimade buckets 1 → 5 (docs/design.md §2), as the chart's legend names them.
BUCKETS: dict[str, tuple[str, ...]] = {
    "fr": (
        "au moins deux créneaux dans le mois",
        "un seul créneau dans le mois",
        "première date entre un et deux mois",
        "première date au-delà de deux mois",
        "aucune date",
    ),
    "en": (
        "at least two slots within a month",
        "a single slot within a month",
        "first date in one to two months",
        "first date beyond two months",
        "no date",
    ),
}

CAUSES: dict[str, dict[Outcome, str]] = {
    "fr": {
        Outcome.CAPTCHA: "captcha",
        Outcome.QUEUE: "file d'attente",
        Outcome.CLOSED: "page désactivée",
        Outcome.MAINTENANCE: "maintenance",
        Outcome.SITE_ERROR: "erreur du site",
        Outcome.TIMEOUT: "sans réponse",
    },
    "en": {
        Outcome.CAPTCHA: "captcha",
        Outcome.QUEUE: "waiting room",
        Outcome.CLOSED: "page disabled",
        Outcome.MAINTENANCE: "maintenance",
        Outcome.SITE_ERROR: "site error",
        Outcome.TIMEOUT: "no answer",
    },
}


def cause(lang: str, value: Outcome) -> str:
    """The barrier alone, where the context already says the calendar was not reached."""
    return CAUSES[lang].get(value) or OUTCOMES[lang][value]


def procedure(lang: str, value: Procedure) -> str:
    return PROCEDURES[lang][value]


def platform(lang: str, value: Platform) -> str:
    return REGISTRY[value].labels(lang)


MEANINGS: dict[str, dict[Outcome, str]] = {
    "fr": {
        Outcome.AVAILABLE: "au moins un créneau est proposé",
        Outcome.NO_SLOT: "le site répond qu'aucun créneau n'est libre (message exact conservé)",
        Outcome.CAPTCHA: "un captcha conditionne l'accès aux créneaux\u202f; il n'est pas résolu",
        Outcome.QUEUE: "une file d'attente virtuelle s'interpose",
        Outcome.CLOSED: (
            "page de réservation désactivée, retirée ou «\u00a0pas disponible pour le moment\u00a0»"
        ),
        Outcome.MAINTENANCE: "maintenance annoncée par le site",
        Outcome.SITE_ERROR: (
            "erreur 5xx, page d'erreur intermédiaire, «\u00a0service surchargé\u00a0», "
            "erreur applicative"
        ),
        Outcome.BLOCKED: (
            "refus 403 ou 429, ou page de protection visant la sonde\u202f; ne dit rien de "
            "l'accès d'un usager et n'est jamais compté comme son échec"
        ),
        Outcome.TIMEOUT: "aucune réponse dans le délai imparti",
        Outcome.NETWORK_ERROR: (
            "échec DNS ou TLS, connexion refusée ou interrompue, peut-être du côté de la "
            "sonde\u202f; jamais compté comme un échec de l'usager"
        ),
        Outcome.UNRECOGNIZED: "page qu'aucune règle ne reconnaît, conservée pour examen humain",
        Outcome.PROBE_ERROR: "défaillance de la sonde elle-même",
    },
    "en": {
        Outcome.AVAILABLE: "at least one slot is offered",
        Outcome.NO_SLOT: "the site says no slot is free (exact message kept)",
        Outcome.CAPTCHA: "a captcha gates availability; it is not solved",
        Outcome.QUEUE: "a virtual waiting room stands in the way",
        Outcome.CLOSED: 'booking page disabled, retired or "not available for now"',
        Outcome.MAINTENANCE: "maintenance announced by the site",
        Outcome.SITE_ERROR: '5xx, proxy error page, "service overloaded", application error',
        Outcome.BLOCKED: (
            "403 or 429, or a protection page aimed at the probe; says nothing of a user's "
            "access and is never counted as their failure"
        ),
        Outcome.TIMEOUT: "no answer in time",
        Outcome.NETWORK_ERROR: (
            "DNS or TLS failure, connection refused or reset, possibly on the probe's side; "
            "never counted as a user's failure"
        ),
        Outcome.UNRECOGNIZED: "a page no rule matches, kept for a person to label",
        Outcome.PROBE_ERROR: "a fault of the probe itself",
    },
}

CONFIDENCE: dict[str, dict[str, str]] = {
    "fr": {
        "C": "confirmée (texte ou site officiel)",
        "C2": "source secondaire †",
        "I": "analyse de l'émetteur",
        "?": "non vérifiée",
    },
    "en": {
        "C": "confirmed (official text or site)",
        "C2": "secondary source †",
        "I": "issuer's analysis",
        "?": "unverified",
    },
}

# Capture-environment fields the methodology names only when the observation records them.
ENV_FIELDS: dict[str, dict[str, str]] = {
    "fr": {
        "user_agent": "l'agent utilisateur déclaré",
        "locale": "la langue du navigateur",
        "resolved_ip": "l'adresse IP résolue du site",
        "tls_fingerprint": "l'empreinte du certificat TLS du site",
        "proxy": "le mandataire (proxy) utilisé",
    },
    "en": {
        "user_agent": "the declared user agent",
        "locale": "the browser language",
        "resolved_ip": "the site's resolved IP address",
        "tls_fingerprint": "the fingerprint of the site's TLS certificate",
        "proxy": "the proxy used",
    },
}
