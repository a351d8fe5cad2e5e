"""`parse_document`, which verify and retention use to read every stored document: a forged
document gets None (verify then names it as unreadable), never an exception."""

from __future__ import annotations

from watchdog.store.references import parse_document


def test_a_document_nested_too_deep_is_refused_not_raised() -> None:
    deep = '{"d": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert parse_document(deep) is None  # RecursionError inside json, caught


def test_what_is_not_an_object_is_none() -> None:
    for text in ("[1, 2]", '"text"', "3", "", "{", b"\xff", None, "nul"):
        assert parse_document(text) is None
    assert parse_document('{"a": "\\ud800", "n": 123456789012345678901234567890}') == {
        "a": "\ud800",
        "n": 123456789012345678901234567890,
    }
