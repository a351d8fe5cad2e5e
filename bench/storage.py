"""Bytes on disk per unchanged observation, documents as text vs compressed (issue 20, item 1).

    python -m bench.storage                          # 40 targets x 250 observations, both backends
    python -m bench.storage --targets 20 --per-target 100 --repeats 1

Each target's observations are the unchanged page of a real probe: the document of a request
probe of the bench simulator (bench/fixtures/storage_observation.json, `no_slot`, screenshots
on change) with what changes from one visit to the next drawn afresh — its id (a ULID), its
times and durations, the steps' milliseconds, the page's `html_sha256`, and its volatile-token
record (`evidence.html_volatile`: CSRF tokens and a session id of the sizes the simulator's
proxy serves), written to the evidence store as the runner does. The skeleton (`evidence.html`)
is one blob per target, stored once. Each target has its own URLs and name.

The same observations are stored twice in one run: `text` (documents stored as text, as schema
version 3 did: `Store.documents.enabled = False`) and `compressed` (schema version 4). After a
warm-up (the first WARMUP observations of each target: the first document, the dictionary),
the rest are appended in batches; bytes per observation = growth of (database files after a
WAL checkpoint, or PostgreSQL's total relation sizes) + growth of the evidence directory, both
as apparent bytes (what the files hold) and as allocated bytes (the file system's blocks: a
253-byte record file takes a 4 KiB block), divided by the observations appended. Ingest rates
are observations per CPU second of this process (SQLite's work is in-process; PostgreSQL's
server CPU is not counted). The year is 2,000 journeys every 5 minutes: 210,240,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import string
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ulid import ULID

from bench.ingest import PG_URL, pg_database
from bench.micro import median_of
from watchdog.domain.models import Observation
from watchdog.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "storage_observation.json"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
YEAR = 2000 * 12 * 24 * 365  # journeys every 5 minutes, a year
WARMUP = 5
BATCH = 500
TOKEN = string.ascii_letters + string.digits + "-_"


def _record() -> bytes:
    """A volatile-token record as the simulator's pages yield: a CSRF token three times, a
    session id once (watchdog/evidence/volatile.py's format)."""
    csrf = "".join(random.choices(TOKEN, k=43))
    session = secrets.token_hex(16).upper()
    cuts = [[1546, csrf], [2001, csrf], [3622, csrf], [6038, session]]
    return json.dumps(
        {"cuts": cuts, "format": "prefecture-watchdog-volatile/1"}, separators=(",", ":")
    ).encode()


def observations(store: Store, targets: int, rounds_: range) -> list[list[Observation]]:
    """Per round, one unchanged observation of every target (rounds in time order); their
    volatile records are written to the evidence store."""
    template = json.loads(FIXTURE.read_text(encoding="utf-8"))
    rounds: list[list[Observation]] = []
    for n in rounds_:
        batch = []
        for t in range(targets):
            doc = json.loads(json.dumps(template))
            host = f"https://rdv.prefecture-{t:03d}.interieur.gouv.fr"
            started = T0 + timedelta(minutes=5 * n, microseconds=random.randrange(10**7))
            took = random.randrange(20, 900)
            doc.update(
                id=str(ULID()),
                target=f"pref-{t:03d}-titres-sejour",
                started_at=started.isoformat().replace("+00:00", "Z"),
                finished_at=(started + timedelta(milliseconds=took))
                .isoformat()
                .replace("+00:00", "Z"),
                duration_s=took / 1000,
                final_url=f"{host}/booking/create/9101/2",
                prev_hash=None,
            )
            for step in doc["steps"]:
                step["ms"] = random.randrange(3, 400)
                step["url"] = host + step["url"].split(":43705", 1)[-1]
            evidence = doc["evidence"]
            evidence["html"] = store.blobs.put(f"<html>skeleton {t}</html>".encode(), "html")
            evidence["html_sha256"] = secrets.token_hex(32)
            evidence["html_volatile"] = store.blobs.put(_record(), "html_volatile")
            batch.append(Observation.model_validate(doc))
        rounds.append(batch)
    return rounds


def _allocated(path: Path) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of every file and directory under `path`."""
    apparent = allocated = 0
    for entry in [path, *path.rglob("*")] if path.exists() else []:
        stat = entry.stat()
        apparent += stat.st_size if entry.is_file() else 0
        allocated += stat.st_blocks * 512
    return apparent, allocated


def _database_bytes(store: Store) -> tuple[int, int]:
    """(apparent, allocated) bytes of the database: SQLite's files after a checkpoint, or
    PostgreSQL's relations (tables, indexes, TOAST; pages are allocated as they are)."""
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            size = sum(
                conn.execute(sa.text(f"SELECT pg_total_relation_size('{name}')")).scalar() or 0
                for name in ("observations", "chain_heads", "doc_dicts")
            )
        return size, size
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    folder = Path(store.engine.url.database or "").parent
    files = [p for p in folder.iterdir() if p.name.startswith("watchdog.sqlite3")]
    return (
        sum(p.stat().st_size for p in files),
        sum(p.stat().st_blocks * 512 for p in files),
    )


def measure(mode: str, targets: int, per_target: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wd-storage-") as tmp:
        store = Store.open(Path(tmp), database_url)
        try:
            store.documents.enabled = mode == "compressed"
            for batch in observations(store, targets, range(WARMUP)):
                store.append_many(batch)
            db0, ev0 = _database_bytes(store), _allocated(Path(tmp) / "evidence")
            rounds = observations(store, targets, range(WARMUP, per_target))
            rest = [obs for batch in rounds for obs in batch]
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(rest), BATCH):
                store.append_many(rest[i : i + BATCH])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            db1, ev1 = _database_bytes(store), _allocated(Path(tmp) / "evidence")
            with store.engine.connect() as conn:
                stored = conn.exec_driver_sql(
                    "SELECT count(*), sum(length(doc)), sum(coalesce(length(zdoc), 0)) "
                    "FROM observations"
                ).one()
        finally:
            store.close()
    n = len(rest)
    db = [(b - a) / n for a, b in zip(db0, db1, strict=True)]
    ev = [(b - a) / n for a, b in zip(ev0, ev1, strict=True)]
    return {
        "observations": n,
        "document_bytes_mean": round((stored[1] + stored[2]) / stored[0]),
        "database_bytes_per_obs": round(db[0]),
        "evidence_bytes_per_obs": round(ev[0]),
        "evidence_allocated_per_obs": round(ev[1]),
        "bytes_per_obs": round(db[0] + ev[0]),
        "allocated_per_obs": round(db[1] + ev[1]),
        "year_gb": round((db[0] + ev[0]) * YEAR / 1e9, 1),
        "year_allocated_gb": round((db[1] + ev[1]) * YEAR / 1e9, 1),
        "ingest_per_cpu_s": round(n / cpu),
        "ingest_per_s": round(n / wall),
    }


def run(targets: int, per_target: int, repeats: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for backend in ("sqlite", "postgresql"):
        for mode in ("text", "compressed"):
            runs = []
            for _ in range(repeats):
                if backend == "sqlite":
                    runs.append(measure(mode, targets, per_target, None))
                    continue
                with pg_database() as url:  # a fresh schema per run
                    if url is None:
                        result["postgresql"] = {"not measured": f"no server at {PG_URL}"}
                        return result
                    runs.append(measure(mode, targets, per_target, url))
            result[f"{backend} {mode}"] = median_of(runs)
        text, packed = result[f"{backend} text"], result[f"{backend} compressed"]
        result[f"{backend} ratio"] = {
            key: round(packed[key] / text[key], 3)
            for key in ("bytes_per_obs", "allocated_per_obs", "ingest_per_cpu_s")
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--targets", type=int, default=40)
    parser.add_argument("--per-target", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result = run(args.targets, args.per_target, args.repeats)
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    report = {"at": stamp, "load_before": load, "load_after": after, **result}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
