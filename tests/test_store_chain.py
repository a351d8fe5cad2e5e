"""The hash chain: canonical JSON, the fixed datetime form, hashing and sealing."""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pydantic
import pytest
import rfc8785

from watchdog.domain.errors import InvalidObservation, StoreError
from watchdog.domain.models import Observation
from watchdog.store.chain import canonical, compute_hash, format_datetime, seal, seal_document

MakeObs = Callable[..., Observation]
PARIS = ZoneInfo("Europe/Paris")


def test_canonical_is_rfc8785_of_the_json_dump_without_hash(make_observation: MakeObs) -> None:
    obs = make_observation(hash="f" * 64, prev_hash="a" * 64)
    data = canonical(obs)
    doc = json.loads(data)
    assert "hash" not in doc
    assert doc["prev_hash"] == "a" * 64
    assert data == rfc8785.dumps(doc)
    assert compute_hash(obs) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 3, 3, 8, 0, tzinfo=UTC), "2025-03-03T08:00:00.000000Z"),
        (datetime(2025, 3, 3, 9, 0, 0, 5, tzinfo=PARIS), "2025-03-03T08:00:00.000005Z"),
        (datetime(2025, 7, 1, 0, 30, tzinfo=PARIS), "2025-06-30T22:30:00.000000Z"),
        (
            datetime(2025, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=-3))),
            "2025-07-01T03:30:00.000000Z",
        ),
        (datetime(2025, 3, 14, 9, 30), "2025-03-14T09:30:00.000000"),  # naive: local wall clock
    ],
)
def test_datetimes_have_one_fixed_form(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_sealed_observation_round_trips_byte_for_byte(make_observation: MakeObs) -> None:
    obs = make_observation(
        started_at=datetime(2025, 3, 3, 9, 0, 0, 1, tzinfo=PARIS),
        finished_at=datetime(2025, 3, 3, 9, 0, 4, tzinfo=PARIS),
        earliest_slot=datetime(2025, 4, 1, 14, 15),
        published_next=datetime(2025, 3, 10, 10, 0, tzinfo=PARIS),
        duration_s=1.0,
        message="Aucun créneau — « réessayez » \u2028 plus tard 🙂\n",
    )
    sealed = seal_document(obs, "b" * 64)
    again = Observation.model_validate_json(sealed.observation.model_dump_json())
    assert canonical(again) == sealed.canonical
    assert compute_hash(again) == sealed.hash == sealed.observation.hash
    assert sealed.observation.started_at.utcoffset() == timedelta(0)
    assert sealed.observation.earliest_slot == datetime(2025, 4, 1, 14, 15)  # stays naive


def test_prev_hash_is_inside_the_hashed_document(make_observation: MakeObs) -> None:
    obs = make_observation()
    first, second = seal(obs, None), seal(obs, "0" * 64)
    assert first.prev_hash is None
    assert second.prev_hash == "0" * 64
    assert first.hash != second.hash
    assert compute_hash(second) == second.hash


def test_any_field_change_changes_the_hash(make_observation: MakeObs) -> None:
    obs = make_observation()
    base = seal(obs, None).hash
    assert seal(obs.model_copy(update={"detail": "no_slot2"}), None).hash != base
    assert seal(obs.model_copy(update={"duration_s": 4.00026}), None).hash != base


@pytest.mark.parametrize("field", ["started_at", "finished_at"])
def test_naive_instants_are_refused(make_observation: MakeObs, field: str) -> None:
    obs = make_observation(**{field: datetime(2025, 3, 3, 8, 0)})
    with pytest.raises(InvalidObservation, match=field) as raised:
        seal(obs, None)
    assert isinstance(raised.value, StoreError)


def test_non_canonicalisable_values_are_refused(make_observation: MakeObs) -> None:
    with pytest.raises(InvalidObservation, match="canonicalisable"):
        seal(make_observation(duration_s=float("nan")), None)


def _has_datetime(annotation: object) -> bool:
    """True when a type annotation is or contains datetime, or a model with one."""
    if annotation is datetime:
        return True
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return any(_has_datetime(f.annotation) for f in annotation.model_fields.values())
    return any(_has_datetime(arg) for arg in typing.get_args(annotation))


def test_datetimes_live_only_in_top_level_fields() -> None:
    """chain.document rewrites top-level datetimes only; a nested one would escape it."""
    for name, info in Observation.model_fields.items():
        args = typing.get_args(info.annotation) or (info.annotation,)
        for arg in args:
            if arg is not datetime:
                assert not _has_datetime(arg), f"Observation.{name} nests a datetime"


def test_a_sites_reading_keeps_its_paris_offset(make_observation: MakeObs) -> None:
    """`earliest_slot`/`published_next` read on a Paris page keep the wall time and offset the
    site showed; the document round-trips to the same bytes; instants stay UTC."""
    obs = make_observation(
        earliest_slot=datetime(2025, 12, 5, 9, 0, tzinfo=PARIS),
        published_next=datetime(2025, 7, 1, 10, 0, tzinfo=PARIS),
    )
    sealed = seal_document(obs, None)
    doc = json.loads(sealed.canonical)
    assert doc["earliest_slot"] == "2025-12-05T09:00:00.000000+01:00"
    assert doc["published_next"] == "2025-07-01T10:00:00.000000+02:00"
    assert doc["started_at"].endswith("Z")
    again = Observation.model_validate(doc | {"hash": sealed.hash})
    assert canonical(again) == sealed.canonical and compute_hash(again) == sealed.hash
    assert again.earliest_slot is not None and again.earliest_slot.utcoffset() == timedelta(hours=1)
