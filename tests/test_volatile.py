"""Volatile tokens set aside (watchdog/evidence/volatile.py): the split is lossless for any input,
real pages lose their tokens to the record, and the skeleton is what two visits share."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from watchdog.evidence.volatile import (
    FORMAT,
    VolatileRecord,
    join,
    join_bytes,
    page_fingerprint,
    split,
    to_bytes,
)

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "golden"
GOLDEN = sorted(FIXTURES.rglob("*.html"))
# Pieces that make the patterns match, half-match and overlap, mixed with any text.
PIECES = (
    ";jsessionid=", "?token=", "&amp;csrf_token=", "&state=", "?_=", "1700000000000", "nonce=",
    '<input type="hidden" name="csrf_token" value="', '<input value="', '" name="_token">',
    '<meta name="csrf-token" content="', "'", '"', ">", "<", "-", "_", "+", "/", "=", " ",
    "0123456789abcdef" * 2, "9F86D081884C7D659A2FEAA0C55AD015", "kX3f9aB2" * 5, "é", "€",
    "\U0001f600", "\ud800", "\x00", "\r\n",
)  # fmt: skip


def _random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(0, 40)):
        if rng.random() < 0.7:
            parts.append(rng.choice(PIECES))
        else:
            parts.append("".join(chr(rng.randrange(0, 0x11000)) for _ in range(rng.randrange(8))))
    return "".join(parts)


def test_join_undoes_split_for_any_text() -> None:
    rng = random.Random(20260511)
    cut = 0
    for _ in range(3000):
        text = _random_text(rng)
        skeleton, record = split(text)
        assert join(skeleton, record) == text, text
        assert join_bytes(to_bytes(skeleton), record) == to_bytes(text)
        stored = VolatileRecord.from_json(record.to_json())
        assert stored == record
        cut += bool(record.cuts)
    assert cut > 1000  # the fuzz did exercise the cuts, not only texts without tokens


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_join_undoes_split_for_every_golden_page(path: Path) -> None:
    raw = path.read_bytes()
    page = raw.decode("utf-8")
    skeleton, record = split(page)
    assert join_bytes(to_bytes(skeleton), VolatileRecord.from_json(record.to_json())) == raw


def test_real_pages_lose_their_tokens_to_the_record() -> None:
    page = (FIXTURES / "rdv_prefecture" / "rdv-no-slot.html").read_text()
    skeleton, record = split(page)
    values = {value for _, value in record.cuts}
    assert values and all(value not in skeleton for value in values)
    eapp = (FIXTURES / "eappointment" / "eapp-no-slot.html").read_text()
    skeleton, record = split(eapp)
    assert ";jsessionid=" in eapp and ";jsessionid=" in skeleton
    assert [len(value) for _, value in record.cuts] == [32]  # the session id, nothing else


def test_each_kind_of_volatile_value_is_cut() -> None:
    cases = {
        '<a href="/motive.do;jsessionid=8F1C2B">': "8F1C2B",
        '<a href="/x?a=1&amp;token=abc.def">': "abc.def",
        '<a href="/auth?state=s7&nonce=n8">': "s7",
        '<script src="/app.js?_=1715412345678">': "1715412345678",
        '<input type="hidden" name="ezxform_token" value="Zx81">': "Zx81",
        '<input value="q-9" type="hidden" name="_csrf">': "q-9",
        '<meta name="csrf-token" content="Tk.1">': "Tk.1",
        '<meta content="Tk.2" name="csrf-token">': "Tk.2",
        '<script nonce="r4nd0m">': "r4nd0m",
        "<p>Réf. 1c12c4556a61d941f8332631a1555880</p>": "1c12c4556a61d941f8332631a1555880",
        '<div data-id="AbCdEfGh1234567890AbCdEfGh123456">': "AbCdEfGh1234567890AbCdEfGh123456",
    }
    for page, value in cases.items():
        skeleton, record = split(page)
        assert [v for _, v in record.cuts][:1] == [value], page
        assert value not in skeleton


def test_content_is_not_volatile() -> None:
    page = (
        "<h2>Vérification de disponibilité</h2><p>Il n'existe plus de plage horaire libre "
        'pour votre demande de rendez-vous.</p><input type="radio" name="slot" '
        'value="2026-05-12T09:30"><a href="/booking/create/9101/1">Etape suivante</a>'
        '<p class="Remise-d-un-titre-de-sejour-GUICHET-5-B">14806</p>'
    )
    assert split(page) == (page, VolatileRecord())


def test_offsets_are_bytes_of_the_utf8_skeleton() -> None:
    skeleton, record = split('<p>é€\U0001f600</p><a href="/a;jsessionid=SID">')
    offset = record.cuts[0][0]
    assert to_bytes(skeleton)[:offset].endswith(b";jsessionid=")
    assert json.loads(record.to_json()) == {"cuts": [[offset, "SID"]], "format": FORMAT}


@pytest.mark.parametrize(
    "stored",
    [
        b"[]",
        b'{"format": "other", "cuts": []}',
        b'{"format": "' + FORMAT.encode() + b'", "cuts": [[5, "a"], [2, "b"]]}',
        b'{"format": "' + FORMAT.encode() + b'", "cuts": [["5", "a"]]}',
        b'{"format": "' + FORMAT.encode() + b'", "cuts": [[-1, "a"]]}',
        b"not json",
    ],
)
def test_a_record_that_is_not_one_is_refused(stored: bytes) -> None:
    with pytest.raises(ValueError):
        VolatileRecord.from_json(stored)


def test_a_cut_past_the_skeleton_is_refused() -> None:
    with pytest.raises(ValueError):
        join_bytes(b"abc", VolatileRecord(((4, "x"),)))


def _simhost() -> object:
    """bench/simhost.py (bench/ is a script directory, not an installed package)."""
    spec = importlib.util.spec_from_file_location("simhost", ROOT / "bench" / "simhost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_pages_carry_tokens_that_the_split_sets_aside() -> None:
    """bench/simhost.py makes each visit's page differ as real sites' do; only the record
    differs between two visits."""
    page = (FIXTURES / "legacy_booking" / "legacy-no-slot.html").read_bytes()
    with_tokens = _simhost().with_tokens  # type: ignore[attr-defined]
    one, two = with_tokens(page), with_tokens(page)
    assert one != two and b'name="csrf_token"' in one and b";jsessionid=" in one
    (skeleton, record_one), (again, record_two) = split(one.decode()), split(two.decode())
    assert skeleton == again and record_one != record_two
    assert page_fingerprint(one.decode()) == page_fingerprint(two.decode())
    assert len(record_one.to_json()) < 300
