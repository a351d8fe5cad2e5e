"""canonical_json writes exactly what the reference `rfc8785.dumps` writes, and fails alike.

Three proofs, covering both tiers of the fast path (orjson, then the standard library's
encoder): a table of edge cases with their RFC 8785 text; thousands of seeded random documents
(nasty strings, controls, astral characters, floats of every magnitude, nesting) compared byte
for byte with the reference; and observation documents, which must never need the reference
nor the second tier (orjson writing them is the point).
"""

from __future__ import annotations

import math
import random
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rfc8785

from watchdog.domain.errors import InvalidObservation
from watchdog.domain.models import Env, Observation, Outcome, Step
from watchdog.store import chain
from watchdog.store.chain import SAFE_INTEGER, canonical, canonical_json

MakeObs = Callable[..., Observation]
SEED = 8785
DOCUMENTS = 4000

# Characters that matter to JSON escaping or to key order, and some ordinary ones.
NASTY = (
    [chr(c) for c in range(0x20)]
    + ['"', "\\", "/", "\x7f", "\x80", "\x9f", "\xa0", "é", "ß", "\u00ff", "\u0100"]
    + ["\u2028", "\u2029", "\u200b", "\ufeff", "\ud7ff", "\ue000", "\uf8ff", "\ufffd", "\uffff"]
    + ["\U00010000", "\U0001f642", "\U0001f1eb\U0001f1f7", "\U0010ffff"]
)
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
REFERENCE = rfc8785.dumps  # kept before any test wraps it


@pytest.fixture
def reference_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every document that canonical_json hands to the reference implementation."""
    calls: list[Any] = []

    def counting(doc: Any) -> bytes:
        calls.append(doc)
        result: bytes = REFERENCE(doc)
        return result

    monkeypatch.setattr(rfc8785, "dumps", counting)  # chain calls rfc8785.dumps
    return calls


def reference(doc: Any) -> bytes | str:
    """The reference bytes, or "refused" where rfc8785 raises."""
    try:
        data: bytes = REFERENCE(doc)
    except (rfc8785.CanonicalizationError, UnicodeError):
        return "refused"
    return data


def ours(doc: Any) -> bytes | str:
    try:
        return canonical_json(doc)
    except InvalidObservation:
        return "refused"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-3.0, "-3"),
        (1.2, "1.2"),
        (-1.2, "-1.2"),
        (4.00026, "4.00026"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-4, "0.0001"),
        (1.5e-5, "0.000015"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (-2.5e-9, "-2.5e-9"),
        (1e-10, "1e-10"),
        (5e-324, "5e-324"),
        (123456789.125, "123456789.125"),
        (9007199254740991.0, "9007199254740991"),
        (1e16, "10000000000000000"),
        (1.5e16, "15000000000000000"),
        (2.0**60, "1152921504606847000"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (-1.5e22, "-1.5e+22"),
        (sys.float_info.max, "1.7976931348623157e+308"),
        (SAFE_INTEGER, "9007199254740991"),
        (-SAFE_INTEGER, "-9007199254740991"),
        (True, "true"),
        (None, "null"),
        ("\x00\x07\b\t\n\x0b\f\r\x1f", r'"\u0000\u0007\b\t\n\u000b\f\r\u001f"'),
        ('"\\/\x7f', r'"\"\\/' + '\x7f"'),
        ("é\u2028\u2029\ufeff🙂", '"é\u2028\u2029\ufeff🙂"'),
        ([], "[]"),
        ({}, "{}"),
        ([{"b": [1, {}], "a": None}], '[{"a":null,"b":[1,{}]}]'),
    ],
)
def test_edge_values_have_their_rfc8785_text(value: Any, text: str) -> None:
    doc = {"v": value}
    expected = ('{"v":' + text + "}").encode()
    assert rfc8785.dumps(doc) == expected  # our reading of RFC 8785 is the reference's
    assert canonical_json(doc) == expected


@pytest.mark.parametrize(
    "keys",
    [
        ["b", "a", "B", "", "aa", "a\x00", "_", "~"],
        ["é", "e", "z", "\u00ff", "\u0100"],
        ["\ue000", "\U0001f642"],  # UTF-16: D83D DE42 < E000, code points: E000 < 1F642
        ["\uffff", "\U00010000", "\ud7ff", "a"],
    ],
)
def test_keys_are_sorted_by_utf16_code_units(keys: list[str]) -> None:
    doc = {key: index for index, key in enumerate(keys)}
    assert canonical_json(doc) == rfc8785.dumps(doc)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        SAFE_INTEGER + 1,
        -SAFE_INTEGER - 1,
        2**64,
        "a\ud800b",
        "\udfff",
        {"\ud800": 1},
        {1: "non-string key"},
        {"x": b"bytes"},
        {1.5, 2.5},
    ],
)
def test_what_rfc8785_refuses_is_refused(value: Any) -> None:
    doc = {"id": "obs-1", "v": value}
    assert reference(doc) == "refused"
    with pytest.raises(InvalidObservation, match="obs-1: not canonicalisable"):
        canonical_json(doc)


def test_other_types_are_written_as_the_reference_writes_them() -> None:
    """Tuples, str and int subclasses (values or keys) are written alike."""
    doc: dict[str, Any] = {
        "t": (1, "x"),
        "e": Outcome.NO_SLOT,
        "b": FalseInt(0),
        "k": {Outcome.QUEUE: 1},
    }
    assert canonical_json(doc) == rfc8785.dumps(doc)


class FalseInt(int):
    pass


def random_float(rng: random.Random) -> float:
    kind = rng.randrange(6)
    if kind == 0:  # any finite double, bit pattern at random
        while True:
            value = float(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
            if math.isfinite(value):
                return value
    if kind == 1:  # whole numbers around 2**53 .. 1e22
        return float(rng.randrange(-(10**22), 10**22)) / 10.0 ** rng.randrange(0, 8)
    if kind == 2:  # milliseconds, as the runner rounds durations
        return round(rng.uniform(0, 120), 3)
    if kind == 3:
        return rng.choice([0.0, -0.0, 1e21, 1e-7, 1e-6, 1e16, 2.0**53, 5e-324, 0.5, -1.0])
    return rng.uniform(-1, 1) * 10.0 ** rng.randrange(-30, 30)


def random_string(rng: random.Random, *, surrogates: bool) -> str:
    pool = NASTY + LONE_SURROGATES if surrogates else NASTY
    parts = []
    for _ in range(rng.randrange(0, 8)):
        if rng.random() < 0.5:
            parts.append(rng.choice(pool))
        else:
            parts.append(chr(rng.randrange(0x20, 0x7F)) * rng.randrange(1, 4))
    return "".join(parts)


def random_key(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return "".join(rng.choice("abcxyz_AZ09") for _ in range(rng.randrange(0, 4)))
    return random_string(rng, surrogates=rng.random() < 0.02)


def random_integer(rng: random.Random) -> int:
    if rng.random() < 0.05:
        return rng.choice([SAFE_INTEGER, -SAFE_INTEGER, SAFE_INTEGER + 1, -(2**63), 2**70])
    return rng.randrange(-(2**40), 2**40) >> rng.randrange(0, 40)


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return random_integer(rng)
    if kind == 3:
        return random_float(rng)
    if kind in (4, 5):
        return random_string(rng, surrogates=rng.random() < 0.01)
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return random_object(rng, depth + 1)


def random_object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {random_key(rng): random_value(rng, depth) for _ in range(rng.randrange(0, 6))}


def random_documents(seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for _ in range(count):
        yield random_object(rng)


def test_random_documents_agree_with_the_reference(reference_calls: list[Any]) -> None:
    refused = 0
    for doc in random_documents(SEED, DOCUMENTS):
        before = repr(doc)
        expected = reference(doc)
        assert ours(doc) == expected, doc
        assert repr(doc) == before  # the document is never rewritten in place
        refused += expected == "refused"
    # The comparison must exercise the fast path, not only the fallback, and both outcomes.
    assert len(reference_calls) < DOCUMENTS // 2
    assert 0 < refused < DOCUMENTS // 10


def test_random_floats_agree_with_the_reference() -> None:
    rng = random.Random(SEED)
    for _ in range(20_000):
        doc = {"f": random_float(rng)}
        assert canonical_json(doc) == rfc8785.dumps(doc), repr(doc["f"])


class CountingEncoder:
    """Stands in for chain's standard-library encoder (the fast path's second tier)."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = chain._ENCODER

    def encode(self, value: Any) -> str:
        self.calls += 1
        text: str = self.real.encode(value)
        return text


def test_large_whole_floats_take_the_second_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson refuses integers beyond 64 bits, which a float of 1e19 or more stands for."""
    encoder = CountingEncoder()
    monkeypatch.setattr(chain, "_ENCODER", encoder)
    doc = {"f": 1.5e20, "g": 0.25}
    assert canonical_json(doc) == rfc8785.dumps(doc) == b'{"f":150000000000000000000,"g":0.25}'
    assert encoder.calls == 1


def test_observations_take_the_fast_path(
    make_observation: MakeObs, reference_calls: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = CountingEncoder()
    monkeypatch.setattr(chain, "_ENCODER", encoder)
    rng = random.Random(SEED)
    for _ in range(500):
        obs = make_observation(
            "t",
            rng.randrange(10_000),
            duration_s=round(rng.uniform(0, 300), 3),
            message=random_string(rng, surrogates=False),
            slots=rng.choice([None, 0, rng.randrange(1000)]),
            tags=[random_string(rng, surrogates=False) for _ in range(rng.randrange(3))],
            steps=[Step(name="step", url="https://example.gouv.fr/é", status=200, ms=12)],
            env=Env(software="test", clock_offset_s=round(rng.uniform(-2, 2), 3)),
        )
        data = canonical(obs)
        assert data == REFERENCE(chain.document(obs))
    assert reference_calls == []
    assert encoder.calls == 0  # orjson wrote them all
