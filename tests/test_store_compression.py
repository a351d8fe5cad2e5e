"""Compressed documents (schema version 4, watchdog/store/documents.py): every document reads
back byte for byte, verify finds a damaged document or dictionary, a v3 store upgrades."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from docfix import downgrade_to_v3, text_of

from watchdog.domain.errors import StoreError
from watchdog.domain.models import Env, EvidenceRefs, Observation
from watchdog.stats import compute, queries
from watchdog.stats.calendar import Period
from watchdog.store import Store
from watchdog.store.chain import canonical, sha256_hex
from watchdog.store.db import COPY_FROM
from watchdog.store.schema import SCHEMA_VERSION, doc_dicts, observations, schema_version
from watchdog.store.verify import verify_store

MakeObs = Callable[..., Observation]
ODD_MESSAGES = [
    "",
    "Il n'existe plus de plage horaire libre. Veuillez recommencer ultérieurement.",
    "« guillemets » n°1\u00a0: été, Noël, œuvre, ß, Ärger",
    'quotes " and backslashes \\ and \\" and /slashes/',
    "controls \x00\x01\x07\b\t\n\f\r\x1f and \x7f",
    "line separators \u2028 \u2029 and a BOM \ufeff",
    "astral 🙂🇫🇷 𝄞 and CJK 予約",
    "x" * 20_000,  # longer than the window: compressed with no help from the dictionary
    '{"captcha":{"looks":"like a mark"}} but escaped in a message',
]


def _rows(store: Store) -> dict[str, sa.Row[object]]:
    with store.engine.connect() as conn:
        return {row.id: row for row in conn.execute(sa.select(observations))}


def _assert_exact(store: Store, sealed: list[Observation]) -> None:
    rows = _rows(store)
    for obs in sealed:
        row = rows[obs.id]
        text = text_of(store, row).encode("utf-8")
        assert text == canonical(obs)
        assert sha256_hex(text) == row.hash == obs.hash
        assert store.get(obs.id) == obs


def test_every_document_reads_back_byte_for_byte(store: Store, make_observation: MakeObs) -> None:
    batch = [
        make_observation(t, n, message=ODD_MESSAGES[n % len(ODD_MESSAGES)], duration_s=n / 7)
        for n in range(2 * COPY_FROM)  # the bulk path: COPY on PostgreSQL
        for t in ("a", "b")
    ]
    sealed = list(store.append_many(batch))
    sealed += [
        store.append(make_observation("a", 100 + n, message=m)) for n, m in enumerate(ODD_MESSAGES)
    ]
    _assert_exact(store, sealed)
    rows = _rows(store).values()
    compressed = [row for row in rows if row.zdoc is not None]
    assert len(compressed) == len(sealed)  # none of them holds a searched mark
    assert all(row.doc == "" and row.zdict is not None for row in compressed)
    plain = [o for o in sealed if o.message == ODD_MESSAGES[1]]
    sizes = [len(_rows(store)[o.id].zdoc) for o in plain[2:]]
    assert max(sizes) < len(canonical(plain[0])) / 3  # the dictionary does its work
    assert [o.id for o in store.iter_observations("a")] == [o.id for o in sealed if o.target == "a"]
    report = verify_store(store)
    assert report.ok, report.render()


def test_documents_that_sql_searches_stay_text(store: Store, make_observation: MakeObs) -> None:
    """`"framed":"` is found with LIKE: such a document is stored as text, so the digest's
    query still finds it. An assisted read is found by its column copy of
    `env.captcha_solved_by` (schema version 5): its document may be compressed."""
    shot = store.blobs.put(b"framed PNG", "framed")
    assisted = make_observation("a", 1, env=Env(software="w", captcha_solved_by="person"))
    framed = make_observation("a", 2, evidence=EvidenceRefs(framed=shot))
    sealed = store.append_many([make_observation("a", 0), assisted, framed])
    rows = _rows(store)
    assert rows[sealed[0].id].zdoc is not None
    assert rows[sealed[1].id].zdoc is not None and rows[sealed[1].id].doc == ""
    assert rows[sealed[2].id].zdoc is None
    assert rows[sealed[2].id].doc.encode() == canonical(sealed[2])
    period = Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert [tuple(r) for r in store.scan(queries.assisted(["a"], period))] == [("a", 1)]
    assert compute(store, ["a"], period)["a"].assisted == 1
    found = list(store.scan(queries.examples("a", period, sealed[2].outcome)))
    assert [r.hash for r in found] == [sealed[2].hash]
    report = verify_store(store)
    assert report.ok, report.render()


def test_a_new_shape_of_page_gets_a_new_dictionary(store: Store, make_observation: MakeObs) -> None:
    usual = [make_observation("a", n) for n in range(3)]
    words = [hashlib.sha256(b"%d" % n).hexdigest()[:12] for n in range(60)]  # no repeats
    other = make_observation("a", 3, message=" ".join(words), detail="maintenance")
    sealed = list(store.append_many([*usual, other, make_observation("a", 4)]))
    sealed.append(store.append(make_observation("a", 5)))
    with store.engine.connect() as conn:
        made = conn.execute(sa.select(doc_dicts).order_by(doc_dicts.c.id)).all()
    assert [row.target for row in made] == ["a", "a"]
    assert made[1].data.endswith(canonical(sealed[3])) and made[0].data in made[1].data
    assert all(hashlib.sha256(row.data).hexdigest() == row.sha256 for row in made)
    _assert_exact(store, sealed)
    assert verify_store(store).ok


def test_a_rolled_back_dictionary_is_never_referenced(
    store: Store, make_observation: MakeObs
) -> None:
    first = store.append(make_observation("u", 0))
    duplicate = make_observation("t", 0).model_copy(update={"id": first.id})
    with pytest.raises(StoreError):
        store.append(duplicate)  # its dictionary was inserted, then rolled back
    sealed = [store.append(make_observation("t", n)) for n in range(1, 3)]
    _assert_exact(store, [first, *sealed])
    report = verify_store(store)
    assert report.ok, report.render()


@pytest.fixture
def compressed(store: Store, make_observation: MakeObs) -> Store:
    store.append_many([make_observation(t, n) for t in ("a", "b") for n in range(4)])
    return store


def _dictionary_of(store: Store, target: str) -> sa.Row[object]:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(doc_dicts).where(doc_dicts.c.target == target)).one()


def _tamper(store: Store, stmt: sa.Executable) -> None:
    with store.engine.begin() as conn:
        conn.execute(stmt)


def test_an_altered_dictionary_is_found(compressed: Store) -> None:
    made = _dictionary_of(compressed, "a")
    data = made.data.replace(b"Il n'existe plus", b"Il existe encore")
    _tamper(compressed, sa.update(doc_dicts).where(doc_dicts.c.id == made.id).values(data=data))
    report = verify_store(compressed)
    assert not report.ok
    assert [p.split(" (")[0] for p in report.dictionary_problems] == [f"dictionary {made.id}"]
    assert "Compression dictionary FAILED" in report.render()
    assert [b.target for b in report.breaks] == ["a"]  # its documents now read otherwise


def test_a_dictionary_forged_with_its_sha256_breaks_its_documents(compressed: Store) -> None:
    made = _dictionary_of(compressed, "b")
    data = made.data.replace(b"no_slot", b"no_slo_")
    sha = hashlib.sha256(data).hexdigest()
    _tamper(compressed, sa.update(doc_dicts).where(doc_dicts.c.id == made.id)
            .values(data=data, sha256=sha))  # fmt: skip
    report = verify_store(compressed)
    assert not report.ok and report.dictionary_problems == []
    (broken,) = report.breaks
    assert broken.target == "b" and broken.seq == 1
    assert "is not the SHA-256 of its stored document" in broken.problem


def test_a_missing_dictionary_is_named(
    compressed: Store, data_dir: Path, database_url: str | None
) -> None:
    made = _dictionary_of(compressed, "a")
    _tamper(compressed, sa.delete(doc_dicts).where(doc_dicts.c.id == made.id))
    report = verify_store(compressed)
    (broken,) = report.breaks
    assert broken.target == "a" and broken.seq == 1
    assert f"dictionary {made.id} is missing" in broken.problem
    with Store.open(data_dir, database_url) as reader, pytest.raises(StoreError) as raised:
        list(reader.iter_observations("a"))  # a reader with no dictionary in memory
    assert "cannot be read" in str(raised.value) and "watchdog verify" in str(raised.value)


def test_a_v3_store_upgrades_and_its_chains_go_on(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    with Store.open(data_dir, database_url) as store:
        store.documents.enabled = False  # version 3 stored every document as text
        old = list(
            store.append_many([make_observation(t, n) for t in ("a", "b") for n in range(3)])
        )
        downgrade_to_v3(store)
    with Store.open(data_dir, database_url) as store:
        with store.engine.connect() as conn:
            versions = conn.execute(sa.select(schema_version.c.version)).scalars().all()
        assert SCHEMA_VERSION == 5 and sorted(versions) == [3, 4, 5]
        new = [store.append(make_observation(t, n)) for n in range(3, 5) for t in ("a", "b")]
        rows = _rows(store)
        assert all(rows[o.id].zdoc is None and rows[o.id].doc for o in old)
        assert all(rows[o.id].zdoc is not None and rows[o.id].doc == "" for o in new)
        assert new[0].prev_hash == old[2].hash  # the chain goes on across the upgrade
        _assert_exact(store, old + new)
        report = verify_store(store)
        assert report.ok, report.render()
        assert report.observations == 10
        assert [o.id for o in store.iter_observations("a")] == [
            o.id for o in old + new if o.target == "a"
        ]


def test_bulk_and_single_appends_share_the_target_dictionary(
    store: Store, make_observation: MakeObs
) -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)
    batch = [make_observation("a", n, started_at=start + timedelta(minutes=n),
                              finished_at=start + timedelta(minutes=n, seconds=2))
             for n in range(3 * COPY_FROM)]  # fmt: skip
    store.append_many(batch)
    store.append(make_observation("a", 99))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(doc_dicts)).scalar() == 1
        zdicts = conn.execute(sa.select(observations.c.zdict).distinct()).scalars().all()
    assert len(zdicts) == 1
