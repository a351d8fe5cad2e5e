"""`verify_store`: an untouched store verifies; any altered byte is found and named."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from docfix import forged_values, text_of

from watchdog.domain.models import Engine, Env, EvidenceRefs, Observation, Outcome, Screenshots
from watchdog.store import Store
from watchdog.store.schema import chain_heads, observations
from watchdog.store.verify import VerifyReport, verify_store

MakeObs = Callable[..., Observation]
TAMPERED_SEQ = 3


@pytest.fixture
def filled(store: Store, make_observation: MakeObs) -> Store:
    """Two chains (paris-a: 5 rows, paris-b: 3) with evidence; paris-a seq 3 has every
    optional column set so that each can be altered."""
    for n in range(5):
        shot = store.blobs.put(b"PNG screenshot %d" % n, "screenshot")
        html = store.blobs.put(b"<html>page %d</html>" % n, "html")
        fields: dict[str, Any] = {"evidence": EvidenceRefs(screenshot=shot, html=html)}
        if n + 1 == TAMPERED_SEQ:
            fields.update(
                outcome=Outcome.AVAILABLE,
                detail="slots_offered",
                slots=12,
                earliest_slot=datetime(2025, 4, 1, 14, 15),
                published_next=datetime(2025, 3, 10, 9, 0),
                tags=["alpha", "beta"],
                env=Env(
                    software="prefecture-watchdog 0.1.0",
                    engine=Engine.REQUEST,
                    screenshots=Screenshots.ON_CHANGE,
                    simulated=True,
                    captcha_solved_by="person",
                ),
            )
        store.append(make_observation("paris-a", n, **fields))
    store.append_many([make_observation("paris-b", n) for n in range(3)])
    return store


@pytest.fixture
def tamper(store: Store) -> Iterator[Callable[..., None]]:
    """Run SQL as an intruder would: a plain connection, foreign keys not enforced."""
    engine = sa.create_engine(store.engine.url)

    def run(stmt: sa.Executable, params: dict[str, Any] | None = None) -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(stmt, params or {})

    yield run
    engine.dispose()


def flip(value: Any) -> Any:
    """Change one byte: a boolean, one bit of an integer, or of the middle character of a text."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 0x40
    if isinstance(value, bytes):  # a compressed document (schema version 4)
        middle = len(value) // 2
        return value[:middle] + bytes([value[middle] ^ 1]) + value[middle + 1 :]
    if value == "":  # the `doc` of a compressed row: a text where none belongs
        return "{}"
    middle = len(value) // 2
    return value[:middle] + chr(ord(value[middle]) ^ 1) + value[middle + 1 :]


def _row(store: Store, target: str, seq: int) -> sa.Row[Any]:
    where = (observations.c.target == target) & (observations.c.seq == seq)
    with store.engine.connect() as conn:
        return conn.execute(sa.select(observations).where(where)).one()


def _break_for(report: VerifyReport, target: str) -> Any:
    found = [b for b in report.breaks if b.target == target]
    assert len(found) == 1, report.render()
    return found[0]


def test_an_untouched_store_verifies(filled: Store) -> None:
    rows: list[int] = []
    blobs: list[int] = []
    report = verify_store(filled, progress=rows.append, blob_progress=blobs.append, every=3)
    assert report.ok, report.render()
    assert (report.targets, report.observations) == (2, 8)
    assert (report.evidence_refs, report.blobs) == (10, 10)
    assert (rows, blobs) == ([3, 6, 8], [3, 6, 9, 10])
    assert report.render().splitlines()[1].startswith("OK")


def test_an_empty_store_verifies(store: Store) -> None:
    assert verify_store(store).ok


@pytest.mark.parametrize(
    "column",
    [
        "id",
        "target",
        "seq",
        "started_at",
        "finished_at",
        "outcome",
        "detail",
        "slots",
        "earliest_slot",
        "tags",
        "prev_hash",
        "hash",
        "doc",
        "simulated",
        "screenshots",
        "engine",
        "published_next",
        "zdoc",
        "zdict",
        "captcha_solved_by",
    ],
)
def test_flipping_one_byte_of_any_column_is_found(
    filled: Store, tamper: Callable[..., None], column: str
) -> None:
    assert set(observations.c.keys()) >= {column}
    row = _row(filled, "paris-a", TAMPERED_SEQ)
    tamper(
        sa.update(observations)
        .where(observations.c.id == row.id)
        .values({column: flip(row._mapping[column])})
    )
    report = verify_store(filled)
    assert not report.ok
    broken = _break_for(report, "paris-a")
    assert broken.seq == TAMPERED_SEQ, report.render()
    assert broken.observation_id in (row.id, flip(row.id), None)
    assert not [b for b in report.breaks if b.target == "paris-b"]
    assert f"first breaks at seq {TAMPERED_SEQ}" in report.render()


def test_every_column_is_covered_by_the_flip_test() -> None:
    tested = {
        "id",
        "target",
        "seq",
        "started_at",
        "finished_at",
        "outcome",
        "detail",
        "slots",
        "earliest_slot",
        "tags",
        "prev_hash",
        "hash",
        "doc",
        "simulated",
        "screenshots",
        "engine",
        "published_next",
        "zdoc",
        "zdict",
        "captcha_solved_by",
    }
    assert set(observations.c.keys()) == tested


def test_a_deleted_middle_row_is_named(filled: Store, tamper: Callable[..., None]) -> None:
    row = _row(filled, "paris-a", TAMPERED_SEQ)
    tamper(sa.delete(observations).where(observations.c.id == row.id))
    report = verify_store(filled)
    broken = _break_for(report, "paris-a")
    assert (broken.seq, broken.observation_id) == (TAMPERED_SEQ, None)
    assert "seq 3 missing" in broken.problem
    assert "seq 4" in broken.problem


def test_a_truncated_chain_is_found_by_its_head(filled: Store, tamper: Callable[..., None]) -> None:
    row = _row(filled, "paris-b", 3)
    tamper(sa.delete(observations).where(observations.c.id == row.id))
    broken = _break_for(verify_store(filled), "paris-b")
    assert broken.seq == 3
    assert "chain head" in broken.problem


@pytest.mark.parametrize("column", ["seq", "hash"])
def test_an_altered_chain_head_is_found(
    filled: Store, tamper: Callable[..., None], column: str
) -> None:
    with filled.engine.connect() as conn:
        head = conn.execute(sa.select(chain_heads).where(chain_heads.c.target == "paris-b")).one()
    where = chain_heads.c.target == "paris-b"
    tamper(sa.update(chain_heads).where(where).values({column: flip(head._mapping[column])}))
    report = verify_store(filled)
    assert "chain head" in _break_for(report, "paris-b").problem
    assert not [b for b in report.breaks if b.target == "paris-a"]


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_next_link(
    filled: Store, tamper: Callable[..., None]
) -> None:
    """Re-hashing a forged document is caught by the next row's prev_hash."""

    row = _row(filled, "paris-a", TAMPERED_SEQ)
    forged = text_of(filled, row).replace('"slots":12', '"slots":0')
    values = {**forged_values(filled, row, forged, rehash=True), "slots": 0}
    tamper(sa.update(observations).where(observations.c.id == row.id).values(values))
    broken = _break_for(verify_store(filled), "paris-a")
    assert broken.seq == TAMPERED_SEQ + 1
    assert "prev_hash" in broken.problem


def _evidence_of(store: Store, target: str, seq: int) -> EvidenceRefs:
    obs = next(o for n, o in enumerate(store.iter_observations(target), 1) if n == seq)
    return obs.evidence


def test_an_altered_blob_is_named_with_its_observation(filled: Store) -> None:
    sha = _evidence_of(filled, "paris-a", 2).screenshot
    assert sha is not None
    path = filled.blobs.path(sha)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    report = verify_store(filled)
    assert not report.ok and not report.breaks
    (problem,) = report.blob_problems
    assert problem.sha == sha
    assert "does not match" in problem.problem
    assert problem.referenced_by[0].startswith("paris-a seq 2 (")
    assert sha in report.render()


def test_a_deleted_blob_is_named(filled: Store) -> None:
    sha = _evidence_of(filled, "paris-a", 4).html
    assert sha is not None
    filled.blobs.path(sha).unlink()
    (problem,) = verify_store(filled).blob_problems
    assert (problem.sha, problem.problem) == (sha, "it is missing from the evidence store")
    assert problem.referenced_by[0].endswith(", html)")


def test_an_altered_unreferenced_blob_is_found(filled: Store) -> None:
    sha = filled.blobs.put(b"orphan capture", "trace")
    path = filled.blobs.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"orphan Capture")
    (problem,) = verify_store(filled).blob_problems
    assert (problem.sha, problem.referenced_by) == (sha, ())
