"""`watchdog export` (issue 15 item 3): CSV and Parquet one row per observation, typed, each
row's hash the chain's, daily aggregates, a bilingual data dictionary, no secret."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from docfix import edit_document
from recordfix import TOKEN, TRICKY_MESSAGE, MakeObs, Recorded, record, run_on_terminal

from watchdog.domain.models import Outcome, SlotSeen
from watchdog.opendata.export import DAILY_DEPARTEMENTS, DAILY_TARGETS, SCHEMA
from watchdog.store import Store
from watchdog.store.connect import SQLITE_FILE
from watchdog.store.schema import DOCUMENT, observations

PERIOD = ["--from", "2025-03-01", "--to", "2025-03-31"]
FILES = [
    "observations.csv", "observations.parquet", "daily_targets.csv", "daily_targets.parquet",
    "daily_departements.csv", "daily_departements.parquet", "README.md", "SHA256SUMS",
]  # fmt: skip


@pytest.fixture
def recorded(tmp_path: Path, database_url: str | None, make_observation: MakeObs) -> Recorded:
    return record(tmp_path, database_url, make_observation)


@pytest.fixture
def exported(recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "open-data"
    assert recorded.run("export", *PERIOD, "--out", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote 5 observation(s) of 2 target(s) to {out}: {', '.join(FILES)}\n"
    assert captured.err == ""  # no bar off a terminal
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_file_is_written_and_summed(exported: Path) -> None:
    assert sorted(p.name for p in exported.iterdir()) == sorted(FILES)
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=exported,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(FILES) - 1


def test_parquet_reads_back_every_column_with_its_type(exported: Path, recorded: Recorded) -> None:
    table = pq.read_table(exported / "observations.parquet")
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.schema.field("started_utc").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("slots").type == pa.int32()
    rows = table.to_pylist()
    # In the chains' order: target, then seq (time order within a target).
    assert [r["observation_id"] for r in rows] == [
        *recorded.ids["bobigny-b"],
        *recorded.ids["paris-a"],
    ]
    first, site_error, available = rows[2], rows[0], rows[3]
    assert first["started_utc"] == datetime(2025, 3, 3, 8, 0, 0, 123456, tzinfo=UTC)
    assert first["started_paris"].utcoffset().total_seconds() == 3600
    assert first["day_paris"] == date(2025, 3, 3)
    assert (first["code_departement"], first["nom_departement"], first["prefecture"]) == (
        "75", "Paris", "Paris")  # fmt: skip
    assert (first["procedure"], first["platform"]) == ("premiere_demande", "legacy_booking")
    assert (first["outcome"], first["counts_in_rates"], first["cimade_bucket"]) == (
        "no_slot", True, 5)  # fmt: skip
    assert first["message"].startswith("Il n'existe plus de plage horaire libre")
    assert first["duration_s"] == pytest.approx(4.00025)
    assert (site_error["nom_departement"], site_error["detail"]) == (
        "Seine-Saint-Denis",
        "http_502",
    )
    assert site_error["cimade_bucket"] is None and site_error["slots"] is None
    # Started 09:00:00 UTC (10:00 Paris) on 3 March; first slot 20 March 09:30 Paris: 407 h.
    assert available["slots"] == 8 and available["earliest_slot"] == datetime(2025, 3, 20, 9, 30)
    assert available["lead_days"] == round(407 / 24, 2) and available["cimade_bucket"] == 1
    assert rows[4]["message"] == TRICKY_MESSAGE and rows[4]["duration_s"] == pytest.approx(4.00025)


def test_csv_has_the_same_rows_as_text(exported: Path) -> None:
    rows = csv_rows(exported / "observations.csv")
    parquet = pq.read_table(exported / "observations.parquet").to_pylist()
    assert list(rows[0]) == SCHEMA.names
    assert [r["hash"] for r in rows] == [r["hash"] for r in parquet]
    first, available = rows[2], rows[3]  # paris-a's first two (bobigny-b's two come first)
    assert first["started_utc"] == "2025-03-03T08:00:00.123456Z"
    assert first["started_paris"] == "2025-03-03T09:00:00.123456+01:00"
    assert first["counts_in_rates"] == "true" and first["slots"] == ""
    assert available["earliest_slot"] == "2025-03-20T09:30:00" and available["slots"] == "8"
    assert rows[4]["message"] == TRICKY_MESSAGE


def test_each_row_hash_is_the_chain_s(exported: Path, recorded: Recorded) -> None:
    """Each row's hash is the SHA-256 of its stored document; prev_hash links a target's rows."""
    watchdog = recorded.config.watchdog
    with Store.open(watchdog.data_dir, watchdog.database_url) as store:
        docs = {r.id: r.doc for r in store.scan(sa.select(observations.c.id, *DOCUMENT))}
    last: dict[str, str | None] = {}
    for row in pq.read_table(exported / "observations.parquet").to_pylist():
        document = docs[row["observation_id"]].encode("utf-8")
        assert hashlib.sha256(document).hexdigest() == row["hash"]
        assert row["prev_hash"] == last.get(row["target"])
        last[row["target"]] = row["hash"]


def test_daily_aggregates_per_target_and_departement(exported: Path) -> None:
    targets = pq.read_table(exported / "daily_targets.parquet")
    assert targets.schema.equals(DAILY_TARGETS, check_metadata=False)
    day = date(2025, 3, 3)
    by_key = {(r["day_paris"], r["target"]): r for r in targets.to_pylist()}
    paris = by_key[(day, "paris-a")]
    assert (paris["attempts"], paris["available"], paris["no_slot"], paris["barriers"]) == (
        2,
        1,
        1,
        0,
    )
    assert paris["no_slot_rate"] == 0.5 and paris["failure_rate"] == 0.5
    bobigny = by_key[(day, "bobigny-b")]
    assert (bobigny["attempts"], bobigny["barriers"], bobigny["failure_rate"]) == (1, 1, 1.0)
    assert bobigny["no_slot_rate"] is None
    assert set(by_key) == {(day, "paris-a"), (day, "bobigny-b"), (date(2025, 3, 5), "paris-a"),
                           (date(2025, 3, 5), "bobigny-b")}  # fmt: skip
    departements = pq.read_table(exported / "daily_departements.parquet")
    assert departements.schema.equals(DAILY_DEPARTEMENTS, check_metadata=False)
    rows = csv_rows(exported / "daily_departements.csv")
    assert [(r["day_paris"], r["code_departement"], r["attempts"]) for r in rows] == [
        ("2025-03-03", "75", "2"), ("2025-03-03", "93", "1"),
        ("2025-03-05", "75", "1"), ("2025-03-05", "93", "1"),
    ]  # fmt: skip


def test_the_data_dictionary_names_every_column_in_both_languages(exported: Path) -> None:
    readme = (exported / "README.md").read_text(encoding="utf-8")
    assert "Dictionnaire des données" in readme and "Data dictionary" in readme
    for name in [*SCHEMA.names, *DAILY_TARGETS.names, *DAILY_DEPARTEMENTS.names]:
        assert f"`{name}`" in readme, name


def test_no_url_token_or_capture_environment_is_published(
    exported: Path, recorded: Recorded
) -> None:
    stored = recorded.stored[recorded.ids["paris-a"][0]]
    assert stored.final_url is not None and TOKEN in stored.final_url
    secrets = [TOKEN, "127.0.0.1", "jsessionid", stored.env.software]
    for path in exported.iterdir():
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, (path.name, secret)


def test_selectors_and_formats(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "only-93"
    argv = ["export", "--from", "2025-03-05", "--to", "2025-03-05", "--department", "93"]
    assert recorded.run(*argv, "--format", "csv", "--out", str(out)) == 0
    assert "wrote 1 observation(s) of 1 target(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "SHA256SUMS", "daily_departements.csv", "daily_targets.csv",
        "observations.csv",
    ]  # fmt: skip
    assert [r["observation_id"] for r in csv_rows(out / "observations.csv")] == [
        recorded.ids["bobigny-b"][1]
    ]
    with pytest.raises(SystemExit):
        recorded.run("export", *PERIOD, "--format", "xlsx")
    assert recorded.run("export", "--from", "2025-03-05", "--to", "2025-03-01") == 1
    assert "--to is before --from" in capsys.readouterr().err


def test_a_document_that_fails_its_hash_stops_the_export(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = recorded.ids["bobigny-b"][0]
    watchdog = recorded.config.watchdog
    with Store.open(watchdog.data_dir, watchdog.database_url) as store:
        row = next(iter(store.scan(sa.select(observations).where(observations.c.id == victim))))
        edit_document(store, row.target, row.seq, lambda doc: doc.replace("http_502", "http_503"))
    assert recorded.run("export", *PERIOD, "--out", str(tmp_path / "x")) == 1
    err = capsys.readouterr().err
    assert f"observation {victim} (bobigny-b): its stored document does not hash" in err


def test_on_a_terminal_a_bar_then_a_summary_and_the_store_untouched(
    tmp_path: Path, make_observation: MakeObs
) -> None:
    recorded = record(tmp_path, None, make_observation)
    database = recorded.config.watchdog.data_dir / SQLITE_FILE
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    out = tmp_path / "od"
    argv = ["export", *PERIOD, "--out", str(out), "--config", str(recorded.config_path)]
    code, stdout, seen = run_on_terminal(argv)
    assert code == 0
    assert stdout.startswith("wrote 5 observation(s) of 2 target(s)")
    assert b"exporting observations" in seen and b"5/5" in seen
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before


def test_sqlite_holds_the_same_tables_typed(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "as-sqlite"
    assert recorded.run("export", *PERIOD, "--format", "sqlite", "--out", str(out)) == 0
    assert "open-data.sqlite, README.md, SHA256SUMS" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "SHA256SUMS", "open-data.sqlite"]
    with closing(sqlite3.connect(out / "open-data.sqlite")) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        assert names == ["daily_departements", "daily_targets", "observations"]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(observations)")]
        assert columns == SCHEMA.names
        typed = conn.execute(
            "SELECT typeof(slots), typeof(duration_s), counts_in_rates, simulated, day_paris,"
            " started_utc, earliest_slot, cimade_bucket, lead_days, message"
            " FROM observations WHERE outcome = 'available'"
        ).fetchall()
        assert typed == [("integer", "real", 1, 0, "2025-03-03", "2025-03-03T09:00:00.123456Z",
                          "2025-03-20T09:30:00", 1, round(407 / 24, 2), None)]  # fmt: skip
        hashes = [r[0] for r in conn.execute("SELECT hash FROM observations ORDER BY rowid")]
        assert hashes == [recorded.stored[i].hash for t in ("bobigny-b", "paris-a")
                          for i in recorded.ids[t]]  # fmt: skip
        daily = conn.execute(
            "SELECT day_paris, code_departement, attempts, no_slot_rate FROM daily_departements"
        ).fetchall()
        assert daily[:2] == [("2025-03-03", "75", 2, 0.5), ("2025-03-03", "93", 1, None)]


def test_the_slots_seen_are_in_every_format(
    tmp_path: Path, database_url: str | None, make_observation: MakeObs,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seen = [SlotSeen(key="trh-«81»", day="2025-03-20", time="09:30"), SlotSeen(time="10:00")]
    more = [("paris-a", 300, {"outcome": Outcome.AVAILABLE, "detail": "slots_offered",
                              "message": None, "slots": 2, "slots_seen": seen})]  # fmt: skip
    recorded = record(tmp_path, database_url, make_observation, more=more)
    out = tmp_path / "open-data"
    assert recorded.run("export", *PERIOD, "--format", "csv,parquet,sqlite", "--out", str(out)) == 0
    capsys.readouterr()
    expected = [s.model_dump() for s in seen]
    listed = {r["observation_id"]: r["slots_seen"] for r in csv_rows(out / "observations.csv")}
    (offered,) = recorded.ids["paris-a"][-1:]
    assert json.loads(listed.pop(offered)) == expected
    assert set(listed.values()) == {""}  # read one by one by no other attempt
    parquet = pq.read_table(out / "observations.parquet")
    assert parquet.schema.field("slots_seen").type == pa.string()
    by_id = {r["observation_id"]: r["slots_seen"] for r in parquet.to_pylist()}
    assert json.loads(by_id.pop(offered)) == expected and set(by_id.values()) == {None}
    with closing(sqlite3.connect(out / "open-data.sqlite")) as conn:
        (text,) = conn.execute(
            "SELECT slots_seen FROM observations WHERE observation_id = ?", (offered,)
        ).fetchone()
    assert json.loads(text) == expected
    readme = (out / "README.md").read_text("utf-8")
    assert "| `slots_seen` | string | les créneaux proposés un à un" in readme
