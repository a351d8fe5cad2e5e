"""Words the reports show for the closed vocabularies (outcomes, procedures, platforms)."""

from __future__ import annotations

from watchdog.models import Outcome, Platform, Procedure

OUTCOMES: dict[str, dict[Outcome, str]] = {
    "fr": {
        Outcome.AVAILABLE: "créneau proposé",
        Outcome.NO_SLOT: "aucun créneau",
        Outcome.CAPTCHA: "captcha bloquant",
        Outcome.QUEUE: "file d'attente",
        Outcome.CLOSED: "prise de rendez-vous fermée",
        Outcome.MAINTENANCE: "maintenance annoncée",
        Outcome.SITE_ERROR: "erreur du site",
        Outcome.BLOCKED: "accès bloqué",
        Outcome.TIMEOUT: "absence de réponse",
        Outcome.NETWORK_ERROR: "erreur réseau",
        Outcome.UNRECOGNIZED: "page non reconnue",
        Outcome.PROBE_ERROR: "erreur de la sonde",
    },
    "en": {
        Outcome.AVAILABLE: "slot offered",
        Outcome.NO_SLOT: "no slot",
        Outcome.CAPTCHA: "captcha barrier",
        Outcome.QUEUE: "waiting room",
        Outcome.CLOSED: "booking closed",
        Outcome.MAINTENANCE: "announced maintenance",
        Outcome.SITE_ERROR: "site error",
        Outcome.BLOCKED: "access blocked",
        Outcome.TIMEOUT: "no answer in time",
        Outcome.NETWORK_ERROR: "network error",
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

PLATFORMS: dict[str, dict[Platform, str]] = {
    "fr": {
        Platform.LEGACY_BOOKING: "module de réservation du site de la préfecture",
        Platform.RDV_PREFECTURE: "RDV-Préfecture",
        Platform.EAPPOINTMENT: "eAppointment",
        Platform.ANEF: "portail ANEF",
        Platform.STEPS: "parcours décrit dans la configuration",
    },
    "en": {
        Platform.LEGACY_BOOKING: "prefecture website booking module",
        Platform.RDV_PREFECTURE: "RDV-Préfecture",
        Platform.EAPPOINTMENT: "eAppointment",
        Platform.ANEF: "ANEF portal",
        Platform.STEPS: "journey described in the configuration",
    },
}


def outcome(lang: str, value: Outcome) -> str:
    return OUTCOMES[lang][value]


def procedure(lang: str, value: Procedure) -> str:
    return PROCEDURES[lang][value]


def platform(lang: str, value: Platform) -> str:
    return PLATFORMS[lang][value]


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
        Outcome.BLOCKED: "refus 403 ou 429, ou page de protection visant la sonde",
        Outcome.TIMEOUT: "aucune réponse dans le délai imparti",
        Outcome.NETWORK_ERROR: "échec DNS ou TLS, connexion refusée ou interrompue",
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
        Outcome.BLOCKED: "403 or 429, or a protection page aimed at the probe",
        Outcome.TIMEOUT: "no answer in time",
        Outcome.NETWORK_ERROR: "DNS or TLS failure, connection refused or reset",
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
