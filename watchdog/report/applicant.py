"""What the association adds to a référé file: the applicant's own attempts and letters, the
answers to the CE 453391 questions, the place of signature and the issuer (issue 12, item 3).

The watchdog's attempts are made by an automated device, independently of the applicant; the
case law weighs the applicant's own steps (CE 10 juin 2020, n° 435594; CE 9 juin 2022,
n° 453391). This file lets the association put them beside ours. YAML:

    place: Bobigny
    issuer: {name: "Jeanne Martin", role: juriste, organisation: "Association X",
             address: "…", contact: "…"}
    situation: {request: renouvellement, oqtf: false, circumstances: "…"}
    attempts:                    # the applicant's own attempts
      - {date: 2026-11-03, channel: en ligne, reference: "…", description: "…",
         attachments: [captures/2026-11-03.png]}
    correspondence:              # letters, e-mails, visits and their answers
      - {date: 2026-11-05, channel: lettre recommandée, reference: "1A 234 567 8901 2",
         description: "…", attachments: [{file: ar.pdf, sha256: "…"}]}

or CSV with the columns `kind` (attempt | correspondence), `date`, `channel`, `reference`,
`description`, `attachments` (paths separated by `;`). Attachments are read relative to the
file and named by their SHA-256; a hash given for a file that is there must match it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watchdog.domain.errors import WatchdogError

SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attachment(_Strict):
    file: str
    sha256: SHA256 | None = None


class Step(_Strict):
    """One step of the applicant: an attempt, a letter, an e-mail, a visit."""

    date: dt.date
    channel: str
    reference: str | None = None
    description: str | None = None
    answer: str | None = None
    attachments: list[Attachment | str] = Field(default_factory=list)


class Issuer(_Strict):
    name: str | None = None
    role: str | None = None
    organisation: str | None = None
    address: str | None = None
    contact: str | None = None


class Situation(_Strict):
    """The answers the CE 453391 questions call for (None: not answered)."""

    request: Literal["renouvellement", "premiere_demande", "autre"] | None = None
    oqtf: bool | None = None
    circumstances: str | None = None


class ApplicantFile(_Strict):
    place: str | None = None
    issuer: Issuer = Field(default_factory=Issuer)
    situation: Situation = Field(default_factory=Situation)
    attempts: list[Step] = Field(default_factory=list)
    correspondence: list[Step] = Field(default_factory=list)


class HashedAttachment(_Strict):
    name: str
    sha256: str


class HashedStep(_Strict):
    step: Step
    attachments: list[HashedAttachment]


class Applicant(_Strict):
    """The file as the dossier prints it: steps in date order, attachments hashed."""

    place: str | None
    issuer: Issuer
    situation: Situation
    attempts: list[HashedStep]
    correspondence: list[HashedStep]


def empty() -> Applicant:
    return Applicant(
        place=None, issuer=Issuer(), situation=Situation(), attempts=[], correspondence=[]
    )


def load_applicant(path: Path) -> Applicant:
    """Read the YAML or CSV file at `path` and hash its attachments."""
    try:
        text = path.read_text("utf-8")
        raw = _from_csv(text) if path.suffix.lower() == ".csv" else yaml.safe_load(text) or {}
        parsed = ApplicantFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError, csv.Error, WatchdogError) as exc:
        raise WatchdogError(f"{path}: invalid applicant file: {exc}") from exc
    base = path.parent
    return Applicant(
        place=parsed.place,
        issuer=parsed.issuer,
        situation=parsed.situation,
        attempts=[_hashed(s, base) for s in sorted(parsed.attempts, key=lambda s: s.date)],
        correspondence=[
            _hashed(s, base) for s in sorted(parsed.correspondence, key=lambda s: s.date)
        ],
    )


def _from_csv(text: str) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"attempts": [], "correspondence": []}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        kind = (row.pop("kind", None) or "").strip()
        if kind not in ("attempt", "correspondence"):
            raise WatchdogError(f"line {line}: kind must be attempt or correspondence")
        files = [f.strip() for f in (row.pop("attachments", None) or "").split(";") if f.strip()]
        step = {k: v for k, v in row.items() if v}
        step["attachments"] = files
        rows["attempts" if kind == "attempt" else "correspondence"].append(step)
    return rows


def _hashed(step: Step, base: Path) -> HashedStep:
    return HashedStep(step=step, attachments=[_hash(a, base) for a in step.attachments])


def _hash(attachment: Attachment | str, base: Path) -> HashedAttachment:
    item = Attachment(file=attachment) if isinstance(attachment, str) else attachment
    path = base / item.file
    if path.is_file():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if item.sha256 is not None and item.sha256 != digest:
            raise WatchdogError(f"{path}: SHA-256 is {digest}, not the {item.sha256} given")
        return HashedAttachment(name=item.file, sha256=digest)
    if item.sha256 is None:
        raise WatchdogError(f"{path}: attachment not found and no sha256 given for it")
    return HashedAttachment(name=item.file, sha256=item.sha256)
