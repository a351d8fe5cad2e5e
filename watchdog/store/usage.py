"""How much room the store takes and how much is left, for the SRE metrics.

The database's size comes from the database (SQLite: its file with `-wal` and `-shm`;
PostgreSQL: `pg_database_size`), the evidence's from a walk of the evidence directory (a
million blobs take a few seconds: `Sizer` measures every few minutes in a thread of its own,
for `watchdog run` and for each `watchdog worker` alike), free space from the file system that
holds `data_dir` (what an unprivileged user may still write), and, with the sizes, how many
observations retention pruned from each chain (issue 19).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from watchdog.store.schema import pruned_segments

log = logging.getLogger(__name__)

# The evidence walk takes seconds for a million blobs: this often, in a thread of its own.
SIZE_EVERY_S = 300.0


@dataclass(frozen=True)
class Disk:
    """The file system holding data_dir."""

    free_bytes: int
    size_bytes: int


@dataclass(frozen=True)
class StoreSize:
    database_bytes: int | None  # None when the database would not say
    evidence_bytes: int
    # target -> observations retention pruned from its chain (its signed summaries); None
    # when the database would not say
    pruned: dict[str, int] | None = field(default_factory=dict)


def disk(data_dir: Path) -> Disk | None:
    """Free and total bytes of `data_dir`'s file system (its nearest existing parent's)."""
    path = data_dir
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        log.warning("cannot measure the disk of %s: %s", data_dir, exc)
        return None
    return Disk(free_bytes=usage.free, size_bytes=usage.total)


def directory_bytes(root: Path) -> int:
    """Bytes of the regular files under `root` (0 when it does not exist yet)."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # missing, or removed while walking
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def database_bytes(engine: sa.Engine) -> int | None:
    """The database's own size; None if it cannot be read now (it is retried next time)."""
    try:
        if engine.dialect.name == "sqlite":
            name = engine.url.database
            if not name or name == ":memory:":
                return None
            files = (Path(name + suffix) for suffix in ("", "-wal", "-shm"))
            return sum(f.stat().st_size for f in files if f.exists())
        with engine.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
        return int(size) if size is not None else None
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        log.warning("cannot measure the database's size: %s", exc)
        return None


def pruned_observations(engine: sa.Engine) -> dict[str, int] | None:
    """target -> observations retention pruned from its chain, summed over its summaries
    (a small table: one row per `retention apply` that pruned the target); None if it
    cannot be read now."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(pruned_segments.name):
                return {}  # a store older than retention: nothing was pruned
            count = sa.func.sum(pruned_segments.c.last_seq - pruned_segments.c.first_seq + 1)
            rows = conn.execute(
                sa.select(pruned_segments.c.target, count).group_by(pruned_segments.c.target)
            ).all()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("cannot count the pruned observations: %s", exc)
        return None
    return {str(target): int(n) for target, n in rows}


def store_size(engine: sa.Engine, evidence_root: Path) -> StoreSize:
    return StoreSize(
        database_bytes(engine), directory_bytes(evidence_root), pruned_observations(engine)
    )


class Sizer:
    """The store's size, measured at start and every `every` seconds in a daemon thread;
    `last` is the latest measure (None until the first one ends)."""

    def __init__(self, engine: sa.Engine, evidence_root: Path, every: float = SIZE_EVERY_S):
        self.engine = engine
        self.evidence_root = evidence_root
        self.every = every
        self.last: StoreSize | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._measure, name="store-size", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No further measure; a walk under way is left to finish on its own."""
        self._stop.set()

    def _measure(self) -> None:
        while True:
            try:
                self.last = store_size(self.engine, self.evidence_root)
            except Exception:  # a metric, never a reason to stop
                if not self._stop.is_set():  # not the store closing under it
                    log.exception("cannot measure the store's size")
            if self._stop.wait(self.every):
                return
