"""The long commands (report, dossier, bundle, verify, observatory) show a bar on a terminal,
nothing elsewhere, and end with one line saying what they wrote (issue 15 item 1)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from recordfix import MakeObs, Recorded, record, run_on_terminal

PERIOD = ["--from", "2025-03-03", "--to", "2025-03-05"]
ESC = b"\x1b["


@pytest.fixture
def recorded(tmp_path: Path, make_observation: MakeObs) -> Recorded:
    return record(tmp_path, None, make_observation)


def test_report_and_dossier_keep_stdout_for_paths_and_end_with_a_summary(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common = [*PERIOD, "--format", "html", "--out", str(out)]
    assert recorded.run("report", *common) == 0
    captured = capsys.readouterr()
    (path,) = out.glob("rapport-*.html")
    assert captured.out == f"{path}\n"
    assert captured.err.splitlines()[-1] == (
        f"wrote the report (html) of 2 target(s), 2025-03-03 to 2025-03-05 (Paris), to {out}"
    )
    assert ESC.decode() not in captured.err  # not a terminal: no bar, no escape code
    assert recorded.run("dossier", "paris-a", *common) == 0
    captured = capsys.readouterr()
    (path,) = out.glob("dossier-paris-a-*.html")
    assert captured.out == f"{path}\n"
    assert captured.err.splitlines()[-1] == (
        f"wrote the dossier (html) of 1 target(s), 2025-03-03 to 2025-03-05 (Paris), to {out}"
    )


def test_bundle_ends_with_what_it_wrote(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "lot.zip"
    assert recorded.run("bundle", *PERIOD, "--format", "html", "--out", str(bundle)) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    evidence = sum(1 for n in zipfile.ZipFile(bundle).namelist() if n.startswith("preuves/"))
    assert last.startswith(f"wrote {bundle}: 5 observation(s), {evidence} evidence file(s), ")
    assert last.endswith(" kB")


def test_verify_ends_with_its_verdict(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recorded.run("verify") == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verified 5 observation(s) in 2 chain(s) and ")
    assert last.endswith(" blob(s); nothing written: OK")
    # A blob altered on disk: the last line says so.
    framed = recorded.stored[recorded.ids["paris-a"][0]].evidence.framed
    assert framed is not None
    blob = next(recorded.config.watchdog.data_dir.rglob(framed))
    blob.write_bytes(b"not the capture")
    assert recorded.run("verify") == 1
    assert (
        capsys.readouterr().out.splitlines()[-1].endswith("; nothing written: FAILED, 1 problem(s)")
    )


@pytest.mark.parametrize(
    ("argv", "bar"),
    [
        (["report", *PERIOD, "--format", "html"], b"writing the report"),
        (["dossier", "paris-a", *PERIOD, "--format", "html"], b"writing the dossier"),
        (["bundle", *PERIOD, "--format", "html"], b"writing the bundle"),
        (["verify"], b"verifying chains and evidence"),
        (["observatory", "build", *PERIOD], b"building the observatory"),
    ],
)
def test_a_terminal_sees_the_bar_then_the_summary(
    recorded: Recorded, tmp_path: Path, argv: list[str], bar: bytes
) -> None:
    out = tmp_path / ("lot.zip" if argv[0] == "bundle" else "out")
    extra = [] if argv[0] == "verify" else ["--out", str(out)]
    code, stdout, seen = run_on_terminal([*argv, *extra, "--config", str(recorded.config_path)])
    assert code == 0, (stdout, seen)
    assert bar in seen and ESC in seen
    # The bar is gone (transient): the last line is the summary, on stdout or the terminal.
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode()).replace("\r", "\n")
    last = [[line for line in text.splitlines() if line.strip()][-1] for text in (stdout, terminal)]
    assert any(line.startswith(("wrote ", "verified ")) for line in last), last
