"""Volatile tokens set aside, so an unchanged page is one stored blob (issue 7).

Sites put values in a page that change on every visit without the page saying anything new:
session ids in links (`;jsessionid=…`), CSRF tokens in hidden inputs and `<meta>` tags, CSP
nonces, OAuth `state`/`nonce` and cache-busting epochs in query strings, long hex or base64
ids. `split` cuts them out: the **skeleton** (the page without them, stored as the `html`
blob, equal from one visit to the next) and a small **record** of what was cut and where
(the `html_volatile` blob). `join` puts them back; `join(*split(page)) == page` for every
string, so the page as served stays provable: its SHA-256 is the observation's `html_sha256`.

Record format (JSON, UTF-8, keys sorted, no spaces; `format` names the version):

    {"cuts":[[1043,"9f2c…"],[2210,"Zk3…"]],"format":"prefecture-watchdog-volatile/1"}

Each cut is [byte offset in the UTF-8 skeleton, value]; offsets never decrease. To rebuild
the page, insert each value's UTF-8 bytes at its offset of the skeleton's bytes (offsets
refer to the skeleton as stored, not as it grows): positions, not markers, so no skeleton
text can be mistaken for a cut and nothing needs escaping.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from watchdog.domain.models import EvidenceRefs

FORMAT = "prefecture-watchdog-volatile/1"

_NAMES = r"token|csrf|xsrf|nonce|session|sessid|sid|viewstate|eventvalidation|timestamp"
_VALUE = r"([\"'])(?P<v>[^\"']+)"

# Each pattern's group `v` is the volatile value; everything else stays in the skeleton.
# Most start with a literal or a character class, which Python's regex engine scans for
# quickly; case-insensitive patterns are kept to the few that need it (tag names).
PATTERNS = (
    re.compile(r";(?i:jsessionid)=(?P<v>[^\"'<>?#&;/\s]+)"),
    re.compile(
        r"[?&;](?:state|nonce|code_challenge|sid|session_?id|[a-zA-Z]*SESS(?:ION)?ID|"
        r"[a-z]*sessid|token|_token|authenticity_token|csrf\w*|_csrf\w*|xsrf\w*)="
        r"(?P<v>[^\"'<>&#\s]+)"
    ),
    re.compile(r"[?&;](?:_|t|d|ts|timestamp|time|cb)=(?P<v>\d{10,13})(?!\d)"),
    re.compile(
        rf"<(?i:input\b[^>]*?\bname=([\"'])[^\"'>]*(?:{_NAMES})[^\"'>]*\1[^>]*?\bvalue=)" + _VALUE
    ),
    re.compile(
        rf"<(?i:input\b[^>]*?\bvalue=){_VALUE}\1(?i:[^>]*?\bname=([\"'])[^\"'>]*(?:{_NAMES}))"
    ),
    re.compile(
        r"<(?i:meta\b[^>]*?\bname=([\"'])[^\"'>]*(?:csrf|xsrf|token|nonce)[^\"'>]*\1[^>]*?"
        r"\bcontent=)" + _VALUE
    ),
    re.compile(
        rf"<(?i:meta\b[^>]*?\bcontent=){_VALUE}\1"
        r"(?i:[^>]*?\bname=([\"'])[^\"'>]*(?:csrf|xsrf|token|nonce))"
    ),
    re.compile(rf"nonce={_VALUE}"),
    # Runs of 24+ id characters, told apart by `_ids`: one scan for hex and base64 ids.
    re.compile(r"\b(?P<v>[\w-]{24,}+)", re.A),
)
_RUN = PATTERNS[-1]
_HEX = re.compile(r"(?<![\w])[0-9a-fA-F]{24,}(?![\w])", re.A)  # `-` separates, `_` joins
_SURROGATE = re.compile("[\ud800-\udfff]")
_BASE64 = (32, 256)  # shorter runs are words; longer, inline data rather than ids
_BASE64_SEGMENT = 16  # an id has long stretches without `-`/`_`; a slug-like name has not
_WORD_BREAK = re.compile(r"[-_]")


def _ids(match: re.Match[str]) -> list[tuple[int, int]]:
    """The spans of volatile values in a match: a long hex id, or a base64url id (a run
    mixing digits and both cases, not a slug of short words, not inside base64 data)."""
    start, end = match.span("v")
    if match.re is not _RUN:
        return [(start, end)] if end > start else []
    run, text = match.group("v"), match.string
    if (
        _BASE64[0] <= len(run) <= _BASE64[1]
        and (start == 0 or text[start - 1] not in "+/")
        and (end == len(text) or text[end] not in "+/=")
        and any(c.isdigit() for c in run)
        and any(c.islower() for c in run)
        and any(c.isupper() for c in run)
        and max(len(part) for part in _WORD_BREAK.split(run)) >= _BASE64_SEGMENT
    ):
        return [(start, end)]
    return [(start + found.start(), start + found.end()) for found in _HEX.finditer(run)]


@dataclass(frozen=True)
class VolatileRecord:
    """What `split` cut out: (byte offset in the UTF-8 skeleton, value), offsets ascending."""

    cuts: tuple[tuple[int, str], ...] = ()

    def to_json(self) -> bytes:
        """The stored form (see the module docstring); equal records give equal bytes."""
        document = {"cuts": [list(cut) for cut in self.cuts], "format": FORMAT}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> VolatileRecord:
        """Parse a stored record; ValueError when it is not one."""
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} record")
        cuts = document.get("cuts")
        if not isinstance(cuts, list) or not all(_is_cut(cut) for cut in cuts):
            raise ValueError("its cuts are not [offset, value] pairs")
        offsets = [cut[0] for cut in cuts]
        if offsets != sorted(offsets) or (offsets and offsets[0] < 0):
            raise ValueError("its offsets are not ascending")
        return cls(tuple((cut[0], cut[1]) for cut in cuts))


def _is_cut(cut: object) -> bool:
    return (
        isinstance(cut, list) and len(cut) == 2 and type(cut[0]) is int and isinstance(cut[1], str)
    )


def to_bytes(text: str) -> bytes:
    """The bytes a page is stored and hashed as (UTF-8; any string, lone surrogates too)."""
    return text.encode("utf-8", "surrogatepass")


def _spans(html: str) -> list[tuple[int, int]]:
    """Where the volatile values are, non-overlapping, in order (the earliest, then longest)."""
    found = sorted(
        (start, -end)
        for pattern in PATTERNS
        for match in pattern.finditer(html)
        for start, end in _ids(match)
        # a record is JSON, where two lone surrogates would read back as one character
        if not _SURROGATE.search(html, start, end)
    )
    spans: list[tuple[int, int]] = []
    for start, minus_end in found:
        if not spans or start >= spans[-1][1]:
            spans.append((start, -minus_end))
    return spans


@lru_cache(maxsize=16)  # the runner splits a page to store it and to fingerprint it
def split(html: str) -> tuple[str, VolatileRecord]:
    """The page without its volatile values, and the record that puts them back."""
    pieces: list[str] = []
    cuts: list[tuple[int, str]] = []
    offset, position = 0, 0
    for start, end in _spans(html):
        kept = html[position:start]
        pieces.append(kept)
        offset += len(to_bytes(kept))
        cuts.append((offset, html[start:end]))
        position = end
    pieces.append(html[position:])
    return "".join(pieces), VolatileRecord(tuple(cuts))


def join_bytes(skeleton: bytes, record: VolatileRecord) -> bytes:
    """The page as served, from the stored skeleton and record."""
    parts: list[bytes] = []
    position = 0
    for offset, value in record.cuts:
        if offset > len(skeleton):
            raise ValueError(f"a cut at byte {offset} is past the skeleton's end")
        parts += [skeleton[position:offset], to_bytes(value)]
        position = offset
    parts.append(skeleton[position:])
    return b"".join(parts)


def join(skeleton: str, record: VolatileRecord) -> str:
    """`split`'s inverse: join(*split(page)) == page."""
    return join_bytes(to_bytes(skeleton), record).decode("utf-8", "surrogatepass")


def page_fingerprint(html: str) -> str:
    """SHA-256 of the page's skeleton: equal when nothing but volatile tokens changed.

    It is also the name of the `html` blob `keep_page` stores for that page."""
    return hashlib.sha256(to_bytes(split(html)[0])).hexdigest()


def keep_page(evidence: EvidenceRefs, html: str, put: Callable[[bytes, str], str]) -> None:
    """Store the page as skeleton + record and note both, and the page's own SHA-256."""
    skeleton, record = split(html)
    evidence.html = put(to_bytes(skeleton), "html")
    evidence.html_volatile = put(record.to_json(), "html_volatile") if record.cuts else None
    evidence.html_sha256 = hashlib.sha256(to_bytes(html)).hexdigest()


def rebuild(
    evidence: EvidenceRefs | Mapping[str, object], get: Callable[[str], bytes]
) -> bytes | None:
    """The page as served, from an observation's DOM evidence (None when it has none).

    Observations from before this split have no `html_volatile`: their `html` is the page."""
    refs = evidence.model_dump() if isinstance(evidence, EvidenceRefs) else evidence
    html, volatile = refs.get("html"), refs.get("html_volatile")
    if not isinstance(html, str):
        return None
    skeleton = get(html)
    if not isinstance(volatile, str):
        return skeleton
    return join_bytes(skeleton, VolatileRecord.from_json(get(volatile)))
