"""The observation store on SQLite and PostgreSQL: chains, reads, concurrency, failures."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from docfix import text_of
from polling import wait_until
from sqlalchemy import event

from watchdog.domain.errors import InvalidObservation, StoreError, StoreUnavailable
from watchdog.domain.models import Observation, Outcome
from watchdog.store import Store
from watchdog.store.chain import canonical, compute_hash
from watchdog.store.db import COPY_FROM
from watchdog.store.schema import SCHEMA_VERSION, observations, schema_version
from watchdog.store.verify import verify_store
from watchdog.store.writes import WriteKind, WriteRetry

MakeObs = Callable[..., Observation]


def _chain(store: Store, target: str) -> list[Observation]:
    return list(store.iter_observations(target=target))


def assert_linear(chain: list[Observation]) -> None:
    """Each observation names the previous one's hash, and every hash recomputes."""
    previous: str | None = None
    for obs in chain:
        assert obs.prev_hash == previous
        assert compute_hash(obs) == obs.hash
        previous = obs.hash


def test_append_links_each_target_separately(store: Store, make_observation: MakeObs) -> None:
    a1 = store.append(make_observation("paris-a", 0))
    b1 = store.append(make_observation("paris-b", 0))
    a2 = store.append(make_observation("paris-a", 1))
    assert a1.prev_hash is None and b1.prev_hash is None
    assert a2.prev_hash == a1.hash
    assert _chain(store, "paris-a") == [a1, a2]
    assert store.targets() == ["paris-a", "paris-b"]
    assert store.count() == 3 and store.count("paris-a") == 2


def test_stored_document_is_exactly_what_was_hashed(
    store: Store, make_observation: MakeObs
) -> None:
    sealed = store.append(make_observation(earliest_slot=datetime(2025, 4, 1, 14, 15), slots=2))
    assert store.get(sealed.id) == sealed
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(observations).where(observations.c.id == sealed.id)).one()
    assert text_of(store, row).encode() == canonical(sealed)
    assert row.seq == 1 and row.hash == sealed.hash
    assert row.started_at == "2025-03-03T08:00:00.123456Z"
    assert row.earliest_slot == "2025-04-01T14:15:00.000000"
    assert row.tags == '["test"]'


def test_reads(store: Store, make_observation: MakeObs) -> None:
    outcomes = [Outcome.NO_SLOT, Outcome.AVAILABLE, Outcome.SITE_ERROR, Outcome.NO_SLOT]
    stored = [store.append(make_observation("t1", n, outcome=o)) for n, o in enumerate(outcomes)]
    last_t2 = store.append_many([make_observation("t2", n) for n in range(2)])[-1]
    assert store.get("nope") is None
    assert store.last_for_target("t1") == stored[-1]
    assert store.last_for_target("unknown") is None
    assert store.last_per_target() == {"t1": stored[-1], "t2": last_t2}
    since, until = stored[1].started_at, stored[3].started_at
    assert list(store.iter_observations("t1", since=since, until=until)) == stored[1:3]
    assert list(store.iter_observations(outcomes=[Outcome.NO_SLOT], target="t1")) == [
        stored[0],
        stored[3],
    ]
    assert [o.target for o in store.iter_observations()] == ["t1"] * 4 + ["t2"] * 2


def test_naive_query_bounds_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.iter_observations(since=datetime(2025, 1, 1))


def test_append_many_keeps_order_within_each_target(
    store: Store, make_observation: MakeObs
) -> None:
    batch = [make_observation(t, n) for n in range(5) for t in ("x", "y")]
    sealed = store.append_many(batch)
    assert [o.id for o in sealed] == [o.id for o in batch]
    for target in ("x", "y"):
        chain = _chain(store, target)
        assert [o.id for o in chain] == [o.id for o in batch if o.target == target]
        assert_linear(chain)
    assert store.append_many([]) == []


def test_a_bulk_batch_is_stored_byte_for_byte_as_readers_get_it(
    store: Store, make_observation: MakeObs
) -> None:
    """A batch large enough for the bulk path (COPY on PostgreSQL): every row's document is
    the canonical text of what a reader gets, chains stay in batch order and verify."""
    batch = [
        make_observation(t, n, message=f"« {t} » n°{n}\u00a0: \x07\t🙂", duration_s=n / 7)
        for n in range(3 * COPY_FROM)
        for t in ("x", "y", "z")
    ]
    sealed = store.append_many(batch)
    assert len(sealed) == len(batch) and [o.id for o in sealed] == [o.id for o in batch]
    with store.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(sa.select(observations))}
    for obs in sealed:
        read = store.get(obs.id)
        assert read == obs
        assert text_of(store, rows[obs.id]).encode() == canonical(read)
    for target in ("x", "y", "z"):
        chain = _chain(store, target)
        assert [o.id for o in chain] == [o.id for o in batch if o.target == target]
        assert_linear(chain)
    assert sealed[1:3] == [sealed[1], sealed[2]] and sealed[-1] is sealed[-1]
    assert verify_store(store).ok


def test_a_bulk_batch_with_a_duplicate_id_is_written_not_at_all(
    store: Store, make_observation: MakeObs
) -> None:
    kept = store.append(make_observation(n=0))
    batch = [make_observation(n=n) for n in range(1, 2 * COPY_FROM)]
    batch[-1] = batch[-1].model_copy(update={"id": kept.id})
    with pytest.raises(StoreError, match=f"cannot append {len(batch)} observation"):
        store.append_many(batch)
    assert store.count() == 1
    assert store.append(make_observation(n=1)).prev_hash == kept.hash
    assert verify_store(store).ok


def test_a_bulk_batch_survives_a_lost_postgresql_connection(
    data_dir: Path, pg_url: str, pg_server: sa.Engine, make_observation: MakeObs
) -> None:
    """The server drops the writer's session just before its COPY: the error is a lost
    connection (retried on a new one), and the batch is stored once, in order."""
    killed: list[int] = []

    def drop_my_session(conn: sa.Connection) -> None:
        if not killed:
            killed.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            with pg_server.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed[0]})

    batch = [make_observation("x", n) for n in range(2 * COPY_FROM)]
    with Store.open(data_dir, pg_url, WriteRetry(first_delay_s=0.01)) as store:
        sealed = store.append_many(batch, drop_my_session)
        assert killed and store.health.snapshot().errors[WriteKind.OBSERVATION] == 1
        assert [o.id for o in _chain(store, "x")] == [o.id for o in batch]
        assert list(sealed) == _chain(store, "x")
        assert verify_store(store).ok


def test_reopening_continues_the_chain(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    with Store.open(data_dir, database_url) as first:
        one = first.append(make_observation(n=0))
    with Store.open(data_dir, database_url) as second:
        two = second.append(make_observation(n=1))
        assert two.prev_hash == one.hash
        assert verify_store(second).ok


def test_sqlite_is_the_default_with_wal(data_dir: Path) -> None:
    with Store.open(data_dir) as store:
        assert store.engine.dialect.name == "sqlite"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert (data_dir / "watchdog.sqlite3").is_file()


@pytest.mark.parametrize("stores", [1, 2], ids=["one-store", "two-stores"])
def test_concurrent_appends_make_one_linear_chain(
    data_dir: Path, database_url: str | None, make_observation: MakeObs, stores: int
) -> None:
    """Threads (and separate Store objects, like separate processes) never fork a chain."""
    opened = [Store.open(data_dir, database_url) for _ in range(stores)]
    threads, per_thread = 6, 15
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        barrier.wait()
        try:
            for n in range(per_thread):
                opened[k % stores].append(make_observation("busy", k * 100 + n))
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors
    chain = _chain(opened[0], "busy")
    assert len(chain) == threads * per_thread
    assert_linear(chain)
    assert len({o.prev_hash for o in chain}) == len(chain)  # no two children of one parent
    assert verify_store(opened[0]).ok
    for each in opened:
        each.close()


def _fail_on(store: Store, prefix: str) -> Callable[..., None]:
    """Make the next statement starting with `prefix` fail like a lost disk or server."""
    dbapi = store.engine.dialect.loaded_dbapi

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(prefix):
            raise dbapi.OperationalError("injected failure")

    event.listen(store.engine, "before_cursor_execute", hook)
    return hook


@pytest.mark.parametrize("prefix", ["INSERT INTO OBSERVATIONS", "UPDATE CHAIN_HEADS"])
def test_a_write_failing_mid_transaction_leaves_the_store_intact(
    store: Store, make_observation: MakeObs, prefix: str
) -> None:
    first = store.append(make_observation(n=0))
    hook = _fail_on(store, prefix)
    with pytest.raises(StoreError, match="injected failure"):
        store.append(make_observation(n=1))
    event.remove(store.engine, "before_cursor_execute", hook)
    assert store.count() == 1
    assert store.last_for_target("paris-a") == first
    assert verify_store(store).ok
    assert store.append(make_observation(n=2)).prev_hash == first.hash


def test_a_batch_with_a_duplicate_id_is_written_not_at_all(
    store: Store, make_observation: MakeObs
) -> None:
    kept = store.append(make_observation(n=0))
    batch = [make_observation(n=1), make_observation("other", 0), make_observation(n=2)]
    batch[2] = batch[2].model_copy(update={"id": kept.id})
    with pytest.raises(StoreError, match="cannot append 3 observation"):
        store.append_many(batch)
    assert store.count() == 1
    assert store.targets() == ["paris-a"]
    assert verify_store(store).ok


def test_an_unsealable_observation_writes_nothing(store: Store, make_observation: MakeObs) -> None:
    naive = make_observation(n=1, started_at=datetime(2025, 3, 3, 8, 0))
    with pytest.raises(InvalidObservation, match="started_at"):
        store.append_many([make_observation(n=0), naive])
    assert store.count() == 0
    assert store.targets() == []


def test_unreachable_postgresql_names_the_url_without_password(tmp_path: Path) -> None:
    url = "postgresql://watchdog:s3cret-pw@127.0.0.1:1/observations"
    with pytest.raises(StoreUnavailable) as raised:
        Store.open(tmp_path, url)
    message = str(raised.value)
    assert "postgresql+psycopg://watchdog:***@127.0.0.1:1/observations" in message
    assert "s3cret-pw" not in message


@pytest.mark.parametrize("url", ["not a url", "mysql://u:pw@host/db"])
def test_unusable_urls_are_store_errors(tmp_path: Path, url: str) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open(tmp_path, url)
    assert "pw" not in str(raised.value)


def test_a_newer_schema_is_refused(data_dir: Path, database_url: str | None) -> None:
    with Store.open(data_dir, database_url) as store, store.engine.begin() as conn:
        conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION + 1, applied_at="x"))
    with pytest.raises(StoreError, match="upgrade the watchdog"):
        Store.open(data_dir, database_url)


def test_an_unwritable_sqlite_file_is_a_store_error(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "watchdog.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"watchdog\.sqlite3"):
        Store.open(data_dir)


def test_iteration_streams_while_appending(store: Store, make_observation: MakeObs) -> None:
    store.append_many([make_observation(n=n) for n in range(1500)])
    seen = 0
    for obs in store.iter_observations():
        if seen == 10:
            store.append(make_observation("late", 0))
        seen += 1
        assert obs.target == "paris-a"
    assert seen == 1500
    assert store.count() == 1501  # the late row was written, outside the reader's snapshot


_APPEND_FOREVER = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.store import Store

store = Store.open(Path(sys.argv[1]), sys.argv[2] or None)
n = 0
while True:
    n += 1
    now = datetime.now(UTC)
    shot = store.blobs.put(uuid.uuid4().bytes * 5000, "screenshot")
    batch = [
        Observation(id=uuid.uuid4().hex, target=f"t{k % 3}", outcome=Outcome.NO_SLOT,
                    detail="no_slot", started_at=now, finished_at=now, duration_s=0.5,
                    env=Env(software="crash-test"), evidence={"screenshot": shot})
        for k in range(n % 4 + 1)
    ]
    store.append_many(batch)
"""


def test_killing_a_writer_mid_stream_leaves_a_verifying_store(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    """SIGKILL lands wherever it lands (blob write, transaction, commit): nothing breaks."""
    with Store.open(data_dir, database_url) as store:
        child = subprocess.Popen(
            [sys.executable, "-c", _APPEND_FOREVER, str(data_dir), database_url or ""]
        )
        try:
            wait_until(
                lambda: store.count() >= 200 or child.poll() is not None,
                60,
                "the writer to get going",
            )
        finally:
            child.kill()
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
    with Store.open(data_dir, database_url) as reopened:
        report = verify_store(reopened)
        assert report.ok, report.render()
        last = reopened.last_for_target("t0")
        assert reopened.append(make_observation("t0", 0)).prev_hash == (last and last.hash)
