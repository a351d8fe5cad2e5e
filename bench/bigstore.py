"""A large synthetic SQLite store, generated fast and kept between runs (issue 20, item 5).

    python -m bench.bigstore                                 # 10 M, 200 targets, a year
    python -m bench.bigstore --observations 200000 --targets 20 --days 90 --data /tmp/x
    python -m bench.bigstore --upgrade --data DIR            # a layout 3 store to this one

The store goes into --data (default /work/bench-10m/store-<layout>-<count>-<targets>-<days>,
outside the repository) and is reused by the next run when its `complete.json` names the
same parameters; an interrupted generation resumes at the first target whose chain is not
whole (that target's rows are written again).

Every document is sealed the store's way: its dict is the one `watchdog.store.chain.document`
makes of a real `Observation` (a template per target and evidence policy, built from the
model, with the per-row fields set), its bytes are `canonical_json` (RFC 8785) of it, its
hash their SHA-256, `prev_hash` the hash of the one before, and its column copies come from
`column_values`, the store's own rule, and the report's counts (schema version 5) are made
by the very SQL the upgrade runs (`rollup.fill`), target by target. The first observations of
every target are parsed back through the model and re-sealed, and must give the very same
bytes: so `watchdog verify` checks a real chain. What is skipped is the per-row pydantic
round trip of `Store.append_many` (≈ 11,000 observations per CPU-second, a quarter of an
hour of CPU at 10 M): documents are built by worker processes (one whole target each, as
chains are per target), and written by this one with the standard library's sqlite3, in
(target, seq) order, so every index grows at its end.

Each target is probed every year/50,000 ≈ 10.5 min; outcomes are drawn as in report_bench
(a saturated prefecture), engines and evidence policy too (one target in five by request;
screenshots on change for 60 days, then at every observation), with three steps per probe
and no evidence blobs (a blob is hashed once however many observations name it, so blobs do
not grow with the observation count the way rows do).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import random
import resource
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from watchdog.domain.models import Env, Observation, Step
from watchdog.store import Store, rollup
from watchdog.store.chain import (
    canonical_json,
    document,
    format_datetime,
    seal_document,
    sha256_hex,
)
from watchdog.store.connect import SQLITE_FILE
from watchdog.store.documents import DICT_MAX, RENEW_SHARE, SEARCHED, compress
from watchdog.store.schema import column_values, observation_counts, observations

LAYOUT = 4  # part of the default directory: a store of an older layout is not reused
CACHE = Path("/work/bench-10m")
START = datetime(2025, 11, 1, tzinfo=UTC)  # the year ends in the past: a report may cover it
POLICY_CHANGE = timedelta(days=60)
CHECKED = 3  # the first observations of each target re-sealed through the model
OUTCOMES = (
    ("no_slot", 0.70), ("available", 0.12), ("site_error", 0.08), ("captcha", 0.04),
    ("timeout", 0.02), ("maintenance", 0.01), ("closed", 0.01), ("probe_error", 0.01),
    ("unrecognized", 0.01),
)  # fmt: skip
NO_SLOT = "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous."
COLUMNS = tuple(column.name for column in observations.columns)
INSERT = f"INSERT INTO observations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
BOOLEAN = frozenset(c.name for c in observations.columns if c.type.python_type is bool)
# The report's counts of one target's rows (schema version 5), by the upgrade's own SQL.
COUNT = str(
    rollup.fill(observations.c.target == sa.bindparam("target")).compile(
        dialect=sqlite_dialect.dialect()
    )
)
UNCOUNT = f"DELETE FROM {observation_counts.name} WHERE target = ?"


def default_dir(count: int, targets: int, days: int) -> Path:
    return CACHE / f"store-{LAYOUT}-{count}-{targets}-{days}"


def target_ids(count: int) -> list[str]:
    return [f"big-{i:03d}" for i in range(count)]


def _template(target: str, engine: str, policy: str) -> dict[str, Any]:
    """The document of a real Observation of `target`, by the store's own rule."""
    at = START
    obs = Observation(
        id=f"{target}-template", target=target, outcome="no_slot", detail="no_slot",
        message=NO_SLOT, started_at=at, finished_at=at + timedelta(seconds=4), duration_s=4.2,
        steps=[Step(name=name, url=f"https://www.{target}.gouv.fr/booking/create/7/{n}",
                    status=200, ms=300 + 40 * n)
               for n, name in enumerate(("cookies", "conditions", "planning"))],
        final_url=f"https://www.{target}.gouv.fr/booking/create/7/2", http_status=200,
        env=Env(software="prefecture-watchdog 0.1.0", engine=engine, screenshots=policy,
                browser="chromium" if engine == "browser" else None, simulated=True,
                user_agent="prefecture-watchdog/0.1 (+https://example.org/watchdog)",
                locale="fr-FR", timezone="Europe/Paris"),
    )  # fmt: skip
    return document(obs)


Rows = tuple[str, list[tuple[Any, ...]], list[bytes], str | None]


def _rows(job: tuple[int, str, int, float]) -> Rows:
    """Every row of one target's chain, in seq order, documents stored as the store packs
    them (schema version 4), and the target's dictionaries; a row's `zdict` is the index of
    its dictionary in that list until the writer knows the dictionary's id (runs in a worker
    process)."""
    index, target, count, step_s = job
    rng = random.Random(index)
    engine = "request" if index % 5 == 0 else "browser"
    templates = {p: _template(target, engine, p) for p in ("on_change", "every")}
    names, weights = [o for o, _ in OUTCOMES], [w for _, w in OUTCOMES]
    prev: str | None = None
    rows: list[tuple[Any, ...]] = []
    dicts: list[bytes] = []
    for n in range(count):
        at = START + timedelta(seconds=step_s * n + rng.uniform(0, 30))
        outcome = rng.choices(names, weights)[0]
        doc = dict(templates["on_change" if at < START + POLICY_CHANGE else "every"])
        slots = earliest = None
        if outcome == "available":
            slots = rng.randint(1, 6)
            local = at + timedelta(hours=1, days=rng.randint(3, 100))
            earliest = format_datetime(
                local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
            )
        doc.update(
            id=f"{target}-{n:08d}", outcome=outcome, detail=outcome,
            message=NO_SLOT if outcome == "no_slot" else None, slots=slots,
            earliest_slot=earliest, started_at=format_datetime(at),
            finished_at=format_datetime(at + timedelta(seconds=4)), prev_hash=prev,
        )  # fmt: skip
        data = canonical_json(doc)
        digest = sha256_hex(data)
        if n < CHECKED:
            _check_sealing(doc, data, digest)
        values = column_values(doc) | {"seq": n + 1, "hash": digest} | _packed(data, dicts)
        rows.append(tuple(_sql(name, values[name]) for name in COLUMNS))
        prev = digest
    return target, rows, dicts, prev


def _packed(data: bytes, dicts: list[bytes]) -> dict[str, Any]:
    """`doc`, `zdoc`, `zdict` by Documents.pack's rule (dictionaries appended to `dicts`)."""
    if any(mark in data for mark in SEARCHED):
        return {"doc": data.decode(), "zdoc": None, "zdict": None}
    if dicts:
        zdoc = compress(data, dicts[-1])
        if len(zdoc) <= RENEW_SHARE * len(data):
            return {"doc": "", "zdoc": zdoc, "zdict": len(dicts) - 1}
    dicts.append(((dicts[-1] if dicts else b"") + data)[-DICT_MAX:])
    return {"doc": "", "zdoc": compress(data, dicts[-1]), "zdict": len(dicts) - 1}


def _sql(name: str, value: Any) -> Any:
    return int(value) if name in BOOLEAN and value is not None else value


def _check_sealing(doc: dict[str, Any], data: bytes, digest: str) -> None:
    """The document must be what sealing the model's Observation writes, byte for byte."""
    obs = Observation.model_validate_json(data)
    sealed = seal_document(obs, doc["prev_hash"])
    if sealed.canonical != data or sealed.hash != digest:
        raise SystemExit(f"bigstore: {doc['id']} is not sealed the store's way")


def build(data: Path, count: int, targets: int, days: int, workers: int = 2) -> Path:
    """Generate (or resume, or reuse) the store; return its directory."""
    params = {"layout": LAYOUT, "observations": count, "targets": targets, "days": days,
              "start": START.isoformat()}  # fmt: skip
    done_file = data / "complete.json"
    if done_file.exists() and json.loads(done_file.read_text())["params"] == params:
        _log(f"reusing {data} ({count:,} observations)")
        return data
    data.mkdir(parents=True, exist_ok=True)
    Store.open(data).close()  # the schema, by the store itself
    ids = target_ids(targets)
    per_target = count // targets
    step_s = days * 86400 / per_target
    db = sqlite3.connect(data / SQLITE_FILE, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-262144"):
        db.execute(f"PRAGMA {pragma}")
    heads = dict(db.execute("SELECT target, seq FROM chain_heads").fetchall())
    todo = [(i, t, per_target, step_s) for i, t in enumerate(ids) if heads.get(t) != per_target]
    db.execute("BEGIN")
    for _, target, _, _ in todo:  # an interrupted target is written again, whole
        db.execute("DELETE FROM observations WHERE target = ?", (target,))
        db.execute("DELETE FROM chain_heads WHERE target = ?", (target,))
        db.execute("DELETE FROM doc_dicts WHERE target = ?", (target,))
        db.execute(UNCOUNT, (target,))
    db.executemany("INSERT INTO chain_heads VALUES (?, 0, NULL)", [(t,) for _, t, _, _ in todo])
    db.execute("COMMIT")
    started, cpu, written = time.monotonic(), time.process_time(), 0
    _log(f"generating {len(todo) * per_target:,} observations ({len(todo)} targets) into {data}")
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for target, rows, dicts, last in _ordered(pool, todo):
            db.execute("BEGIN")
            dict_ids = [
                db.execute(
                    "INSERT INTO doc_dicts (target, sha256, data) VALUES (?, ?, ?) RETURNING id",
                    (target, hashlib.sha256(d).hexdigest(), d),
                ).fetchone()[0]
                for d in dicts
            ]
            db.executemany(INSERT, [_with_dict(row, dict_ids) for row in rows])
            db.execute(COUNT, (target,))  # its one parameter
            db.execute("UPDATE chain_heads SET seq = ?, hash = ? WHERE target = ?",
                       (len(rows), last, target))  # fmt: skip
            db.execute("COMMIT")
            written += len(rows)
            elapsed = time.monotonic() - started
            _log(f"{target}: {written:,} written, {written / elapsed:,.0f}/s, "
                 f"{elapsed:.0f} s, writer CPU {time.process_time() - cpu:.0f} s, "
                 f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # No ANALYZE: the store never runs it, so its queries are planned here as in the field.
    db.close()
    size = sum(f.stat().st_size for f in data.iterdir() if f.is_file())
    done_file.write_text(json.dumps({
        "params": params, "generated_s": round(time.monotonic() - started),
        "bytes": size, "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=1))  # fmt: skip
    _log(f"done: {size / 1e9:.2f} GB, {size / count:.0f} bytes per observation")
    return data


ZDICT = COLUMNS.index("zdict")


def _with_dict(row: tuple[Any, ...], ids: list[int]) -> tuple[Any, ...]:
    local = row[ZDICT]
    return row if local is None else (*row[:ZDICT], ids[local], *row[ZDICT + 1 :])


def _ordered(pool: Any, jobs: list[tuple[int, str, int, float]]) -> Iterator[Any]:
    yield from pool.imap(_rows, jobs)


def upgrade(data: Path) -> None:
    """Open a store of the previous layout (schema version 4) with this watchdog, which
    upgrades it in place (schema version 5: the `captcha_solved_by` copy and the report's
    counts), timed; its `complete.json` then names this layout, so the benches reuse it."""
    done_file = data / "complete.json"
    done = json.loads(done_file.read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started, cpu = time.monotonic(), time.process_time()
    _log(f"upgrading {data} (load {os.getloadavg()[0]:.1f})")
    Store.open(data).close()
    wall, used = time.monotonic() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _log(f"upgraded in {wall:.1f} s wall, {used:.1f} CPU-s, peak RSS {peak:.0f} MB, "
         f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    done["params"]["layout"] = LAYOUT
    done["upgraded"] = {"wall_s": round(wall, 1), "cpu_s": round(used, 1), "peak_mb": round(peak)}
    done_file.write_text(json.dumps(done, indent=1))


def _log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} bigstore: {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bigstore", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path)
    parser.add_argument(
        "--upgrade", action="store_true", help="upgrade the store of --data in place, timed"
    )
    args = parser.parse_args()
    data = args.data or default_dir(args.observations, args.targets, args.days)
    if args.upgrade:
        upgrade(data)
        return
    build(data, args.observations, args.targets, args.days, args.workers)


if __name__ == "__main__":
    main()
