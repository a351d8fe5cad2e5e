"""Reading the record (issue 15): `observations`, `show`, `status` evidence, never a write.

Real stores on SQLite and PostgreSQL, filled by `Store.append` with real blobs (a PNG, a page
kept as skeleton + volatile record); the commands run through `watchdog.cli.main` or the
installed `watchdog` entry point.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from harness import Sim, probe_and_store, target, write_config
from PIL import Image
from recordfix import PAGE, TOKEN, MakeObs, Recorded, catalog_target, record, run_on_terminal

from watchdog.cli.main import main
from watchdog.cli.probe import dry_run
from watchdog.domain.errors import StoreError
from watchdog.domain.models import EvidenceRefs, Observation, Outcome
from watchdog.evidence.volatile import keep_page
from watchdog.store import BlobStore, Store
from watchdog.store.connect import SQLITE_FILE
from watchdog.store.db import EVIDENCE_DIR
from watchdog.store.evidencefiles import SUMS, open_evidence
from watchdog.store.record import COLUMNS, inspect, open_read_only
from watchdog.store.schema import observations

EXE = Path(sys.executable).parent / "watchdog"


@pytest.fixture
def recorded(tmp_path: Path, database_url: str | None, make_observation: MakeObs) -> Recorded:
    return record(tmp_path, database_url, make_observation)


def run_json(recorded: Recorded, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert recorded.run(*argv) == 0
    return json.loads(capsys.readouterr().out)


# -- observations ---------------------------------------------------------------------------


def test_observations_json_gives_every_field_in_time_order(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("observations", "--json") == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["id"] for r in rows] == [
        recorded.ids["paris-a"][0], recorded.ids["bobigny-b"][0], recorded.ids["paris-a"][1],
        recorded.ids["paris-a"][2], recorded.ids["bobigny-b"][1],
    ]  # fmt: skip
    assert "5 observation(s) of 2 target(s); nothing written" in captured.err
    first = rows[0]
    assert list(first) == list(COLUMNS)
    # T0 is 08:00:00.123456 UTC on 3 March 2025: 09:00 in Paris (CET, +01:00).
    assert first["started_paris"] == "2025-03-03T09:00:00+01:00"
    assert first["started_utc"] == "2025-03-03T08:00:00.123456Z"
    assert (first["department"], first["prefecture"], first["seq"]) == ("75", "Paris", 1)
    assert first["outcome"] == "no_slot" and first["detail"] == "no_slot"
    assert first["message"].startswith("Il n'existe plus de plage horaire libre")
    available = rows[2]
    assert (available["slots"], available["earliest_slot"]) == (8, "2025-03-20T09:30:00.000000")
    sealed = recorded.stored[first["id"]]
    assert first["hash"] == sealed.hash
    for kind in ("screenshot", "framed", "html", "html_volatile"):
        path = Path(first[f"evidence_{kind}"])
        assert path.is_file() and path.name == getattr(sealed.evidence, kind)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert first["evidence_trace"] is None


def test_observations_csv_is_one_row_per_observation(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("observations", "--csv") == 0
    captured = capsys.readouterr()
    reader = csv.DictReader(io.StringIO(captured.out))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    rows = list(reader)
    assert len(rows) == 5
    assert rows[2]["slots"] == "8" and rows[0]["slots"] == ""
    assert rows[1]["outcome"] == "site_error" and rows[1]["detail"] == "http_502"
    assert "5 observation(s)" in captured.err  # the summary stays out of the CSV


def test_observations_show_progress_on_a_terminal_only(
    tmp_path: Path, make_observation: MakeObs
) -> None:
    """`watchdog observations --csv > file` at a terminal: a bar on stderr, the CSV intact."""
    recorded = record(tmp_path, None, make_observation)
    argv = ["observations", "--csv", "--config", str(recorded.config_path)]
    code, stdout, seen = run_on_terminal(argv)
    assert code == 0
    assert b"reading observations" in seen and b"5/5" in seen
    assert b"5 observation(s) of 2 target(s); nothing written" in seen
    assert len(list(csv.DictReader(io.StringIO(stdout)))) == 5


def test_observations_table_names_time_outcome_and_evidence(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("observations", "--target", "paris-a") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Paris", "time", "UTC"]
    assert "2025-03-03 09:00:00  2025-03-03 08:00:00  paris-a  no_slot (no_slot)" in out
    assert "available (slots_offered)  8" in out
    framed = recorded.stored[recorded.ids["paris-a"][0]].evidence.framed
    assert framed is not None and framed in out
    assert lines[-1] == "3 observation(s) of 1 target(s); nothing written"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target", "bobigny-b"], [("bobigny-b", 0), ("bobigny-b", 1)]),
        (["--department", "75"], [("paris-a", 0), ("paris-a", 1), ("paris-a", 2)]),
        (["--department", "75", "--target", "bobigny-b"], []),
        (["--outcome", "site_error,available"], [("bobigny-b", 0), ("paris-a", 1)]),
        (["--outcome", "no_slot", "--department", "93"], [("bobigny-b", 1)]),
        # T0 + 15 min × 200 = 5 March 2025 10:00 UTC; the early ones are on 3 March.
        (["--from", "2025-03-04"], [("paris-a", 2), ("bobigny-b", 1)]),
        (["--to", "2025-03-03"], [("paris-a", 0), ("bobigny-b", 0), ("paris-a", 1)]),
        (["--from", "2025-03-03T09:15+01:00", "--to", "2025-03-03T09:01:00Z"],
         [("bobigny-b", 0), ("paris-a", 1)]),
        (["--from", "2025-03-06"], []),
    ],
)  # fmt: skip
def test_observations_filters(
    recorded: Recorded,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: list[tuple[str, int]],
) -> None:
    rows = run_json(recorded, capsys, "observations", "--json", *argv)
    assert [r["id"] for r in rows] == [recorded.ids[t][i] for t, i in expected]


def test_observations_refuse_a_bad_outcome_and_a_naive_instant(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as bad:
        recorded.run("observations", "--outcome", "nope")
    assert bad.value.code == 2 and "is not" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as naive:
        recorded.run("observations", "--from", "2025-03-03T09:00")
    assert naive.value.code == 2 and "has no offset" in capsys.readouterr().err
    assert recorded.run("observations", "--department", "01") == 1
    assert "no target of département 01" in capsys.readouterr().err


# -- show -----------------------------------------------------------------------------------


def test_show_gives_chain_position_and_verification(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    obs_id = recorded.ids["paris-a"][1]
    assert recorded.run("show", obs_id) == 0
    out = capsys.readouterr().out
    sealed = recorded.stored[obs_id]
    assert f"observation {obs_id}" in out
    assert "outcome     available (slots_offered)" in out
    assert "journey     75 Paris — Première demande Paris" in out
    assert "started     2025-03-03T10:00:00+01:00 (Paris)" in out
    previous, following = recorded.ids["paris-a"][0], recorded.ids["paris-a"][2]
    assert f"chain       seq 2 of 3 for paris-a (previous {previous}, next {following})" in out
    assert f"hash        {sealed.hash}" in out
    assert "verification: verified" in out
    for name in ("hash", "previous link", "next link", "framed", "page as served"):
        assert f"ok   {name}:" in out


def test_show_json_and_a_damaged_blob(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    obs_id = recorded.ids["bobigny-b"][1]
    shown = run_json(recorded, capsys, "show", obs_id, "--json")
    sealed = recorded.stored[obs_id]
    assert shown["observation"]["id"] == obs_id and shown["observation"]["hash"] == sealed.hash
    assert shown["chain"] == {"target": "bobigny-b", "seq": 2, "length": 2,
                              "previous": recorded.ids["bobigny-b"][0], "next": None}  # fmt: skip
    assert shown["verified"] is True
    assert {c["name"] for c in shown["checks"]} >= {"hash", "previous link", "screenshot"}
    framed = Path(shown["evidence_paths"]["framed"])
    framed.chmod(0o644)
    framed.write_bytes(b"not the capture")
    assert recorded.run("show", obs_id) == 1
    out = capsys.readouterr().out
    assert "verification: NOT VERIFIED" in out
    assert f"FAIL framed: blob {framed.name} does not hash to its name" in out


def test_show_unknown_id_fails_in_one_line(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("show", "obs-nope") == 1
    assert "error: no observation 'obs-nope' in the store" in capsys.readouterr().err


def test_show_export_writes_named_files_whose_hashes_the_record_names(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obs_id = recorded.ids["paris-a"][0]
    folder = tmp_path / "exported"
    assert recorded.run("show", obs_id, "--export", str(folder)) == 0
    assert f"wrote 6 evidence file(s) and SHA256SUMS to {folder}" in capsys.readouterr().err
    sealed = recorded.stored[obs_id]
    expected = {
        "screenshot.png": sealed.evidence.screenshot,
        "framed.png": sealed.evidence.framed,
        "page-skeleton.html": sealed.evidence.html,
        "page-volatile.json": sealed.evidence.html_volatile,
        "page.html": sealed.evidence.html_sha256,
        "observation.json": sealed.hash,
    }
    assert sorted(p.name for p in folder.iterdir()) == sorted([*expected, SUMS])
    for name, sha in expected.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha, name
    assert (folder / "page.html").read_text(encoding="utf-8") == PAGE
    assert TOKEN not in (folder / "page-skeleton.html").read_text(encoding="utf-8")
    assert Image.open(folder / "framed.png").format == "PNG"
    checked = subprocess.run(["sha256sum", "-c", SUMS], cwd=folder, capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.count(": OK") == 6


def test_show_open_exports_and_opens_the_framed_capture(recorded: Recorded, tmp_path: Path) -> None:
    """Through the installed entry point, with a BROWSER that notes what it was asked."""
    opener = tmp_path / "opener.sh"
    seen = tmp_path / "opened.txt"
    opener.write_text(f'#!/bin/sh\necho "$1" >> {seen}\n', encoding="utf-8")
    opener.chmod(0o755)
    obs_id = recorded.ids["paris-a"][0]
    env = {**os.environ, "BROWSER": f"{opener} %s", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [str(EXE), "show", obs_id, "--open", "--config", str(recorded.config_path)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    opened = Path(seen.read_text(encoding="utf-8").strip().removeprefix("file://"))
    assert opened.name == "framed.png" and opened.parent.parent == tmp_path
    digest = hashlib.sha256(opened.read_bytes()).hexdigest()
    assert digest == recorded.stored[obs_id].evidence.framed
    assert f"opened {opened}" in done.stderr


# -- status ---------------------------------------------------------------------------------


def test_status_names_the_evidence_of_the_last_observations(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("status") == 0
    out = capsys.readouterr().out
    assert "evidence of the last observations" in out
    last = recorded.stored[recorded.ids["paris-a"][-1]]
    blobs = BlobStore(recorded.config.watchdog.data_dir / EVIDENCE_DIR)
    framed = blobs.path(last.evidence.framed or "")
    assert f"paris-a    framed      {framed}" in out
    status = run_json(recorded, capsys, "status", "--json")
    rows = {row["target"]: row for row in status["targets"]}
    assert rows["paris-a"]["last_id"] == last.id
    assert rows["paris-a"]["evidence"]["framed"] == str(framed)
    assert set(rows["bobigny-b"]["evidence"]) == {"screenshot", "framed", "html", "html_volatile"}


# -- never a write --------------------------------------------------------------------------


def test_reading_commands_leave_the_sqlite_file_untouched(
    tmp_path: Path, make_observation: MakeObs
) -> None:
    """observations, show (with --export), status, through the entry point: same bytes, mtime."""
    config = write_config(tmp_path, [catalog_target("paris-a", "75", "Paris")])
    data_dir = config.watchdog.data_dir
    with Store.open(data_dir, None) as store:
        obs_id = store.append(make_observation("paris-a", 0)).id
    database = data_dir / SQLITE_FILE
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    listing = sorted(p.name for p in data_dir.iterdir())
    for argv in (["observations"], ["observations", "--csv"], ["show", obs_id],
                 ["show", obs_id, "--export", str(tmp_path / "out")], ["status"]):  # fmt: skip
        done = subprocess.run([str(EXE), *argv, "--config", str(config.source)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, (argv, done.stderr)
        assert (database.read_bytes(), database.stat().st_mtime_ns) == before, argv
    # A reader of a WAL database may add SQLite's shared-memory index beside it, never a page.
    added = set(os.listdir(data_dir)) - set(listing)
    assert added <= {"watchdog.sqlite3-wal", "watchdog.sqlite3-shm"}
    if "watchdog.sqlite3-wal" in added:
        assert (data_dir / "watchdog.sqlite3-wal").stat().st_size == 0


def test_a_missing_data_dir_is_never_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, [catalog_target("paris-a", "75", "Paris")])
    data_dir = config.watchdog.data_dir
    argv = ["--config", str(config.source)]
    assert main(["observations", *argv]) == 1
    assert f"error: no observation store at {data_dir / SQLITE_FILE}" in capsys.readouterr().err
    assert main(["show", "obs-x", *argv]) == 1
    assert main(["status", *argv]) == 0
    assert "paris-a" in capsys.readouterr().out
    assert not data_dir.exists()


def test_the_read_only_store_refuses_writes(recorded: Recorded) -> None:
    watchdog = recorded.config.watchdog
    with open_read_only(watchdog.data_dir, watchdog.database_url) as reader:
        assert reader.count() == 5
        with pytest.raises(sa.exc.DBAPIError), reader.engine.begin() as conn:
            conn.execute(sa.delete(observations))
        with pytest.raises(StoreError):
            reader.append(recorded.stored[recorded.ids["paris-a"][0]])
    with Store.open(watchdog.data_dir, watchdog.database_url) as store:
        assert store.count() == 5


# -- probe --dry-run ------------------------------------------------------------------------


def test_probe_dry_run_probes_the_simulator_and_stores_nothing(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sim.entry_url("legacy-no-slot")
    config = write_config(tmp_path, [target("ain", "legacy_booking", url)])
    sim.reset()
    assert main(["probe", "ain", "--dry-run", "--json", "--config", str(config.source)]) == 0
    captured = capsys.readouterr()
    obs = Observation.model_validate_json(captured.out)
    assert (obs.target, obs.outcome, obs.hash, obs.prev_hash) == (
        "ain",
        Outcome.NO_SLOT,
        None,
        None,
    )
    assert obs.evidence.html is not None  # named by its hash, kept nowhere
    assert "dry run: nothing stored" in captured.err
    assert any(r.get("path", "").startswith("/booking/create/9001") for r in sim.requests())
    assert not config.watchdog.data_dir.exists()


def test_dry_run_on_a_store_leaves_its_chains_as_they_were(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a stored probe, a dry run through the runner adds no row and no blob."""
    url = sim.entry_url("legacy-slots")
    config = write_config(tmp_path, [target("ain", "legacy_booking", url)])
    stored = probe_and_store(sim, config, "ain")
    blobs = sorted(BlobStore(config.watchdog.data_dir / EVIDENCE_DIR))
    obs = sim.loop.run(dry_run(config, "ain", as_json=False, debug=True, host=sim.host))
    assert obs.outcome is Outcome.AVAILABLE and obs.slots == stored.slots
    out = capsys.readouterr().out
    assert "outcome     available" in out and f"slots       {stored.slots}" in out
    assert "evidence (dry run: not kept)" in out
    assert ["html", obs.evidence.html] in [line.split() for line in out.splitlines()]
    assert "watchdog_probe_outcomes_total{" in out and "step trail" in out
    with open_read_only(config.watchdog.data_dir, None) as reader:
        assert reader.count() == 1
        assert reader.last_for_target("ain") == stored
    assert sorted(BlobStore(config.watchdog.data_dir / EVIDENCE_DIR)) == blobs


def test_open_without_a_capture_opens_the_folder_never_the_page(
    store: Store,
    data_dir: Path,
    database_url: str | None,
    make_observation: MakeObs,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A DOM-only observation: the page's scripts must not run, so the folder is opened."""
    refs = EvidenceRefs()
    keep_page(refs, PAGE, store.blobs.put)
    sealed = store.append(make_observation("paris-a", 0, evidence=refs))
    asked: list[str] = []
    monkeypatch.setattr("watchdog.store.evidencefiles.webbrowser.open", asked.append)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with open_read_only(data_dir, database_url) as reader:
        found = inspect(reader, sealed.id)
        opened = open_evidence(found.observation, found.document, reader.blobs)
    assert opened.is_dir() and asked == [opened.as_uri()]
    assert sorted(p.name for p in opened.iterdir()) == [
        "SHA256SUMS",
        "observation.json",
        "page-skeleton.html",
        "page-volatile.json",
        "page.html",
    ]
