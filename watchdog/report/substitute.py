"""The report's substitute channel rows and indicators (issue 18): each journey's last check.

A check is a finding on the prefecture's pages as they were served when it ran
(watchdog/substitute): for each channel kind, published, not found, or unreachable. It is
never a rate and never mixed with the probes' figures. « Published » says the page gives
the channel, not that anyone answers it: an e-mail address is never written to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from watchdog.domain.models import ChannelKind, ChannelOutcome, ChannelSeen
from watchdog.stats.series import SeriesStats

KIND_LABELS = {
    ChannelKind.FORM: ("Formulaire de contact", "Contact form"),
    ChannelKind.EMAIL: ("Adresse électronique", "E-mail address"),
    ChannelKind.POSTAL: ("Adresse postale", "Postal address"),
    ChannelKind.PHONE: ("Téléphone", "Telephone"),
}
OUTCOME_LABELS = {
    ChannelOutcome.PUBLISHED: ("publié", "published"),
    ChannelOutcome.NOT_FOUND: ("non trouvé", "not found"),
    ChannelOutcome.UNREACHABLE: ("injoignable", "unreachable"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    outcome: ChannelOutcome
    values: tuple[str, ...]
    label: str
    outcome_label: str


@dataclass(frozen=True)
class Substituted:
    """A journey's last substitute channel check in the period."""

    target: str
    department: str
    at: datetime
    observation_id: str
    pages: int  # information pages configured and fetched
    unread: int  # of those, pages not read (an error, an HTTP status)
    channels: list[Channel]

    @property
    def published(self) -> bool:
        return any(c.outcome is ChannelOutcome.PUBLISHED for c in self.channels)


def _channel(seen: ChannelSeen, lang: str) -> Channel:
    return Channel(
        kind=seen.kind,
        outcome=seen.outcome,
        values=tuple(seen.values),
        label=_pick(KIND_LABELS[seen.kind], lang),
        outcome_label=_pick(OUTCOME_LABELS[seen.outcome], lang),
    )


def substituted(series: dict[str, SeriesStats], lang: str) -> list[Substituted]:
    """The targets checked in the period, in the report's order, with their last check."""
    rows = []
    for target, stats in series.items():
        check, at, obs_id = stats.substitute, stats.substituted_at, stats.substitute_id
        if check is None or at is None or obs_id is None:
            continue
        information = [p for p in check.pages if p.role == "information"]
        rows.append(
            Substituted(
                target=target,
                department=check.department,
                at=at,
                observation_id=obs_id,
                pages=len(information),
                unread=sum(1 for p in information if p.error is not None),
                channels=[_channel(c, lang) for c in check.channels],
            )
        )
    return rows


def indicators(stats: SeriesStats) -> dict[str, float | None]:
    """`substitute_published`, `substitute_not_found`, `substitute_unreachable`: channel
    kinds with that outcome in the last check of the period; None when no check ran."""
    check = stats.substitute
    values: dict[str, float | None] = {}
    for outcome in ChannelOutcome:
        n = sum(1 for c in check.channels if c.outcome is outcome) if check else None
        values[f"substitute_{outcome.value}"] = float(n) if n is not None else None
    return values
