"""Fixture factory for the report tests: observations built directly, no browser.

Times are given as Paris wall times (what a reader of the report sees) and stored as the
aware UTC instants the store holds; earliest slots stay naive local times, as sites show.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from watchdog.domain.models import Env, EvidenceRefs, Observation, Outcome, SlotSeen
from watchdog.domain.target import Target
from watchdog.evidence.frame import Banner, frame
from watchdog.store import Store

PARIS = ZoneInfo("Europe/Paris")
NO_SLOT_MESSAGE = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
_ids = itertools.count(1)


def paris(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """An aware instant given by its Paris wall time."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@dataclass(frozen=True)
class Spec:
    """One attempt: when (Paris), what it found, and what the page said."""

    at: datetime
    outcome: Outcome
    slots: int | None = None
    earliest: datetime | None = None  # naive Paris wall time, as the site shows it
    detail: str | None = None
    message: str | None = None
    published_next: datetime | None = None
    slots_seen: tuple[SlotSeen, ...] | None = None  # each slot offered, where the probe reads it


def observation(
    target: str,
    spec: Spec,
    *,
    simulated: bool = False,
    evidence: EvidenceRefs | None = None,
) -> Observation:
    started = spec.at.astimezone(UTC)
    message = spec.message
    if message is None and spec.outcome is Outcome.NO_SLOT:
        message = NO_SLOT_MESSAGE
    fields: dict[str, Any] = {
        "id": f"01TESTOBS{next(_ids):08d}",
        "target": target,
        "outcome": spec.outcome,
        "detail": spec.detail or spec.outcome.value,
        "message": message,
        "slots": spec.slots,
        "earliest_slot": spec.earliest,
        "published_next": spec.published_next,
        "slots_seen": None if spec.slots_seen is None else list(spec.slots_seen),
        "started_at": started,
        "finished_at": started + timedelta(seconds=3),
        "duration_s": 3.0,
        "final_url": f"https://www.example.gouv.fr/booking/create/{target}/2",
        "http_status": 200,
        "env": Env(
            software="prefecture-watchdog 0.1.0",
            browser="chromium",
            browser_version="156.0",
            os="Linux",
            simulated=simulated,
        ),
        "evidence": evidence or EvidenceRefs(),
    }
    return Observation(**fields)


def capture(store: Store, obs: Observation, text: str = "Page capturée") -> EvidenceRefs:
    """A small raw PNG and its framed copy, stored as blobs, for `obs`."""
    image = Image.new("RGB", (640, 240), (250, 250, 250))
    ImageDraw.Draw(image).text((20, 100), text, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    raw = store.blobs.put(buffer.getvalue(), "screenshot")
    banner = Banner(
        url=obs.final_url or "",
        taken_at=obs.started_at,
        target=obs.target,
        observation_id=obs.id,
        raw_sha256=raw,
        simulated=obs.env.simulated,
    )
    framed = store.blobs.put(frame(buffer.getvalue(), banner), "framed")
    html = store.blobs.put(f"<html><body><p>{text}</p></body></html>".encode(), "html")
    return EvidenceRefs(screenshot=raw, framed=framed, html=html)


def fill(
    store: Store,
    target: str,
    specs: Iterable[Spec],
    *,
    simulated: bool = False,
    captures: bool | Callable[[Spec], bool] = False,
) -> list[Observation]:
    """Append one observation per spec (in time order) and return the sealed copies;
    `captures` (all, or those a predicate picks) get a raw and a framed screenshot."""
    built = []
    for spec in sorted(specs, key=lambda s: s.at):
        obs = observation(target, spec, simulated=simulated)
        if captures is True or (callable(captures) and captures(spec)):
            obs = obs.model_copy(update={"evidence": capture(store, obs, spec.message or "")})
        built.append(obs)
    return store.append_many(built)


def target(
    target_id: str,
    department: str = "93",
    prefecture: str = "Seine-Saint-Denis",
    procedure: str = "premiere_demande",
    platform: str = "legacy_booking",
) -> Target:
    return Target.model_validate(
        {
            "id": target_id,
            "department": department,
            "prefecture": prefecture,
            "procedure": procedure,
            "label": "Première demande de titre de séjour",
            "platform": platform,
            "url": f"https://www.example.gouv.fr/booking/create/{target_id}/0",
        }
    )


# Two targets for the CLI tests of reports and of the access log; `{data}` is the data folder.
CLI_CONFIG = """\
watchdog:
  data_dir: {data}
targets:
  - id: seine-saint-denis-premiere
    department: "93"
    prefecture: Seine-Saint-Denis
    procedure: premiere_demande
    label: "Première demande de titre de séjour"
    platform: legacy_booking
    url: https://www.seine-saint-denis.gouv.fr/booking/create/1/0
  - id: ain-renouvellement
    department: "01"
    prefecture: Ain
    procedure: renouvellement
    label: "Renouvellement"
    platform: legacy_booking
    url: https://www.ain.gouv.fr/booking/create/2/0
"""
