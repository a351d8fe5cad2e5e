"""The store's size and the free disk, as the SRE metrics read them: the database's own
figure (SQLite's files, PostgreSQL's pg_database_size) and the evidence directory's bytes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from watchdog.store import Store
from watchdog.store.usage import database_bytes, directory_bytes, disk, store_size


def test_the_store_size_counts_the_database_and_every_blob(store: Store) -> None:
    before = store_size(store.engine, store.blobs.root)
    assert before.database_bytes is not None and before.database_bytes > 0  # the schema
    assert before.evidence_bytes == 0
    blobs = [b"a" * 1000, b"b" * 2500, b"a" * 1000]  # the third is the first again
    for blob in blobs:
        store.blobs.put(blob, "screenshot")
    after = store_size(store.engine, store.blobs.root)
    assert after.evidence_bytes == 3500  # de-duplicated, as on disk
    if store.engine.dialect.name == "sqlite":
        name = store.engine.url.database
        assert name is not None
        files = [Path(name + s) for s in ("", "-wal", "-shm")]
        assert after.database_bytes == sum(f.stat().st_size for f in files if f.exists())


def test_directory_bytes_of_a_missing_directory_is_zero(tmp_path: Path) -> None:
    assert directory_bytes(tmp_path / "nothing") == 0
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x" * 10)
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a" / "b" / "f")  # not counted twice
    assert directory_bytes(tmp_path) == 10


def test_an_in_memory_or_unreachable_database_says_nothing() -> None:
    assert database_bytes(sa.create_engine("sqlite://")) is None
    gone = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none",
                            connect_args={"connect_timeout": 2})  # fmt: skip
    assert database_bytes(gone) is None


def test_disk_is_the_file_system_of_data_dir_even_before_it_exists(tmp_path: Path) -> None:
    measured = disk(tmp_path / "data" / "not-yet")
    total = shutil.disk_usage(tmp_path).total
    assert measured is not None and measured.size_bytes == total
    assert 0 < measured.free_bytes <= measured.size_bytes
