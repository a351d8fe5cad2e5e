"""Reading and forging stored documents as an intruder with SQL would (schema version 4 and on).

A stored document is either text in `doc` or DEFLATE in `zdoc` against the dictionary `zdict`
names (watchdog/store/documents.py). These helpers read its text and write an edited one back
in the same form, so a tampering test edits what a forger who knows the format would edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from watchdog.store import Store
from watchdog.store.chain import sha256_hex
from watchdog.store.documents import Documents, compress
from watchdog.store.schema import DOCUMENT_PARTS, observations, schema_version


def row_of(store: Store, target: str, seq: int) -> Any:
    where = (observations.c.target == target) & (observations.c.seq == seq)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(observations).where(where)).one()


def text_of(store: Store, row: Any) -> str:
    """The stored text of a raw `observations` row, read with fresh dictionaries."""
    return Documents(store.engine).text(row.doc, row.zdoc, row.zdict)


def forged_values(store: Store, row: Any, text: str, *, rehash: bool = False) -> dict[str, Any]:
    """The column values that store `text` in place of `row`'s document, in its form."""
    values: dict[str, Any] = {}
    if row.zdoc is None:
        values["doc"] = text
    else:
        zdict = Documents(store.engine).dictionary(row.zdict)
        values["zdoc"] = compress(text.encode("utf-8", "surrogatepass"), zdict)
    if rehash:
        values["hash"] = sha256_hex(text.encode("utf-8", "surrogatepass"))
    return values


def edit_document(
    store: Store,
    target: str,
    seq: int,
    change: Callable[[str], str],
    *,
    rehash: bool = False,
    run: Callable[[sa.Executable], Any] | None = None,
) -> str:
    """Rewrite one stored document through `change` (columns untouched; its `hash` too unless
    `rehash`); return the forged text. `run` executes the UPDATE (default: a transaction)."""
    row = row_of(store, target, seq)
    forged = change(text_of(store, row))
    stmt = (
        sa.update(observations)
        .where(observations.c.id == row.id)
        .values(forged_values(store, row, forged, rehash=rehash))
    )
    if run is not None:
        run(stmt)
    else:
        with store.engine.begin() as conn:
            conn.execute(stmt)
    return forged


def downgrade_to_v4(store: Store) -> None:
    """The v4 layout: no `captcha_solved_by` column, no `observation_counts`."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE observations DROP COLUMN captcha_solved_by")
        conn.exec_driver_sql("DROP TABLE observation_counts")
        conn.execute(sa.delete(schema_version))
        conn.execute(sa.insert(schema_version).values(version=4, applied_at="v4"))


def downgrade_to_v3(store: Store) -> None:
    """The v3 layout: documents as text only, no `doc_dicts` (the store must hold no
    compressed document: fill it with `store.documents.enabled = False`)."""
    downgrade_to_v4(store)
    with store.engine.begin() as conn:
        for name in DOCUMENT_PARTS:
            conn.exec_driver_sql(f"ALTER TABLE observations DROP COLUMN {name}")
        conn.exec_driver_sql("DROP TABLE doc_dicts")
        conn.execute(sa.delete(schema_version))
        conn.execute(sa.insert(schema_version).values(version=3, applied_at="v3"))
