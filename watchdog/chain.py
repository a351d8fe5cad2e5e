"""The per-target hash chain of DESIGN §4: canonical JSON, hashes and sealing.

An observation's hash is the SHA-256 of the RFC 8785 canonical JSON of every field but `hash`
(so `prev_hash`, the previous hash of the same target, is inside the hashed document).

Datetimes are written in one fixed form so that a stored document parses back and
re-canonicalises to the very same bytes, whatever pydantic's own formatting does:

- timezone-aware values are converted to UTC and written `YYYY-MM-DDTHH:MM:SS.ffffffZ`
  (always six fractional digits, always `Z`): fixed width, so text order is time order;
- naive values (a local wall-clock reading such as a site's "earliest slot") are written
  `YYYY-MM-DDTHH:MM:SS.ffffff`, with no offset, never reinterpreted;
- `started_at` and `finished_at` are instants and must be timezone-aware.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from watchdog.errors import InvalidObservation
from watchdog.models import Observation

INSTANT_FIELDS = ("started_at", "finished_at")


@dataclass(frozen=True)
class Sealed:
    """A sealed observation with the exact document and bytes that were hashed."""

    observation: Observation
    document: dict[str, Any]
    canonical: bytes
    hash: str


def format_datetime(value: datetime) -> str:
    """The canonical text of a datetime (see the module docstring)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.isoformat(timespec="microseconds")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def format_instant(value: datetime) -> str:
    """The canonical UTC text of an aware datetime; naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; give a timezone")
    return format_datetime(value)


def document(obs: Observation) -> dict[str, Any]:
    """The JSON document that is hashed: every field but `hash`, datetimes canonical."""
    for name in INSTANT_FIELDS:
        value: datetime = getattr(obs, name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidObservation(
                f"observation {obs.id}: {name} {value.isoformat()} has no timezone (UTC expected)"
            )
    doc = obs.model_dump(mode="json", exclude={"hash"})
    # Datetimes are top-level fields only (a test guards this); write them our way.
    for name, value in obs:
        if isinstance(value, datetime):
            doc[name] = format_datetime(value)
    return doc


def canonical_json(doc: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON document."""
    try:
        data: bytes = rfc8785.dumps(doc)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:
        raise InvalidObservation(
            f"observation {doc.get('id')}: not canonicalisable: {exc}"
        ) from exc
    return data


def canonical(obs: Observation) -> bytes:
    """RFC 8785 canonical JSON of the observation without its `hash`."""
    return canonical_json(document(obs))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compute_hash(obs: Observation) -> str:
    """Hex SHA-256 of the canonical bytes (with `prev_hash` inside the hashed document)."""
    return sha256_hex(canonical(obs))


def seal_document(obs: Observation, prev_hash: str | None) -> Sealed:
    """Link `obs` after `prev_hash`; return it with the exact document and bytes hashed.

    The returned observation is parsed back from the canonical bytes, so it is exactly what
    a reader of the store will get (datetimes in UTC, microseconds kept).
    """
    doc = document(obs.model_copy(update={"prev_hash": prev_hash, "hash": None}))
    data = canonical_json(doc)
    digest = sha256_hex(data)
    parsed = Observation.model_validate_json(data)
    sealed = parsed.model_copy(update={"hash": digest})
    return Sealed(observation=sealed, document=doc, canonical=data, hash=digest)


def seal(obs: Observation, prev_hash: str | None) -> Observation:
    """A copy of `obs` with `prev_hash` set and `hash` computed over it."""
    return seal_document(obs, prev_hash).observation
