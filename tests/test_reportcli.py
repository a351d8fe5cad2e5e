"""`watchdog report`, `dossier`, `bundle` and `verify BUNDLE.zip` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportdata import CLI_CONFIG as CONFIG
from reportdata import Spec, fill, paris

from watchdog.cli.main import main
from watchdog.domain.models import Outcome
from watchdog.store import Store

PERIOD = ["--from", "2026-11-02", "--to", "2026-11-22"]


@pytest.fixture
def config(tmp_path: Path) -> str:
    data = tmp_path / "data"
    with Store.open(data) as store:
        for target in ("seine-saint-denis-premiere", "ain-renouvellement"):
            days = [Spec(paris(2026, 11, d, 9), Outcome.NO_SLOT) for d in range(2, 23)]
            fill(store, target, days, captures=lambda s: s.at.day == 5)
    path = tmp_path / "watchdog.yaml"
    path.write_text(CONFIG.format(data=data), encoding="utf-8")
    return str(path)


def test_report_selects_by_department(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["report", "--config", config, *PERIOD, "--department", "93", "--format", "html"]
    assert main([*argv, "--out", str(out)]) == 0
    (path,) = out.glob("rapport-WD-*.html")
    assert capsys.readouterr().out.strip() == str(path)
    html = path.read_text("utf-8")
    assert "Seine-Saint-Denis — première demande" in html and "Ain — renouvellement" not in html


def test_dossier_and_unknown_target(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["dossier", "ain-renouvellement", "--config", config, *PERIOD, "--format", "html"]
    assert main([*argv, "--out", str(out)]) == 0
    (path,) = out.glob("dossier-ain-renouvellement-DOS-*.html")
    assert "3\u00a0semaines ISO distinctes" in path.read_text("utf-8")
    assert main(["dossier", "nope", "--config", config, *PERIOD]) == 1
    assert "unknown target(s): nope" in capsys.readouterr().err


def test_bundle_then_verify(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lot.zip"
    argv = ["bundle", "--config", config, *PERIOD, "--format", "html", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{out}: 42 observation(s)" in printed and "Bundle fingerprint" in printed
    assert main(["verify", str(out)]) == 0
    verified = capsys.readouterr().out
    fingerprint = printed.split("manifest.json): ")[1].split()[0]
    assert f"Bundle fingerprint (SHA-256 of manifest.json): {fingerprint}" in verified


def test_bad_dates_are_refused(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", config, "--from", "2026-11-30", "--to", "2026-11-01"]) == 1
    assert "--to is before --from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--config", config, "--from", "30/11/2026", "--to", "2026-12-01"])


def test_the_period_must_be_observed_and_not_in_the_future(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--format", "html", "--out", str(tmp_path / "out")]
    future = ["--from", "2026-11-02", "--to", "2099-01-01"]
    assert main(["report", "--config", config, *future, *out]) == 1
    assert "--to 2099-01-01 is in the future" in capsys.readouterr().err
    empty = ["--from", "2025-01-01", "--to", "2025-01-31"]
    assert main(["report", "--config", config, *empty, *out]) == 1
    assert "no observation from 2025-01-01 to 2025-01-31" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["report", "--config", config, *empty, "--allow-empty", *out]) == 0
    captured = capsys.readouterr()
    assert "asked: 2025-01-01 to 2025-01-31 (Paris); observed: nothing" in captured.err
    (path,) = (tmp_path / "out").glob("rapport-WD-*.html")
    html = path.read_text("utf-8")
    assert 'id="sans-donnees"' in html and "aucune observation" in html
    assert "n'apparaissent pas réunies" not in html and "0\u00a0tentative sur" not in html
    assert 'id="constats-vides"' in html and "0 sur 0" not in html and "sans donnée" not in html
    # The terminal gives the observed window beside the asked one; stdout stays the paths.
    assert main(["dossier", "ain-renouvellement", "--config", config, *PERIOD, *out]) == 0
    captured = capsys.readouterr()
    assert (
        "asked: 2026-11-02 to 2026-11-22 (Paris); observed: 21 observation(s) from "
        "2026-11-02 09:00 to 2026-11-22 09:00 (Paris)"
    ) in captured.err
    assert all(line.endswith(".html") for line in captured.out.split())


def test_the_watermark_follows_the_configuration(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated = (
        Path(config).read_text("utf-8").replace("  data_dir:", "  simulated: true\n  data_dir:")
    )
    path = tmp_path / "simulated.yaml"
    path.write_text(simulated, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["report", "--config", str(path), *PERIOD, "--format", "html", "--out", str(out)]
    assert main(argv) == 0
    (report,) = out.glob("rapport-WD-*.html")
    html = report.read_text("utf-8")
    assert 'class="watermark"' in html and "DONNÉES SIMULÉES" in html
