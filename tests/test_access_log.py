"""The access log: every report, dossier, bundle and export is logged, hash-chained, verified."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from reportdata import CLI_CONFIG as CONFIG
from reportdata import Spec, fill, paris

from watchdog.cli.main import main
from watchdog.domain.models import Outcome
from watchdog.store import Store, access

PERIOD = ["--from", "2026-11-02", "--to", "2026-11-08"]


@pytest.fixture
def config(tmp_path: Path) -> str:
    data = tmp_path / "data"
    with Store.open(data) as store:
        for target in ("seine-saint-denis-premiere", "ain-renouvellement"):
            fill(store, target, [Spec(paris(2026, 11, d, 9), Outcome.NO_SLOT) for d in (3, 4)])
    path = tmp_path / "watchdog.yaml"
    path.write_text(CONFIG.format(data=data), encoding="utf-8")
    return str(path)


def entries(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "data" / access.FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_export_verb_is_logged_with_who_what_and_fingerprints(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    both = ["ain-renouvellement", "seine-saint-denis-premiere"]
    assert main(["report", "--config", config, *PERIOD, "--format", "html",
                 "--department", "93", "--out", str(out)]) == 0  # fmt: skip
    assert main(["dossier", "ain-renouvellement", "--config", config, *PERIOD,
                 "--format", "html", "--out", str(out)]) == 0  # fmt: skip
    bundle = tmp_path / "lot.zip"
    assert main(["bundle", "--config", config, *PERIOD, "--format", "html",
                 "--out", str(bundle)]) == 0  # fmt: skip
    printed = capsys.readouterr()
    fingerprint = printed.out.split("manifest.json): ")[1].split()[0]
    assert "access log" not in printed.err  # written silently
    opendata = tmp_path / "od"
    assert main(["export", "--config", config, *PERIOD, "--out", str(opendata)]) == 0

    logged = entries(tmp_path)
    assert [e["action"] for e in logged] == ["report", "dossier", "bundle", "export"]
    assert [e["seq"] for e in logged] == [1, 2, 3, 4]
    assert [e["targets"] for e in logged] == [["seine-saint-denis-premiere"],
                                              ["ain-renouvellement"], both, both]  # fmt: skip
    for entry in logged:
        assert entry["who"] == {"kind": "os_user", "name": access.os_user().name,
                                "uid": os.getuid()}  # fmt: skip
        assert entry["since"] == "2026-11-01T23:00:00.000000Z"
        for output in entry["outputs"]:  # type: ignore[attr-defined]
            assert sha256(Path(output["path"])) == output["sha256"]
    assert logged[2]["outputs"][0]["path"] == str(bundle)  # type: ignore[index]
    assert logged[2]["fingerprint"] == fingerprint
    assert {Path(o["path"]).name for o in logged[3]["outputs"]} >= {"SHA256SUMS"}  # type: ignore[attr-defined]
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 0
    assert "Access log: 4 entries, each linked to the one before." in capsys.readouterr().out


def test_an_edited_or_removed_entry_breaks_the_chain(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        assert main(["bundle", "--config", config, *PERIOD, "--format", "html",
                     "--out", str(tmp_path / "lot.zip")]) == 0  # fmt: skip
    log = tmp_path / "data" / access.FILE
    lines = log.read_bytes().splitlines(keepends=True)

    log.write_bytes(lines[0] + lines[1].replace(b'"bundle"', b'"report"') + lines[2])
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "Access log FAILED: access-log.jsonl line 3: its prev_hash" in out

    log.write_bytes(lines[0] + lines[2])  # the middle entry removed
    assert main(["verify", "--config", config]) == 1
    assert "line 2: seq 3 where 2 was expected" in capsys.readouterr().out


def test_a_torn_last_line_is_named_and_the_log_goes_on(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bundle", "--config", config, *PERIOD, "--format", "html",
            "--out", str(tmp_path / "lot.zip")]  # fmt: skip
    assert main(argv) == 0
    log = tmp_path / "data" / access.FILE
    with log.open("ab") as handle:
        handle.write(b'{"format": "prefecture-watchdog-acc')  # a crash mid-append
    assert main(argv) == 0
    logged = log.read_bytes().splitlines()
    assert len(logged) == 3 and json.loads(logged[2])["seq"] == 2
    assert json.loads(logged[2])["prev_hash"] == hashlib.sha256(logged[0]).hexdigest()
    capsys.readouterr()
    assert main(["verify", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "Access log FAILED: access-log.jsonl line 2: not an access entry" in out
    assert "line 3" not in out  # the chain goes on past the torn line


def test_a_log_that_cannot_be_written_is_a_warning_and_the_export_stands(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data" / access.FILE).mkdir()  # as unwritable as it gets, even for root
    out = tmp_path / "lot.zip"
    assert main(["bundle", "--config", config, *PERIOD, "--format", "html",
                 "--out", str(out)]) == 0  # fmt: skip
    assert out.is_file()
    err = capsys.readouterr().err
    assert "warning: this bundle is not in the access log: cannot append to" in err
