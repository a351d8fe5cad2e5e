"""The hashed document of an observation is written as the reference rule writes it.

`chain.document` takes shortcuts (datetimes left out of pydantic's dump and written once, a
zero UTC offset of any tzinfo taken as UTC without converting): property tests compare its
canonical bytes with the reference — the rule written out plainly here (pydantic's full dump,
every aware datetime converted to UTC) and `rfc8785.dumps` — over wide inputs: datetimes naive
and aware in fixed offsets, Europe/Paris and pydantic's own parsed zones, floats of every
magnitude, unicode text with astral characters, controls and lone surrogates, nested steps.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pydantic
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.domain.errors import InvalidObservation
from watchdog.domain.models import Env, Observation, Outcome, Step
from watchdog.store import chain
from watchdog.store.chain import DATETIME_FIELDS, READING_FIELDS

PARSED = pydantic.TypeAdapter(datetime)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def reference_datetime(value: datetime, reading: bool) -> str:
    """The rule of docs/design.md §4 written out: naive as is, a reading with a non-zero
    offset as is, every other aware value converted to UTC and written with `Z`."""
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None or (reading and offset):
        return value.isoformat(timespec="microseconds")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def reference_document(obs: Observation) -> dict[str, Any]:
    doc = obs.model_dump(mode="json")
    del doc["hash"]
    if doc.get("assist") is None:
        doc.pop("assist", None)
    for name in DATETIME_FIELDS:
        value = getattr(obs, name)
        if value is not None:
            doc[name] = reference_datetime(value, name in READING_FIELDS)
    return doc


def reference_bytes(obs: Observation) -> bytes | str:
    try:
        data: bytes = rfc8785.dumps(reference_document(obs))
    except (rfc8785.CanonicalizationError, UnicodeError):
        return "refused"
    return data


def ours(obs: Observation) -> bytes | str:
    try:
        return chain.canonical(obs)
    except InvalidObservation:
        return "refused"


def zones() -> st.SearchStrategy[tzinfo]:
    offsets = st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    )
    parsed = st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "+02:00", "-09:30", "+05:45"])
    return st.one_of(
        st.just(UTC),
        st.just(PARIS),
        st.builds(timezone, offsets),
        st.builds(timezone, st.just(timedelta(0)), st.sampled_from(["UTC", "GMT", "Z"])),
        parsed.map(lambda text: PARSED.validate_python(f"2026-01-01T00:00:00{text}").tzinfo),
    )


def instants() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones()
    )


def readings() -> st.SearchStrategy[datetime | None]:
    naive = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31))
    return st.one_of(st.none(), naive, instants())


TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(value=st.one_of(instants(), readings().filter(lambda v: v is not None)))
def test_datetimes_have_the_reference_text(value: datetime) -> None:
    assert chain.format_datetime(value) == reference_datetime(value, reading=False)
    assert chain.format_reading(value) == reference_datetime(value, reading=True)


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    started = draw(instants())
    took = draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)))
    steps = draw(st.lists(st.tuples(TEXT, st.integers(-(2**60), 2**60)), max_size=3))
    return Observation(
        id="obs-1",
        target="paris-a",
        outcome=Outcome.NO_SLOT,
        detail="no_slot",
        message=draw(st.none() | TEXT),
        started_at=started,
        finished_at=started + took,
        duration_s=draw(FLOATS),
        earliest_slot=draw(readings()),
        published_next=draw(readings()),
        steps=[
            Step(name=name, url="https://example.gouv.fr/é", status=200, ms=ms)
            for name, ms in steps
        ],
        env=Env(software="test 🙂", clock_offset_s=draw(st.none() | FLOATS)),
        tags=draw(st.lists(TEXT, max_size=3)),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(obs=observations())
def test_observation_documents_have_the_reference_bytes(obs: Observation) -> None:
    expected = reference_bytes(obs)
    assert ours(obs) == expected
    if isinstance(expected, bytes):
        assert chain.compute_hash(obs) == chain.sha256_hex(expected)
