"""Tamper variants against a checkpointed store, on SQLite and PostgreSQL: each one is found.

The store holds two chains (paris-a: 5 observations, paris-b: 3) with evidence, and a
checkpoint of their heads. An intruder then changes the database as SQL allows (foreign keys
off) or the data directory's files: every variant in TAMPERS must make `verify` fail and name
the right chain. The two that the chains alone could not see (a tail removed with the head
moved back, a whole chain removed) are here with their neighbours; the 19 one-byte column
flips are the `verify` suite's, run again under the checkpoint. SIGKILL of a writer that
checkpoints as it goes, and a full disk while checkpointing, must leave a store that verifies.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from docfix import edit_document, text_of
from intruder import Sql
from intruder import stored_row as _row
from polling import wait_until

from watchdog.cli.main import main
from watchdog.domain.errors import StoreError
from watchdog.domain.models import Engine, Env, EvidenceRefs, Observation, Screenshots
from watchdog.store import Store, rollup
from watchdog.store import checkpoint as checkpoints
from watchdog.store import verify as verify_module
from watchdog.store.chain import sha256_hex
from watchdog.store.schema import chain_heads, observation_counts, observations
from watchdog.store.verify import verify_store

MakeObs = Callable[..., Observation]
WORKERS_EXIT_S = 30  # stopped workers exit at once; a loaded machine may take a while to reap
COLUMNS = (
    "id", "target", "seq", "started_at", "finished_at", "outcome", "detail", "slots",
    "earliest_slot", "tags", "prev_hash", "hash", "doc", "simulated", "screenshots", "engine",
    "published_next", "zdoc", "zdict", "captcha_solved_by",
)  # fmt: skip


@pytest.fixture
def filled(store: Store, make_observation: MakeObs) -> Store:
    """paris-a (5, seq 3 with every optional column set) and paris-b (3), checkpointed."""
    for n in range(5):
        shot = store.blobs.put(b"PNG screenshot %d" % n, "screenshot")
        fields: dict[str, Any] = {"evidence": EvidenceRefs(screenshot=shot)}
        if n == 2:
            fields.update(
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
    checkpoints.write(store)
    return store


def _flip(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 0x40
    if isinstance(value, bytes | memoryview):  # a compressed document: one byte changed
        data = bytearray(value)
        data[len(data) // 2] ^= 1
        return bytes(data)
    if value == "":  # `doc` beside a compressed document: text slipped in where none is
        return "{}"
    middle = len(value) // 2
    return value[:middle] + chr(ord(value[middle]) ^ 1) + value[middle + 1 :]


def _cut_tail(store: Store, sql: Sql, target: str, keep: int) -> None:
    """Delete the observations after seq `keep` and move the head back onto seq `keep`."""
    last = _row(store, target, keep)
    sql(sa.delete(observations).where((observations.c.target == target)
                                      & (observations.c.seq > keep)))  # fmt: skip
    where = chain_heads.c.target == target
    sql(sa.update(chain_heads).where(where).values(seq=keep, hash=last.hash))


def _drop_chain(sql: Sql, target: str) -> None:
    sql(sa.delete(observations).where(observations.c.target == target))
    sql(sa.delete(chain_heads).where(chain_heads.c.target == target))


def _rewrite_last(store: Store, sql: Sql) -> None:
    """Forge paris-b's last observation, its hash and the head recomputed: links still hold."""
    before = text_of(store, _row(store, "paris-b", 3))
    forged = edit_document(store, "paris-b", 3,
                           lambda doc: doc.replace("Il n'existe plus", "Il existe une", 1),
                           rehash=True, run=sql)  # fmt: skip
    assert forged != before
    digest = sha256_hex(forged.encode())
    sql(sa.update(chain_heads).where(chain_heads.c.target == "paris-b").values(hash=digest))


def _flip_column(column: str) -> Callable[[Store, Sql], None]:
    def tamper(store: Store, sql: Sql) -> None:
        row = _row(store, "paris-a", 3)
        sql(sa.update(observations).where(observations.c.id == row.id)
            .values({column: _flip(row._mapping[column])}))  # fmt: skip

    return tamper


def _edit_checkpoint(store: Store, _sql: Sql) -> None:
    """Move the checkpoint's head back too, without the key: digest redone, signature not."""
    path = checkpoints.data_dir_of(store) / checkpoints.FILE
    document = json.loads(path.read_text())
    document["heads"] = [h for h in document["heads"] if h["target"] != "paris-b"]
    body = checkpoints.Checkpoint.model_validate(document).body()
    document["digest"] = sha256_hex(body)
    path.write_text(json.dumps(document))


def _remove_file(name: str) -> Callable[[Store, Sql], None]:
    def tamper(store: Store, _sql: Sql) -> None:
        (checkpoints.data_dir_of(store) / name).unlink()

    return tamper


def _replace_key(store: Store, _sql: Sql) -> None:
    (checkpoints.data_dir_of(store) / checkpoints.KEY_FILE).write_text("ab" * 32 + "\n")


def _garble_checkpoint(store: Store, _sql: Sql) -> None:
    (checkpoints.data_dir_of(store) / checkpoints.FILE).write_bytes(b'{"heads": [')


def _alter_blob(store: Store, _sql: Sql) -> None:
    sha = next(iter(store.blobs))
    path = store.blobs.path(sha)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b" ")


@dataclass(frozen=True)
class Tamper:
    name: str
    apply: Callable[[Store, Sql], None]
    found: str  # in the rendered report


TAMPERS = [
    *(Tamper(f"flip-{c}", _flip_column(c), "paris-a") for c in COLUMNS),
    Tamper("tail-1-head-back", lambda st, s: _cut_tail(st, s, "paris-b", 2),
           "its last 1 observation(s) were removed"),
    Tamper("tail-3-head-back", lambda st, s: _cut_tail(st, s, "paris-a", 2),
           "its last 3 observation(s) were removed"),
    Tamper("tail-rows-only", lambda st, s: s(sa.delete(observations).where(
        (observations.c.target == "paris-b") & (observations.c.seq == 3))), "paris-b"),
    Tamper("whole-chain", lambda st, s: _drop_chain(s, "paris-b"), "the whole chain is gone"),
    Tamper("every-chain", lambda st, s: (_drop_chain(s, "paris-a"), _drop_chain(s, "paris-b")),
           "the whole chain is gone"),
    Tamper("middle-row", lambda st, s: s(sa.delete(observations).where(
        (observations.c.target == "paris-a") & (observations.c.seq == 2))), "seq 2 missing"),
    Tamper("last-rewritten-rehashed", _rewrite_last, "rewritten after the checkpoint"),
    Tamper("checkpoint-edited", _edit_checkpoint, "signature does not match its content"),
    Tamper("checkpoint-removed", _remove_file(checkpoints.FILE), "was removed"),
    Tamper("checkpoint-garbled", _garble_checkpoint, "is not a valid checkpoint"),
    Tamper("key-replaced", _replace_key, "not with this data directory's key"),
    Tamper("blob-altered", _alter_blob, "does not match its SHA-256 name"),
]  # fmt: skip


def test_the_table_holds_the_20_column_flips_and_the_truncations() -> None:
    assert set(COLUMNS) == set(observations.c.keys())
    names = [t.name for t in TAMPERS]
    assert len(names) == len(set(names)) == 32
    assert {"tail-1-head-back", "whole-chain"} <= set(names)


def test_an_unreadable_key_is_said_and_the_heads_still_checked(filled: Store, sql: Sql) -> None:
    key = checkpoints.data_dir_of(filled) / checkpoints.KEY_FILE
    key.write_text("not hex\n")
    report = verify_store(filled)
    assert report.ok and "signature was not checked" in report.render(), report.render()
    _cut_tail(filled, sql, "paris-b", 2)
    assert "its last 1 observation(s) were removed" in verify_store(filled).render()


def test_an_untouched_checkpointed_store_verifies(filled: Store) -> None:
    report = verify_store(filled)
    assert report.ok, report.render()
    text = report.render()
    assert "Checked against the checkpoint of " in text and "2 chain head(s)" in text
    assert "no checkpoint" not in text


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.name)
def test_every_tamper_variant_is_detected(filled: Store, sql: Sql, tamper: Tamper) -> None:
    tamper.apply(filled, sql)
    report = verify_store(filled)
    assert not report.ok, report.render()
    assert tamper.found in report.render(), report.render()


def test_without_the_checkpoint_a_cut_tail_would_pass(
    store: Store, make_observation: MakeObs, sql: Sql
) -> None:
    """The gap the checkpoint closes, shown: an existing store without one still verifies,
    says that it has none, and a tail cut then goes unseen once the intruder has also
    counted the report's counts again (schema version 5): cut alone, the counts name it."""
    store.append_many([make_observation("paris-b", n) for n in range(3)])
    _cut_tail(store, sql, "paris-b", 2)
    left = verify_store(store)
    assert not left.ok and "Report counts FAILED: the counts of paris-b" in left.render()
    sql(sa.delete(observation_counts).where(observation_counts.c.target == "paris-b"))
    sql(rollup.fill(observations.c.target == "paris-b"))
    report = verify_store(store)
    assert report.ok, report.render()
    assert "Note: no checkpoint yet: a removed tail" in report.render()


def test_a_checkpoint_is_never_written_over_a_cut_chain(filled: Store, sql: Sql) -> None:
    """The daemon's next checkpoint would bless the cut: it is refused, the old one stays."""
    path = checkpoints.data_dir_of(filled) / checkpoints.FILE
    before = path.read_bytes()
    _cut_tail(filled, sql, "paris-b", 1)
    with pytest.raises(checkpoints.CheckpointError, match="paris-b no longer has seq 3"):
        checkpoints.write(filled)
    keeper = checkpoints.Checkpointer(filled, checkpoints.data_dir_of(filled))
    assert keeper.tick(1) is None and keeper.failure is not None
    assert path.read_bytes() == before
    assert "its last 2 observation(s) were removed" in verify_store(filled).render()
    forced = checkpoints.write(filled, force=True)  # after an investigation
    assert forced.by_target()["paris-b"][0] == 1
    counts = verify_store(filled)  # the report's counts still count the cut rows
    assert counts.count_problems and not counts.breaks, counts.render()
    assert "`watchdog verify --recount`" in counts.render()
    with filled.transaction() as conn:  # what `watchdog verify --recount` does first
        rollup.recount(conn)
    assert verify_store(filled).ok
    kept = list(path.parent.glob("checkpoint-replaced-*.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == before


def test_checkpoints_follow_the_chains_as_they_grow(
    filled: Store, make_observation: MakeObs
) -> None:
    keeper = checkpoints.Checkpointer(filled, checkpoints.data_dir_of(filled))
    filled.append(make_observation("paris-c", 0))
    written = keeper.tick(1)
    assert written is not None and written.by_target()["paris-c"][0] == 1
    assert keeper.tick(1) is None  # nothing recorded since
    assert verify_store(filled).ok


def test_the_cli_writes_a_checkpoint_and_verify_names_a_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_observation: MakeObs
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "watchdog.yaml"
    config.write_text(f"watchdog:\n  data_dir: {data}\ntargets: []\n", encoding="utf-8")
    with Store.open(data) as store:
        store.append_many([make_observation("paris-b", n) for n in range(3)])
    assert main(["checkpoint", "--config", str(config)]) == 0
    assert "Wrote the checkpoint of " in capsys.readouterr().out
    assert oct((data / checkpoints.KEY_FILE).stat().st_mode & 0o777) == "0o600"
    assert main(["verify", "--config", str(config)]) == 0
    capsys.readouterr()
    with Store.open(data) as store, sa.create_engine(store.engine.url).begin() as conn:
        conn.execute(sa.delete(observations).where(observations.c.seq == 3))
        conn.execute(sa.update(chain_heads).values(seq=2, hash=_row(store, "paris-b", 2).hash))
    assert main(["verify", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "Chain 'paris-b' first breaks at seq 3" in out and "were removed" in out
    assert main(["verify", "--jobs", "2", "--config", str(config)]) == 1
    assert capsys.readouterr().out == out  # two processes read the chains, same report
    with pytest.raises(SystemExit) as refused:
        main(["verify", "--jobs", "0", "--config", str(config)])
    assert refused.value.code == 2
    assert "give a number of processes from 1 to 64" in capsys.readouterr().err
    assert main(["checkpoint", "--config", str(config)]) == 1
    assert "not written: the store no longer extends" in capsys.readouterr().err


_APPEND_AND_CHECKPOINT = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from watchdog.store.checkpoint import Checkpointer
from watchdog.domain.models import Env, Observation, Outcome
from watchdog.store import Store

data = Path(sys.argv[1])
store = Store.open(data, sys.argv[2] or None)
keeper = Checkpointer(store, data)
n = 0
while True:
    n += 1
    now = datetime.now(UTC)
    store.append_many([
        Observation(id=uuid.uuid4().hex, target=f"t{k % 3}", outcome=Outcome.NO_SLOT,
                    detail="no_slot", started_at=now, finished_at=now, duration_s=0.5,
                    env=Env(software="crash-test"))
        for k in range(n % 4 + 1)
    ])
    keeper.tick(n)
    if n == 5:
        print("going", flush=True)
"""


def test_sigkill_while_appending_and_checkpointing_leaves_a_verifying_store(
    data_dir: Path, database_url: str | None
) -> None:
    """Killed wherever it lands (transaction, key, temp file, rename), five times over: the
    checkpoint on disk never names an observation the store lacks."""
    with Store.open(data_dir, database_url) as store:
        for _ in range(5):
            before = store.count()
            child = subprocess.Popen(
                [sys.executable, "-c", _APPEND_AND_CHECKPOINT, str(data_dir), database_url or ""],
                stdout=subprocess.PIPE,
            )
            try:
                assert child.stdout is not None and child.stdout.readline() == b"going\n"
                wait_until(lambda b=before: store.count() >= b + 60, 60, "more appends")
            finally:
                child.kill()
                child.wait(timeout=30)
            assert child.returncode == -signal.SIGKILL
            report = verify_store(store)
            assert report.ok and report.checkpoint is not None, report.render()


_CHECKPOINT_ON_A_FULL_DISK = """
import resource, sys
from pathlib import Path
from watchdog.store.checkpoint import CheckpointError, write
from watchdog.store import Store

data = Path(sys.argv[1])
with Store.open(data, sys.argv[2] or None) as store:
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), resource.RLIM_INFINITY))
    try:
        write(store, data)
    except CheckpointError as exc:
        print(exc)
        sys.exit(3)
"""


@pytest.mark.parametrize("first", [True, False], ids=["first-checkpoint", "later-checkpoint"])
def test_a_full_disk_never_leaves_a_half_checkpoint(
    data_dir: Path, database_url: str | None, make_observation: MakeObs, first: bool
) -> None:
    """Writes past 300 bytes fail as on a full volume (RLIMIT_FSIZE, even for root): the
    checkpoint is not written, the last one stays whole, and no key is left without one."""
    with Store.open(data_dir, database_url) as store:
        store.append_many([make_observation(f"target-{n:02d}", n) for n in range(30)])
        if not first:
            checkpoints.write(store)
        before = (data_dir / checkpoints.FILE).read_bytes() if not first else None
        store.append(make_observation("target-00", 99))
        done = subprocess.run(
            [sys.executable, "-c", _CHECKPOINT_ON_A_FULL_DISK, str(data_dir),
             database_url or "", "300"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 3, done.stdout + done.stderr
        assert "cannot write" in done.stdout and "Traceback" not in done.stderr
        assert not list(data_dir.glob(".tmp-checkpoint-*"))
        if first:
            assert not (data_dir / checkpoints.FILE).exists()
            assert not (data_dir / checkpoints.KEY_FILE).exists()
        else:
            assert (data_dir / checkpoints.FILE).read_bytes() == before
        report = verify_store(store)
        assert report.ok, report.render()
        assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY


def test_watchdog_run_checkpoints_at_start_and_refuses_over_a_cut(
    tmp_path: Path, make_observation: MakeObs, caplog: pytest.LogCaptureFixture
) -> None:
    """The real daemon (no target to probe): its first state tick checkpoints the store it
    opened; over a chain cut while it was stopped it writes none and says why, once."""
    data = tmp_path / "data"
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"watchdog:\n  data_dir: {data}\nlisten:\n  port: 0\ntargets: []\n", encoding="utf-8"
    )
    with Store.open(data) as store:
        store.append_many([make_observation("paris-b", n) for n in range(3)])
    assert main(["run", "--config", str(config), "--minutes", "0.02"]) == 0
    written = checkpoints.load(data)
    assert written.checkpoint is not None and written.problem is None
    assert written.checkpoint.by_target()["paris-b"][0] == 3
    before = (data / checkpoints.FILE).read_bytes()
    with Store.open(data) as store, sa.create_engine(store.engine.url).begin() as conn:
        conn.execute(sa.delete(observations).where(observations.c.seq == 3))
        conn.execute(sa.update(chain_heads).values(seq=2, hash=_row(store, "paris-b", 2).hash))
    caplog.clear()
    assert main(["run", "--config", str(config), "--minutes", "0.02"]) == 0
    assert (data / checkpoints.FILE).read_bytes() == before
    refusals = [r for r in caplog.records if "no longer extends" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]


def test_chains_read_by_worker_processes_give_the_same_report(
    filled: Store, sql: Sql, make_observation: MakeObs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large store's chains are read in several processes (`verify --jobs`): whatever their
    number, the report is the one a single process writes, every problem in it once."""
    for target in ("lyon-c", "nice-d", "tours-e"):
        for n in range(4):
            shot = filled.blobs.put(b"PNG %s %d" % (target.encode(), n), "screenshot")
            evidence = EvidenceRefs(screenshot=shot)
            filled.append(make_observation(target, n, evidence=evidence))
    checkpoints.write(filled)
    _flip_column("outcome")(filled, sql)  # paris-a seq 3
    _cut_tail(filled, sql, "paris-b", 2)  # only the checkpoint sees it
    middle = (observations.c.target == "nice-d") & (observations.c.seq == 2)
    sql(sa.delete(observations).where(middle))
    _alter_blob(filled, sql)
    sql(sa.update(observation_counts).where(observation_counts.c.target == "tours-e")
        .values(n=observation_counts.c.n + 1))  # fmt: skip
    ran: list[int] = []
    parallel = verify_module._walk_parallel
    monkeypatch.setattr(verify_module, "_walk_parallel",
                        lambda *a, **k: ran.append(a[2]) or parallel(*a, **k))  # fmt: skip

    one = verify_store(filled, jobs=1)
    assert ran == []
    text = one.render()
    for problem in ("paris-a", "its last 1 observation(s) were removed", "nice-d",
                    "does not match its SHA-256 name", "tours-e"):  # fmt: skip
        assert problem in text, text
    for jobs in (2, 3):
        progress: list[int] = []
        report = verify_store(filled, jobs=jobs, progress=progress.append)
        assert report.render() == text and report.summary() == one.summary()
        assert (report.observations, report.counts) == (one.observations, one.counts)
        assert progress[-1] == one.observations
    assert ran == [2, 3]


def test_a_large_store_is_read_by_one_process_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    heads = {f"t{n:03}": (n * 1000, "h") for n in range(1, 41)}  # 820,000 rows
    monkeypatch.setattr(verify_module.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert verify_module._jobs(None, heads, {}) == 2
    small = {t: (seq // 100, h) for t, (seq, h) in heads.items()}  # 8,200 rows
    assert verify_module._jobs(None, small, {}) == 1
    assert verify_module._jobs(3, small, {}) == 3
    assert verify_module._jobs(3, {"a": (5, "h")}, {}) == 1
    ranges = verify_module._ranges(heads, 4)
    assert ranges[0][0] is None and ranges[-1][1] is None and len(ranges) == 4
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    # each range starts at the first target after a quarter of the rows (205 k, 410 k, 615 k)
    assert [r[0] for r in ranges[1:]] == ["t021", "t030", "t036"]


def test_a_worker_that_cannot_read_fails_the_verify_with_the_reason(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's error reaches the command as the store's own error (the CLI prints it),
    at once, and no worker is left behind."""
    gone = tmp_path / "no-such-dir" / "watchdog.sqlite3"
    monkeypatch.setattr(filled, "reader_spec", lambda: (f"sqlite+pysqlite:///{gone}", "x"))
    before = set(multiprocessing.active_children())
    with pytest.raises(StoreError, match="cannot read the store"):
        verify_store(filled, jobs=2)
    wait_until(lambda: not set(multiprocessing.active_children()) - before, WORKERS_EXIT_S,
               "the verify's workers to exit")  # fmt: skip
