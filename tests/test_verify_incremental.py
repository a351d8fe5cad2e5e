"""`watchdog verify --since-checkpoint`: a sound verify marks its checkpoint as verified, and
an incremental verify reads only what follows that mark, on SQLite and PostgreSQL.

Tampering after the mark is found (a changed document, a forged mark row, a cut chain, a
corrupt blob referenced after it); tampering before it is, by design, found only by a full
verify; a mark that is missing, forged or a checkpoint copied in its place makes the verify
a full one, which says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from docfix import edit_document
from intruder import Sql
from intruder import stored_row as _row

from watchdog.cli.main import main
from watchdog.domain.models import (
    AssistRead,
    AssistRecord,
    Env,
    EvidenceRefs,
    Observation,
    assist_chain,
)
from watchdog.store import Store
from watchdog.store import checkpoint as checkpoints
from watchdog.store.schema import chain_heads, observations
from watchdog.store.verify import verify_store

MakeObs = Callable[..., Observation]
MARKED = 4  # each chain's seq at the verified mark


@pytest.fixture
def marked(store: Store, make_observation: MakeObs) -> Store:
    """Chains a and b, 4 observations each, checkpointed and verified; then 3 more each."""
    for target in ("a", "b"):
        store.append_many([make_observation(target, n) for n in range(MARKED)])
    checkpoints.write(store)
    report = verify_store(store)
    assert report.ok and report.marked
    assert report.summary().endswith("nothing written but the verified mark: OK")
    for target in ("a", "b"):
        for n in range(MARKED, MARKED + 3):
            shot = store.blobs.put(b"PNG %s %d" % (target.encode(), n), "screenshot")
            evidence = EvidenceRefs(screenshot=shot)
            store.append(make_observation(target, n, evidence=evidence))
    return store


def _where(target: str, seq: int) -> sa.ColumnElement[bool]:
    return (observations.c.target == target) & (observations.c.seq == seq)


def _edit_message(store: Store, sql: Sql, target: str, seq: int) -> None:
    """Change one word of a stored document, the columns untouched (its hash now lies)."""
    edit_document(store, target, seq, lambda t: t.replace("Il n'existe plus", "Il existe", 1),
                  run=sql)  # fmt: skip


def test_an_incremental_verify_reads_only_what_follows_the_mark(marked: Store) -> None:
    report = verify_store(marked, since_checkpoint=True)
    assert report.ok, report.render()
    assert report.since is not None and "verified mark of" in report.since
    # Each chain: its marked observation (re-hashed, the anchor) and the 3 after it.
    assert report.observations == 2 * 4
    assert report.blobs == 6  # the screenshots referenced after the mark, nothing else
    assert "Incremental: from the verified mark" in report.render()
    assert "since the verified mark" in report.summary()


def test_tampering_after_the_mark_is_found(marked: Store, sql: Sql) -> None:
    _edit_message(marked, sql, "b", MARKED + 2)
    report = verify_store(marked, since_checkpoint=True)
    assert not report.ok and [b.target for b in report.breaks] == ["b"]
    assert report.breaks[0].seq == MARKED + 2
    assert "is not the SHA-256 of its stored document" in report.breaks[0].problem


def test_tampering_before_the_mark_is_found_only_by_a_full_verify(marked: Store, sql: Sql) -> None:
    _edit_message(marked, sql, "a", 2)
    assert verify_store(marked, since_checkpoint=True).ok  # by design: not read again
    full = verify_store(marked)
    assert not full.ok and [(b.target, b.seq) for b in full.breaks] == [("a", 2)]


def test_a_chain_rewritten_up_to_the_marked_observation_is_found(marked: Store, sql: Sql) -> None:
    """Forge the marked row with its hash recomputed: its successor's link and the mark's
    hash both disagree, and the incremental verify names the mark."""
    edit_document(marked, "a", MARKED, lambda t: t.replace("Il n'existe plus", "Il existe", 1),
                  rehash=True, run=sql)  # fmt: skip
    report = verify_store(marked, since_checkpoint=True)
    assert not report.ok and report.breaks[0].target == "a" and report.breaks[0].seq == MARKED
    assert "that the verified mark names" in report.breaks[0].problem


def test_a_chain_cut_below_the_mark_is_found(marked: Store, sql: Sql) -> None:
    keep = _row(marked, "b", 2)
    sql(sa.delete(observations).where((observations.c.target == "b") & (observations.c.seq > 2)))
    sql(sa.update(chain_heads).where(chain_heads.c.target == "b").values(seq=2, hash=keep.hash))
    report = verify_store(marked, since_checkpoint=True)
    assert [b.target for b in report.breaks] == ["b"]
    assert "which the verified mark names, is no longer stored" in report.breaks[0].problem


def test_a_corrupt_blob_referenced_after_the_mark_is_found(marked: Store) -> None:
    obs = marked.get(_row(marked, "a", MARKED + 1).id)
    assert obs is not None and obs.evidence.screenshot is not None
    path = marked.blobs.path(obs.evidence.screenshot)
    path.chmod(0o644)
    path.write_bytes(b"not the screenshot")
    report = verify_store(marked, since_checkpoint=True)
    assert [p.sha for p in report.blob_problems] == [obs.evidence.screenshot]


@pytest.mark.parametrize("how", ["missing", "forged", "checkpoint copied in"])
def test_without_a_valid_mark_the_verify_is_a_full_one(marked: Store, sql: Sql, how: str) -> None:
    folder = checkpoints.data_dir_of(marked)
    mark = folder / checkpoints.VERIFIED_FILE
    if how == "missing":
        mark.unlink()
    elif how == "forged":  # the mark moved forward by hand: its signature no longer holds
        document = json.loads(mark.read_text(encoding="utf-8"))
        document["verified_at"] = "2099-01-01T00:00:00.000000Z"
        mark.write_text(json.dumps(document), encoding="utf-8")
    else:  # a checkpoint the daemon signed is not a verified mark
        checkpoints.write(marked)
        mark.write_bytes((folder / checkpoints.FILE).read_bytes())
    _edit_message(marked, sql, "a", 2)  # before the mark: only a full verify sees it
    report = verify_store(marked, since_checkpoint=True)
    assert report.since is None and report.mark_note is not None
    assert report.mark_note.endswith("this verify was a full one")
    assert [(b.target, b.seq) for b in report.breaks] == [("a", 2)]
    assert not report.marked  # a failed verify records nothing


def test_a_sound_incremental_verify_moves_the_mark(
    marked: Store, make_observation: MakeObs
) -> None:
    checkpoints.write(marked)  # the daemon's next checkpoint, at seq 7
    report = verify_store(marked, since_checkpoint=True)
    assert report.ok and report.marked
    mark = checkpoints.load_mark(checkpoints.data_dir_of(marked))
    assert not isinstance(mark, str) and mark.checkpoint.by_target()["a"][0] == MARKED + 3
    marked.append(make_observation("a", 99))
    assert verify_store(marked, since_checkpoint=True).observations == 2 + 1  # a: 7, 8; b: 7


def test_the_cli_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_observation: MakeObs
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "watchdog.yaml"
    config.write_text(f"watchdog:\n  data_dir: {data}\ntargets: []\n", encoding="utf-8")
    with Store.open(data) as store:
        store.append_many([make_observation("paris-b", n) for n in range(3)])
    assert main(["verify", "--since-checkpoint", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "no checkpoint yet" in out and "Incremental" not in out  # nothing to start from
    assert main(["checkpoint", "--config", str(config)]) == 0
    assert main(["verify", "--config", str(config)]) == 0
    assert "Recorded this checkpoint as verified" in capsys.readouterr().out
    assert main(["verify", "--since-checkpoint", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("verified 1 observation(s) since the verified mark in 1 chain(s)")


def test_a_session_record_after_the_mark_may_name_reads_before_it(
    store: Store, make_observation: MakeObs
) -> None:
    """An assisted session's record, written when the session ends, names its reads; a mark
    that falls between a read and the record leaves the read unwalked, not missing."""
    env = Env(software="prefecture-watchdog 0.1.0", browser="chromium", assisted_session="s1")
    read = store.append(make_observation("a", 0, env=env))
    checkpoints.write(store)
    assert verify_store(store).marked
    record = AssistRecord(session="s1", target="a", end="site_ended",
                          reads=[AssistRead(id=read.id, hash=str(read.hash))])  # fmt: skip
    store.append(make_observation(assist_chain("a"), 1, assist=record))
    report = verify_store(store, since_checkpoint=True)
    assert report.ok, report.render()
    assert report.since is not None and report.sessions == 1
    # The read named before the mark is still looked up: one changed there is found.
    forged = [AssistRead(id="obs-forged", hash=str(read.hash))]
    second = record.model_copy(update={"session": "s2", "reads": forged})
    store.append(make_observation(assist_chain("b"), 1, assist=second))
    problems = verify_store(store, since_checkpoint=True).session_problems
    assert problems and "does not hold: a read was removed" in problems[0]
