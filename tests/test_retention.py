"""Retention (issue 19, item 2): plan and apply on a store with held and rolling targets, on
SQLite and PostgreSQL. Chains verify after pruning, held targets are untouched, a blob still
referenced is kept and the others removed, a summary altered or removed is found, a second
apply does nothing, a crash on either side of the commit leaves a store that verifies, and a
bundle over a pruned store verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from docfix import edit_document
from polling import wait_until
from reportdata import target
from tsafix import Authority, LocalTSA, make_authority

from watchdog.bundle import export_bundle, verify_bundle
from watchdog.cli.main import main
from watchdog.config.loader import load_config
from watchdog.config.schema import RetentionClass
from watchdog.domain.clock import PARIS
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import EvidenceRefs, Observation, Outcome
from watchdog.report import ReportOptions
from watchdog.store import Store, access, retention, timestamps
from watchdog.store import checkpoint as checkpoints
from watchdog.store.record import inspect, open_read_only
from watchdog.store.schema import DOCUMENT, observations, pruned_segments, schema_version
from watchdog.store.usage import pruned_observations, store_size
from watchdog.store.verify import verify_store

MakeObs = Callable[..., Observation]
DAY = timedelta(days=1)
BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = BASE + 10 * DAY
ROLLING, HELD, GONE = "rolling-a", "held-b", "removed-c"
CLASSES = {ROLLING: RetentionClass(5 * DAY), HELD: RetentionClass(None)}
ANY_TIME = float("inf")  # `in_use_since`: no blob counts as touched lately


class Fixture:
    """The store, and the blobs each observation references."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.shared = store.blobs.put(b"<html>shared skeleton</html>", "html")
        self.shots: dict[tuple[str, int], str] = {}
        self.pages: dict[int, str] = {}

    def obs(self, make: MakeObs, target_id: str, n: int) -> Observation:
        shot = self.store.blobs.put(f"shot {target_id} {n}".encode(), "screenshot")
        self.shots[(target_id, n)] = shot
        page = self.shared
        if target_id == ROLLING and n not in (2, 8):  # 2 (pruned) and 8 (kept) share one
            page = self.pages[n] = self.store.blobs.put(f"page {n}".encode(), "html")
        outcome = Outcome.AVAILABLE if n == 1 else Outcome.NO_SLOT
        return make(
            target_id,
            n,
            started_at=BASE + n * DAY,
            finished_at=BASE + n * DAY + timedelta(seconds=3),
            outcome=outcome,
            detail=outcome.value,
            slots=1 if n == 1 else None,
            evidence=EvidenceRefs(screenshot=shot, html=page),
        )


@pytest.fixture
def filled(store: Store, make_observation: MakeObs) -> Fixture:
    """rolling-a: 10 daily observations (rolling 5d: seq 1–5 due at NOW); held-b: 6 (hold);
    removed-c: 3, not configured. The checkpoint names rolling-a seq 4, which is pruned."""
    fx = Fixture(store)
    store.append_many([fx.obs(make_observation, ROLLING, n) for n in range(4)])
    store.append_many([fx.obs(make_observation, HELD, n) for n in range(6)])
    store.append_many([fx.obs(make_observation, GONE, n) for n in range(3)])
    checkpoints.write(store)
    store.append_many([fx.obs(make_observation, ROLLING, n) for n in range(4, 10)])
    return fx


def _docs(store: Store, target_id: str) -> list[str]:
    stmt = sa.select(*DOCUMENT).where(observations.c.target == target_id)
    return [row.doc for row in store.scan(stmt.order_by(observations.c.seq))]


def _apply(store: Store) -> retention.Applied:
    return retention.apply(store, retention.plan(store, CLASSES, NOW, ANY_TIME), NOW)


def test_the_plan_says_what_would_go_and_changes_nothing(filled: Fixture) -> None:
    store = filled.store
    planned = retention.plan(store, CLASSES, NOW, ANY_TIME)
    by = {t.target: t for t in planned.targets}
    stretch = by[ROLLING].stretch
    assert stretch is not None
    assert (stretch.first_seq, stretch.last_seq, stretch.count) == (1, 5, 5)
    assert stretch.outcomes == {"available": 1, "no_slot": 4}
    assert stretch.first_started_at.startswith("2025-01-06T09:00")
    assert stretch.last_started_at.startswith("2025-01-10T09:00")
    # Five screenshots and four pages; the shared skeleton stays (seq 9 references it).
    expected = {filled.shots[(ROLLING, n)] for n in range(5)} | {
        filled.pages[n] for n in (0, 1, 3, 4)
    }
    assert set(stretch.blobs) == expected
    assert stretch.blob_bytes == sum(store.blobs.path(b).stat().st_size for b in expected)
    assert by[HELD].stretch is None and by[HELD].retention == "hold"
    assert by[GONE].stretch is None and by[GONE].retention == retention.NOT_CONFIGURED
    assert "prune seq 1–5, 5 observation(s) (1 available, 4 no_slot)" in by[ROLLING].line()
    assert "5 observation(s) of 1 chain(s) to prune, 9 evidence blob(s)" in planned.summary()
    assert store.count(ROLLING) == 10 and all(store.blobs.exists(b) for b in expected)


def test_apply_prunes_keeps_what_is_held_or_referenced_and_the_store_verifies(
    filled: Fixture,
) -> None:
    store = filled.store
    held, gone = _docs(store, HELD), _docs(store, GONE)
    done = _apply(store)
    assert [s.seqs() for s in done.summaries] == ["seq 1–5"]
    assert (done.blobs_removed, done.refused) == (9, [])
    assert store.count(ROLLING) == 5 and _docs(store, HELD) == held and _docs(store, GONE) == gone
    for n in range(5):
        assert not store.blobs.exists(filled.shots[(ROLLING, n)])
    assert store.blobs.exists(filled.shared)  # pruned seq 3 and kept seq 9 both reference it
    assert all(store.blobs.exists(filled.shots[(HELD, n)]) for n in range(6))
    assert all(store.blobs.exists(filled.shots[(ROLLING, n)]) for n in range(5, 10))
    report = verify_store(store)
    assert report.ok, report.render()
    assert report.observations == 5 + 6 + 3
    summary = done.summaries[0]
    assert summary.first_prev_hash is None and summary.observations == 5
    assert summary.covered and summary.covered[0].seq == 4  # the checkpoint's head, pruned
    (line,) = report.pruned
    assert line.startswith(f"{ROLLING} seq 1–5 (2025-01-06T09:00")
    assert "under « rolling 5d »: 5 observation(s) (1 available, 4 no_slot)" in line
    assert "Pruned by retention: rolling-a seq 1–5" in report.render()
    # The checkpoint named a pruned head: the summary vouches for it, so a new one extends it.
    assert checkpoints.write(store).by_target()[ROLLING] == (10, _head_hash(store, ROLLING))
    assert verify_store(store).ok


def test_show_links_the_first_kept_observation_to_the_pruned_period(filled: Fixture) -> None:
    store = filled.store
    _apply(store)
    first = next(store.iter_observations(target=ROLLING))
    checks = {c.name: c for c in inspect(store, first.id).checks}
    link = checks["previous link"]
    assert link.ok and "the last observation of seq 1–5, pruned by retention" in link.note


def test_a_version_2_store_opened_read_only_has_no_pruned_period(
    filled: Fixture, data_dir: Path, database_url: str | None
) -> None:
    """`show`, `observations` and `export` open the store read-only, which upgrades nothing."""
    store = filled.store
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE pruned_segments"))
        conn.execute(sa.delete(schema_version).where(schema_version.c.version == 3))
    with open_read_only(data_dir, database_url) as read_only:
        second = next(read_only.iter_observations(target=ROLLING, since=BASE + DAY))
        assert all(c.ok for c in inspect(read_only, second.id).checks)
        assert retention.pruned_in(read_only, [ROLLING], BASE, NOW) == []


def _head_hash(store: Store, target_id: str) -> str:
    last = store.last_for_target(target_id)
    assert last is not None and last.hash is not None
    return last.hash


def test_a_second_apply_is_a_no_op_and_a_later_one_extends_the_summaries(
    filled: Fixture,
) -> None:
    store = filled.store
    _apply(store)
    before = list(store.scan(sa.select(pruned_segments)))
    again = _apply(store)
    assert (again.summaries, again.blobs_removed) == ([], 0)
    assert list(store.scan(sa.select(pruned_segments))) == before
    later = NOW + 2 * DAY  # seq 6 and 7 are now due too
    second = retention.apply(store, retention.plan(store, CLASSES, later, ANY_TIME), later)
    assert [s.seqs() for s in second.summaries] == ["seq 6–7"]
    assert second.summaries[0].first_prev_hash == json.loads(before[0].doc)["last_hash"]
    report = verify_store(store)
    assert report.ok, report.render()
    assert len(report.pruned) == 2 and store.count(ROLLING) == 3


def test_the_head_is_kept_even_when_every_observation_is_due(filled: Fixture) -> None:
    store = filled.store
    late = NOW + 400 * DAY
    classes = {**CLASSES, HELD: RetentionClass(DAY)}
    done = retention.apply(store, retention.plan(store, classes, late, ANY_TIME), late)
    assert sorted(s.seqs() for s in done.summaries) == ["seq 1–5", "seq 1–9"]
    assert store.count(ROLLING) == 1 and store.count(HELD) == 1 and store.count(GONE) == 3
    assert verify_store(store).ok


def test_a_checkpoint_naming_a_pruned_head_holds_by_its_summary(filled: Fixture) -> None:
    store = filled.store
    folder = checkpoints.data_dir_of(store)
    old = (folder / checkpoints.FILE).read_bytes()  # names rolling-a seq 4
    _apply(store)
    (folder / checkpoints.FILE).write_bytes(old)
    report = verify_store(store)
    assert report.ok, report.render()
    with store.engine.begin() as conn:  # a summary that no longer names seq 4's head
        (row,) = conn.execute(sa.select(pruned_segments)).all()
        doc = json.loads(row.doc)
        doc["covered"] = []
        body = retention.pruned.Summary.model_validate(doc).body()
        key = checkpoints.read_key(folder)
        conn.execute(sa.update(pruned_segments).values(
            doc=body.decode(), digest=retention.pruned.Summary.model_validate(doc).digest(),
            signature=checkpoints.sign(key, body)))  # fmt: skip
    problems = verify_store(store).pruned_problems
    assert problems and "which was pruned, but no summary" in problems[0]


def _stamped(folder: Path, tmp_path: Path) -> tuple[Authority, checkpoints.Checkpoint]:
    """A local TSA's token over the current checkpoint (the fixture's: it names seq 4)."""
    fake = make_authority(tmp_path / "tsa")
    served = LocalTSA(fake).start()
    try:
        authority = timestamps.Authority(served.url, fake.ca, 10.0, 60.0, "watchdog tests")
        loaded = checkpoints.load(folder).checkpoint
        assert loaded is not None
        checkpoints.stamp(folder, loaded, authority)
    finally:
        served.stop()
    return fake, loaded


def test_a_timestamp_over_a_pruned_head_still_verifies(filled: Fixture, tmp_path: Path) -> None:
    store = filled.store
    folder = checkpoints.data_dir_of(store)
    fake, _stamp = _stamped(folder, tmp_path)
    done = _apply(store)
    (covered,) = done.summaries[0].covered
    assert (covered.seq, covered.timestamped) == (4, True)
    report = verify_store(store, tsa_ca=fake.ca)
    assert report.ok, report.render()
    assert "1 valid timestamp(s):" in report.render()


def test_a_token_set_aside_by_checkpoint_force_still_covers_its_heads(
    filled: Fixture, tmp_path: Path
) -> None:
    store = filled.store
    folder = checkpoints.data_dir_of(store)
    _tsa, loaded = _stamped(folder, tmp_path)
    checkpoints.write(store, force=True)  # moves the token into timestamps-replaced-…/
    (aside,) = folder.glob(f"{timestamps.DIR}-replaced-*")
    assert timestamps.names_under(aside) == [loaded.digest]
    assert timestamps.names_in(folder) == []
    for replaced in folder.glob("checkpoint-replaced-*.json"):
        replaced.unlink()  # the body beside the token is then the only copy of that checkpoint
    done = _apply(store)
    (covered,) = done.summaries[0].covered
    assert (covered.checkpoint, covered.seq, covered.timestamped) == (loaded.digest, 4, True)
    assert verify_store(store).ok


def test_the_store_measure_counts_the_pruned_observations_per_target(filled: Fixture) -> None:
    assert pruned_observations(filled.store.engine) == {}
    _apply(filled.store)
    later = NOW + 3 * DAY
    retention.apply(filled.store, retention.plan(filled.store, CLASSES, later, ANY_TIME), later)
    assert pruned_observations(filled.store.engine) == {ROLLING: 8}  # seq 1–5, then 6–8
    assert store_size(filled.store.engine, filled.store.blobs.root).pruned == {ROLLING: 8}


def _tamper(store: Store, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(pruned_segments).values(**values))


def test_an_altered_summary_is_found(filled: Fixture) -> None:
    store = filled.store
    _apply(store)
    (row,) = store.scan(sa.select(pruned_segments))
    doc = json.loads(row.doc)
    doc["outcomes"] = {"no_slot": 5}  # the available one hidden
    forged = retention.pruned.Summary.model_validate(doc)
    _tamper(store, doc=forged.body().decode(), digest=forged.digest())
    report = verify_store(store)
    assert not report.ok
    assert report.pruned_problems == [
        f"the summary of {ROLLING} seq 1–5: its signature does not match its content: "
        "it was altered"
    ]
    _tamper(store, doc=row.doc, digest="0" * 64)
    assert "its digest is not the SHA-256" in verify_store(store).pruned_problems[0]


def test_a_removed_summary_is_found(filled: Fixture) -> None:
    store = filled.store
    _apply(store)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(pruned_segments))
    report = verify_store(store)
    assert not report.ok
    assert any(b.target == ROLLING and "seq 1 to 5 missing" in b.problem for b in report.breaks)


def test_a_summary_signed_with_another_key_is_found(filled: Fixture) -> None:
    store = filled.store
    _apply(store)
    key_file = checkpoints.data_dir_of(store) / checkpoints.KEY_FILE
    key_file.write_text(os.urandom(32).hex() + "\n")
    problems = verify_store(store).pruned_problems
    assert any("not with this data directory's key" in p for p in problems)


# Run in a child process that dies with os._exit (no rollback, no cleanup: a power cut as the
# database sees it) either inside the transaction, after its statements, or after the commit.
CRASHING_APPLY = """
import os, sys
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from watchdog.config.schema import RetentionClass
from watchdog.store import Store, retention

data_dir, url, now, point = sys.argv[1:]
store = Store.open(Path(data_dir), url or None)
if point == "in_transaction":
    real = Store.transaction

    @contextmanager
    def dying(self):
        with real(self) as conn:
            yield conn
            os._exit(9)

    Store.transaction = dying
else:
    retention._remove_blobs = lambda *args: os._exit(9)
classes = {"rolling-a": RetentionClass(timedelta(days=5)), "held-b": RetentionClass(None)}
when = datetime.fromisoformat(now)
retention.apply(store, retention.plan(store, classes, when, float("inf")), when)
"""


def _crash(store: Store, database_url: str | None, point: str) -> None:
    folder = checkpoints.data_dir_of(store)
    argv = [sys.executable, "-c", CRASHING_APPLY, str(folder), database_url or "", NOW.isoformat()]
    done = subprocess.run([*argv, point], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr


def test_a_crash_after_the_commit_is_finished_by_the_next_apply(
    filled: Fixture, database_url: str | None
) -> None:
    store = filled.store
    _crash(store, database_url, "after_commit")
    journal = checkpoints.data_dir_of(store) / retention.JOURNAL_DIR
    assert len(list(journal.glob("*.json"))) == 1
    assert store.count(ROLLING) == 5  # committed
    assert verify_store(store).ok  # the blobs are only orphans
    done = _apply(store)
    assert (done.resumed, done.blobs_removed, done.summaries) == (1, 9, [])
    assert not list(journal.glob("*.json"))
    assert not store.blobs.exists(filled.shots[(ROLLING, 0)])
    assert verify_store(store).ok


def test_a_crash_inside_the_transaction_leaves_the_store_whole(
    filled: Fixture, database_url: str | None
) -> None:
    store = filled.store
    _crash(store, database_url, "in_transaction")
    assert store.count(ROLLING) == 10 and not list(store.scan(sa.select(pruned_segments)))
    report = verify_store(store)
    assert report.ok, report.render()
    assert all(store.blobs.exists(b) for b in filled.shots.values())
    done = _apply(store)  # the journal of the prune that never committed is dropped
    assert (done.resumed, [s.seqs() for s in done.summaries]) == (0, ["seq 1–5"])
    assert not list((checkpoints.data_dir_of(store) / retention.JOURNAL_DIR).glob("*.json"))
    assert verify_store(store).ok


def test_a_blob_reused_lately_is_kept(filled: Fixture) -> None:
    store = filled.store
    reused, written = filled.shots[(ROLLING, 0)], filled.shots[(ROLLING, 1)]
    before = store.blobs.path(reused).stat()
    newest = max(store.blobs.path(sha).stat().st_ctime for sha in store.blobs)
    # File times come from the kernel's coarse clock (a tick behind): leave it a margin.
    wait_until(lambda: _later_than(newest + 0.05), 10, "the clock to pass the last write")
    since = newest + 0.02
    store.blobs.put(b"shot rolling-a 0", "screenshot")  # a probe about to reference it
    after = store.blobs.path(reused).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    planned = retention.plan(store, CLASSES, NOW, since)
    stretch = next(t.stretch for t in planned.targets if t.target == ROLLING)
    assert stretch is not None and reused not in stretch.blobs and written in stretch.blobs
    retention.apply(store, planned, NOW)
    assert store.blobs.exists(reused) and not store.blobs.exists(written)


def _later_than(instant: float) -> float | None:
    """Now, once the clock has passed `instant` (file times are the machine's clock)."""
    now = time.time()
    return now if now > instant else None


def test_a_stretch_that_does_not_verify_is_not_pruned(filled: Fixture) -> None:
    store = filled.store
    edit_document(store, ROLLING, 3, lambda text: text.replace("no_slot", "no_slo_"))
    planned = retention.plan(store, CLASSES, NOW, ANY_TIME)
    (refused,) = [t for t in planned.targets if t.refused]
    assert refused.target == ROLLING and "seq 3 does not verify" in str(refused.refused)
    assert retention.apply(store, planned, NOW).summaries == []
    assert store.count(ROLLING) == 10


def test_a_blob_another_stretch_references_stays_while_that_stretch_is_refused(
    store: Store, make_observation: MakeObs
) -> None:
    fx = Fixture(store)
    store.append_many([fx.obs(make_observation, ROLLING, n) for n in range(10)])
    shot = fx.shots[(ROLLING, 0)]
    other = [fx.obs(make_observation, "other", n) for n in range(10)]
    other[0] = other[0].model_copy(update={"evidence": EvidenceRefs(screenshot=shot)})
    store.append_many(other)
    # other's stretch will not verify: it is refused
    edit_document(store, "other", 3, lambda text: text.replace("no_slot", "no_slo_"))
    classes = {ROLLING: RetentionClass(5 * DAY), "other": RetentionClass(5 * DAY)}
    done = retention.apply(store, retention.plan(store, classes, NOW, ANY_TIME), NOW)
    assert [s.target for s in done.summaries] == [ROLLING]
    assert store.blobs.exists(shot) and not store.blobs.exists(fx.shots[(ROLLING, 1)])
    assert store.count("other") == 10


def test_a_bundle_over_a_pruned_store_verifies(filled: Fixture, tmp_path: Path) -> None:
    store = filled.store
    _apply(store)
    out = tmp_path / "lot.zip"
    result = export_bundle(
        store,
        [target(ROLLING, platform="rdv_prefecture")],
        since=BASE,  # the first five days were pruned
        until=NOW,
        out=out,
        report=ReportOptions(formats=("html",), generated_at=NOW),
    )
    assert result.observations == 5
    check = verify_bundle(out)
    assert check.ok, check.render()
    readme = zipfile.ZipFile(out).read("LISEZMOI.txt").decode()
    assert "Périodes supprimées par la politique de conservation" in readme
    assert (
        f"  - {ROLLING}\u00a0: n°\u00a01 à 5, 5\u00a0observations, du 6\u00a0janvier 2025 à "
        "10\u00a0h\u00a000 au 10\u00a0janvier 2025 à 10\u00a0h\u00a000, supprimées le"
    ) in readme
    assert f"  - {ROLLING}: seq 1–5, 5\u00a0observations, from 6\u00a0January 2025, 10:00" in readme


def test_a_bundle_after_the_pruned_period_says_nothing_of_it(
    filled: Fixture, tmp_path: Path
) -> None:
    store = filled.store
    _apply(store)
    out = tmp_path / "lot.zip"
    options = ReportOptions(formats=("html",), generated_at=NOW)
    rolling = [target(ROLLING, platform="rdv_prefecture")]
    export_bundle(store, rolling, since=BASE + 6 * DAY, until=NOW, out=out, report=options)
    assert "Périodes supprimées" not in zipfile.ZipFile(out).read("LISEZMOI.txt").decode()
    assert verify_bundle(out).ok


# -- the configuration and the CLI ---------------------------------------------------------


TARGET = """
  - id: {id}
    department: "93"
    prefecture: Seine-Saint-Denis
    procedure: premiere_demande
    label: {id}
    platform: rdv_prefecture
    url: http://127.0.0.1:9/{id}
    tags: {tags}
"""


def _config(tmp_path: Path, retention_yaml: str, tags: str = "[]") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        "watchdog:\n  data_dir: data\n  allowed_hosts: ['127.0.0.1']\n  min_interval: 10s\n"
        + retention_yaml
        + "targets:"
        + TARGET.format(id=ROLLING, tags=tags)
        + TARGET.format(id=HELD, tags="[case-2026-1]")
    )
    return path


def test_retention_classes_follow_targets_and_tags(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            "retention:\n  default: {rolling: 90d}\n  targets: {rolling-a: {rolling: 30d}}\n"
            "  tags: {case-2026-1: hold, campaign: {rolling: 60d}}\n",
            tags="[campaign]",
        )
    )
    by = {t.id: config.retention_for(t) for t in config.targets}
    assert str(by[ROLLING]) == "rolling 60d"  # the longest of its own and its tag's
    assert by[HELD].held and str(by[HELD]) == "hold"
    assert str(load_config(_config(tmp_path / "d", "")).retention.default) == "rolling 400d"


@pytest.mark.parametrize(
    ("yaml", "line", "key", "says"),
    [
        ("retention:\n  default: forever\n", 6, "retention.default", "expected `hold` or"),
        ("retention:\n  default: {rolling: 12h}\n", 6, "retention.default", "at least 1d"),
        ("retention:\n  default: {rolling: soon}\n", 6, "retention.default", "invalid duration"),
        ("retention:\n  targets: {nope: hold}\n", 6, "retention.targets.nope", "no target"),
        ("retention:\n  tags: {typo: hold}\n", 6, "retention.tags.typo", "no target has this"),
        ("retention:\n  keep: 3\n", 6, "retention.keep", "unknown key"),
    ],
)
def test_bad_retention_settings_are_named_by_file_line_and_key(
    tmp_path: Path, yaml: str, line: int, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, yaml))
    text = str(info.value)
    assert f"watchdog.yaml:{line}" in text and key in text and says in text, text


def test_a_bad_target_tag_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, "", tags="['Bad Tag']"))
    assert "targets[0].tags.0" in str(info.value) or "tags" in str(info.value)


def test_the_cli_plans_applies_and_logs(
    tmp_path: Path,
    make_observation: MakeObs,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _config(tmp_path, "retention:\n  targets: {rolling-a: {rolling: 5d}}\n")
    data = tmp_path / "data"
    now = datetime.now(UTC)
    with Store.open(data) as store:
        fx = Fixture(store)
        for target_id in (ROLLING, HELD):
            store.append_many(
                [
                    fx.obs(make_observation, target_id, n).model_copy(
                        update={
                            "started_at": now - (9 - n) * DAY,
                            "finished_at": now - (9 - n) * DAY,
                        }
                    )
                    for n in range(10)
                ]
            )
    assert main(["retention", "plan", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{ROLLING} (rolling 5d): 10 observation(s); prune seq 1–5" in out
    assert f"{HELD} (rolling 400d): 10 observation(s); nothing to prune" in out
    assert "dry run, nothing pruned" in out
    # Written a moment ago: a probe may be about to reference them, so they stay for now.
    assert "0 evidence blob(s) freed (0 bytes), 9 kept for now (written or reused lately)" in out
    assert main(["retention", "apply", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("pruned 5 observation(s) of 1 chain(s), removed")
    entries = [json.loads(line) for line in (data / access.FILE).read_text().splitlines()]
    assert [(e["action"], e["targets"]) for e in entries] == [("retention", [ROLLING])]
    assert main(["verify", "--config", str(path)]) == 0
    assert "Pruned by retention: rolling-a seq 1–5" in capsys.readouterr().out
    assert main(["retention", "apply", "--config", str(path)]) == 0
    assert "pruned 0 observation(s) of 0 chain(s)" in capsys.readouterr().out
    # A report over the pruned days says why it has nothing; a bundle names what is left out.
    first, last = ((now - d * DAY).astimezone(PARIS).date().isoformat() for d in (9, 6))
    period = ["--from", first, "--to", last, "--config", str(path), "--target", ROLLING]
    assert main(["report", *period, "--out", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err
    assert f"pruned by retention: {ROLLING} seq 1–5, 5 observation(s) from" in err
    assert "(retention pruned it: see above)" in err
    period[3] = (now - 2 * DAY).astimezone(PARIS).date().isoformat()
    assert main(["bundle", *period, "--out", str(tmp_path / "lot.zip")]) == 0
    assert f"pruned by retention: {ROLLING} seq 1–5" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "lot.zip")]) == 0


def test_an_incremental_verify_from_a_mark_retention_pruned_past_starts_after_the_summary(
    filled: Fixture,
) -> None:
    store = filled.store
    marked = verify_store(store)  # marks the checkpoint naming rolling-a seq 4
    assert marked.ok and marked.marked, marked.render()
    _apply(store)  # prunes rolling-a seq 1–5: the marked observation is gone
    report = verify_store(store, since_checkpoint=True)
    assert report.ok, report.render()
    assert report.since is not None  # incremental, from the mark
    # rolling-a from its first kept seq (6–10), held-b and removed-c from their marked seq.
    assert report.observations == 5 + 1 + 1
    assert "Pruned by retention: rolling-a seq 1–5" in report.render()
