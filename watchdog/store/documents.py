"""Stored documents (schema version 4): canonical JSON compressed against a per-target dictionary.

Consecutive observations of one target differ in a few values (ids, times, hashes); the rest
(the `env` block, the steps' URLs, the messages) repeats. So a document is stored as raw
DEFLATE (`zlib`, no header) primed with a **dictionary**: earlier canonical documents of the
same target, kept once in `doc_dicts` (its SHA-256 beside it) and referenced by number. A row
then holds:

- `doc` = the canonical JSON text, `zdoc` and `zdict` NULL: a document stored as text (rows
  written before version 4, and documents that contain one of `SEARCHED`, which SQL finds
  with LIKE: a captcha record, a framed capture, an assisted session's read or record; an
  assisted read's mark, `env.captcha_solved_by`, has had its column since schema version 5);
- `doc` = '' and `zdoc` = the compressed bytes, `zdict` = the dictionary's `id` (NULL: none).

`text` (and `Store.scan`, which calls it for every row that selects `zdoc`) gives back the very
canonical text that was hashed: `observations.hash` is its SHA-256 as before, so the chain,
`watchdog verify` (which decompresses every row and checks every dictionary's SHA-256) and
every export read exactly what was sealed. A damaged `zdoc`, or a dictionary altered or
missing, yields no text or another text: verify names the row.

A writer keeps each target's current dictionary in memory. A document that compresses to more
than RENEW_SHARE of its size against it (the target's pages changed: another software
version, another outcome) makes a new dictionary: the old one with the new document appended,
its last DICT_MAX bytes; so documents alternating between two shapes both find their text.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from watchdog.domain.errors import StoreError
from watchdog.store.schema import doc_dicts

# Texts that SQL queries look for in `observations.doc` with LIKE (watchdog/stats/queries.py,
# watchdog/store/record.py): a document containing one is stored as text, so they still find it.
SEARCHED = (
    b'"captcha":{"',
    b'"framed":"',
    b'"assisted_session":"',
)
LEVEL = 6
WBITS = -13  # raw DEFLATE, 8 KiB window: a document and its dictionary fit in it
MEM_LEVEL = 8
DICT_MAX = 6144  # bytes of dictionary kept (the most recent documents' text)
RENEW_SHARE = 0.2  # compressed above this share of the text: the target gets a new dictionary


class DocumentError(StoreError):
    """A stored document cannot be read back (damaged bytes, dictionary missing)."""


def compress(data: bytes, zdict: bytes) -> bytes:
    packer = (
        zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict)
        if zdict
        else zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL)
    )
    return packer.compress(data) + packer.flush()


def decompress(data: bytes, zdict: bytes) -> bytes:
    unpacker = zlib.decompressobj(WBITS, zdict=zdict) if zdict else zlib.decompressobj(WBITS)
    try:
        out = unpacker.decompress(data) + unpacker.flush()
    except zlib.error as exc:
        raise DocumentError(f"not valid compressed data: {exc}") from exc
    if not unpacker.eof or unpacker.unused_data:
        raise DocumentError("not valid compressed data: truncated or trailing bytes")
    return out


@dataclass(frozen=True)
class Dictionary:
    id: int
    data: bytes


@dataclass(frozen=True)
class Packed:
    """A document as stored: (`doc`, `zdoc`, `zdict`), and a dictionary it created."""

    doc: str
    zdoc: bytes | None
    zdict: int | None


class Documents:
    """Packs documents for a writer and unpacks them for readers, caching dictionaries.

    Dictionaries are immutable once committed, so the cache never goes stale; a writer's new
    dictionary enters it only when its transaction commits (`commit`).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.enabled = True  # False: write documents as text, as schema version 3 did
        self._by_id: dict[int, bytes] = {}
        self._current: dict[str, Dictionary | None] = {}  # target -> its newest dictionary
        self._lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------

    def text(
        self, doc: str, zdoc: bytes | None, zdict: int | None, conn: sa.Connection | None = None
    ) -> str:
        """The stored canonical JSON text; DocumentError when it cannot be rebuilt."""
        if zdoc is None:
            return doc
        data = decompress(bytes(zdoc), self.dictionary(zdict, conn) if zdict is not None else b"")
        return data.decode("utf-8", "surrogatepass")

    def dictionary(self, ident: int, conn: sa.Connection | None = None) -> bytes:
        found = self._by_id.get(ident)
        if found is None:
            found = self._load(ident, conn)
        return found

    def _load(self, ident: int, conn: sa.Connection | None) -> bytes:
        stmt = sa.select(doc_dicts.c.id, doc_dicts.c.data)
        if conn is None:
            with self.engine.connect() as own:
                rows = own.execute(stmt).all()  # all of them: few, and read once
        else:
            rows = conn.execute(stmt.where(doc_dicts.c.id == ident)).all()
        with self._lock:
            for row in rows:
                self._by_id.setdefault(row.id, bytes(row.data))
        found = self._by_id.get(ident)
        if found is None:
            raise DocumentError(f"dictionary {ident} is missing from doc_dicts")
        return found

    # -- writing ------------------------------------------------------------------------

    def pack(
        self,
        conn: sa.Connection,
        target: str,
        canonical: bytes,
        created: list[tuple[str, Dictionary]],
    ) -> Packed:
        """The stored form of `canonical`. A dictionary looked up or inserted (through
        `conn`) is appended to `created`, for `commit` once the transaction is committed."""
        if not self.enabled or any(mark in canonical for mark in SEARCHED):
            return Packed(canonical.decode(), None, None)
        current = self._pending(created, target)
        if current is _UNKNOWN:
            current = self._newest(conn, target)
            if current is not None:
                created.append((target, current))  # cached on commit: no second look-up
        if current is not None:
            zdoc = compress(canonical, current.data)
            if len(zdoc) <= RENEW_SHARE * len(canonical):
                return Packed("", zdoc, current.id)
        data = ((current.data if current is not None else b"") + canonical)[-DICT_MAX:]
        fresh = self._insert(conn, target, data)
        created.append((target, fresh))
        return Packed("", compress(canonical, fresh.data), fresh.id)

    def commit(self, created: Iterable[tuple[str, Dictionary]]) -> None:
        """Make the dictionaries a committed transaction created current (in its order)."""
        with self._lock:
            for target, made in created:
                self._by_id[made.id] = made.data
                self._current[target] = made

    def _pending(self, created: list[tuple[str, Dictionary]], target: str) -> Any:
        for name, made in reversed(created):
            if name == target:
                return made
        return self._current.get(target, _UNKNOWN)

    def _newest(self, conn: sa.Connection, target: str) -> Dictionary | None:
        row = conn.execute(
            sa.select(doc_dicts.c.id, doc_dicts.c.data)
            .where(doc_dicts.c.target == target)
            .order_by(doc_dicts.c.id.desc())
            .limit(1)
        ).first()
        return Dictionary(row.id, bytes(row.data)) if row is not None else None

    def _insert(self, conn: sa.Connection, target: str, data: bytes) -> Dictionary:
        sha = hashlib.sha256(data).hexdigest()
        ident = conn.execute(
            sa.insert(doc_dicts)
            .values(target=target, sha256=sha, data=data)
            .returning(doc_dicts.c.id)
        ).scalar_one()
        return Dictionary(int(ident), data)


_UNKNOWN: Any = object()
