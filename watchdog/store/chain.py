r"""The per-target hash chain of docs/design.md §4: canonical JSON, hashes and sealing.

An observation's hash is the SHA-256 of the RFC 8785 canonical JSON of every field but `hash`
(so `prev_hash`, the previous hash of the same target, is inside the hashed document).

Datetimes are written in one fixed form so that a stored document parses back and
re-canonicalises to the very same bytes, whatever pydantic's own formatting does:

- timezone-aware values are converted to UTC and written `YYYY-MM-DDTHH:MM:SS.ffffffZ`
  (always six fractional digits, always `Z`): fixed width, so text order is time order;
- naive values (a local wall-clock reading such as a site's "earliest slot") are written
  `YYYY-MM-DDTHH:MM:SS.ffffff`, with no offset, never reinterpreted;
- a site's readings (`earliest_slot`, `published_next`) that carry a non-zero offset keep it:
  `YYYY-MM-DDTHH:MM:SS.ffffff+01:00`, the site's Europe/Paris wall time and its offset (the
  text's date and hour stay the local ones the statistics group by);
- `started_at` and `finished_at` are instants and must be timezone-aware.

Canonical JSON is written by a fast path whenever that yields the very bytes of RFC 8785
(`rfc8785.dumps`, the reference, stays the judge). A walk over the document checks that every
value is one whose text is RFC 8785's in both encoders below, and converts floats so that the
encoders print ES6's text; then orjson (sorted keys, compact, UTF-8, RFC 8785's escaping:
`"`, `\\`, `\b \t \n \f \r`, other controls as lowercase `\u00xx`, nothing else) writes it, or,
for what orjson refuses (integers beyond 64 bits that a large float stands for), the standard
library's C encoder with the same settings. Anything else, and every error, goes to the
reference: keys with astral characters (UTF-16 order differs from code point order), floats
below 1e-4 whose ES6 form `repr` cannot print (never produced by the runner, which rounds
`duration_s` to milliseconds), unsafe integers, NaN, infinities, lone surrogates, other types.
`tests/test_canonical.py` proves the agreement.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import orjson
import rfc8785

from watchdog.domain.errors import InvalidObservation
from watchdog.domain.models import Observation

INSTANT_FIELDS = ("started_at", "finished_at")
SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers are refused

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)
# The top-level fields that may hold a datetime (nested ones cannot: a test guards this).
DATETIME_FIELDS = tuple(
    name
    for name, info in Observation.model_fields.items()
    if datetime in (info.annotation, *typing.get_args(info.annotation))
)


@dataclass(frozen=True)
class Sealed:
    """A sealed observation with the exact document and bytes that were hashed.

    `observation` is parsed back from `canonical` when first read, so it is exactly what a
    reader of the store will get; a bulk append that never reads it does not pay the parse.
    """

    document: dict[str, Any]
    canonical: bytes
    hash: str

    @cached_property
    def observation(self) -> Observation:
        sealed = Observation.model_validate_json(self.canonical)
        sealed.hash = self.hash  # a fresh object of ours: no copy needed
        return sealed


def format_datetime(value: datetime) -> str:
    """The canonical text of a datetime (see the module docstring)."""
    offset = value.utcoffset()  # None when naive
    if offset is None:
        return value.isoformat(timespec="microseconds")
    if not offset:  # UTC, or pydantic's parsed `Z`: `…+00:00` becomes `…Z`, same wall time
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


READING_FIELDS = ("earliest_slot", "published_next")


def format_reading(value: datetime) -> str:
    """A site's reading: its local wall time with its offset; UTC and naive as above."""
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None or not offset:
        return format_datetime(value)
    return value.isoformat(timespec="microseconds")


def format_instant(value: datetime) -> str:
    """The canonical UTC text of an aware datetime; naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; give a timezone")
    return format_datetime(value)


_DUMPED_APART = {"hash", *DATETIME_FIELDS}  # never mutated


def document(obs: Observation) -> dict[str, Any]:
    """The JSON document that is hashed: every field but `hash`, datetimes canonical."""
    for name in INSTANT_FIELDS:
        value: datetime = getattr(obs, name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidObservation(
                f"observation {obs.id}: {name} {value.isoformat()} has no timezone (UTC expected)"
            )
    # `hash` is not hashed; datetimes are written our way below, not pydantic's.
    doc = obs.model_dump(mode="json", exclude=_DUMPED_APART)
    if doc.get("assist") is None:  # only a session's record has one: others stay as they were
        doc.pop("assist", None)
    values = vars(obs)
    for name in DATETIME_FIELDS:
        value = values[name]
        if value is None:
            doc[name] = None
        elif name in READING_FIELDS:
            doc[name] = format_reading(value)
        else:
            doc[name] = format_datetime(value)
    return doc


def canonical_json(doc: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON document (fast path, else the reference; see module doc)."""
    try:
        encodable = _encodable(doc)
        try:
            return orjson.dumps(encodable, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits (a large float), a surrogate
            return _ENCODER.encode(encodable).encode()
    except (_Unusual, UnicodeEncodeError):
        pass  # the reference writes it, or raises the error that names the problem
    try:
        data: bytes = rfc8785.dumps(doc)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:
        raise InvalidObservation(
            f"observation {doc.get('id')}: not canonicalisable: {exc}"
        ) from exc
    return data


class _Unusual(Exception):
    """A value the fast path does not write the RFC 8785 way; the reference takes it."""


def _encodable(value: Any) -> Any:
    """`value`, or a copy that `_ENCODER` prints as RFC 8785 text; raise _Unusual if none."""
    convert = _CONVERTERS.get(type(value))
    if convert is None:
        raise _Unusual
    return convert(value)


def _same(value: Any) -> Any:
    return value


def _safe_integer(value: int) -> int:
    if -SAFE_INTEGER <= value <= SAFE_INTEGER:
        return value
    raise _Unusual


def _es6_number(value: float) -> float | int:
    """`value`, or the int whose decimal text is ES6's text for it, as `repr` would differ.

    `repr` gives ES6's shortest round-trip digits; only the layout can differ. ES6 writes plain
    text for 1e-6 <= |x| < 1e21 and `1e+21`, `1.5e-7` otherwise; `repr` writes plain text for
    1e-4 <= |x| < 1e16 (with `.0` on whole numbers) and pads exponents to two digits.
    """
    if not math.isfinite(value):
        raise _Unusual
    if value == 0:
        return 0  # also -0.0, which ES6 writes `0`
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return int(mantissa[:-2]) if mantissa.endswith(".0") else value
    power = int(exponent)
    if power >= 21 or power <= -10:
        return value  # same exponent form, e.g. 1e+21, 1.5e-10
    if power > 0:
        return int(Decimal(text))  # a whole number of 17 to 21 digits: ES6 writes them all
    raise _Unusual  # 1e-9 <= |x| < 1e-4: ES6 writes 0.00001 or 1e-7, repr 1e-05 or 1e-07


def _object(value: dict[Any, Any]) -> dict[str, Any]:
    result = value  # copied on the first value that must change (most documents: none)
    for key, item in value.items():
        # Code point order (orjson's and Python's sort) is UTF-16 order (RFC 8785's) within
        # the BMP.
        if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
            raise _Unusual
        if type(item) in _AS_IS:  # most values: no call (the walk's main cost)
            continue
        new = _encodable(item)
        if new is not item:
            if result is value:
                result = dict(value)
            result[key] = new
    return result


def _array(value: list[Any]) -> list[Any]:
    result = value
    for index, item in enumerate(value):
        if type(item) in _AS_IS:
            continue
        new = _encodable(item)
        if new is not item:
            if result is value:
                result = list(value)
            result[index] = new
    return result


# Exact types only: subclasses (str enums, int subclasses…) are left to the reference.
_AS_IS: frozenset[type] = frozenset({str, bool, type(None)})
_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    **{kind: _same for kind in _AS_IS},
    int: _safe_integer,
    float: _es6_number,
    dict: _object,
    list: _array,
}


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
    doc = document(obs)
    doc["prev_hash"] = prev_hash
    data = canonical_json(doc)
    return Sealed(document=doc, canonical=data, hash=sha256_hex(data))


def seal(obs: Observation, prev_hash: str | None) -> Observation:
    """A copy of `obs` with `prev_hash` set and `hash` computed over it."""
    return seal_document(obs, prev_hash).observation
