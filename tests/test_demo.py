"""The demo (README command #1) end to end in a short mode, and docs that match the CLI."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from watchdog.cli.main import build_parser
from watchdog.cli.verbs import VERBS

REPO = Path(__file__).resolve().parent.parent
DEMO_TARGETS = re.findall(
    r"^  - id: (\S+)$", (REPO / "watchdog/data/demo-catalog.yaml").read_text("utf-8"), re.M
)
OUTCOMES = r"(available|no_slot|captcha|queue|closed|maintenance|site_error|blocked|timeout|" \
           r"network_error|unrecognized|probe_error)"  # fmt: skip


def test_demo_runs_end_to_end_and_names_each_outcome(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "watchdog"
    proc = subprocess.run(
        [str(exe), "demo", "--minutes", "1", "--data", str(tmp_path / "demo"), "--port", "0"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "SIMULATED DATA" in out
    assert "hash chains and evidence: verified" in out
    probed = 0
    for target_id in DEMO_TARGETS:
        row = next(line for line in out.splitlines() if line.startswith(target_id + " "))
        if re.search(rf"  {OUTCOMES}: ", row):
            probed += 1
    assert probed >= len(DEMO_TARGETS) - 1, out  # a loaded machine may miss one first run
    assert (tmp_path / "demo" / "watchdog.sqlite3").exists()
    # The demo's scenario has no hang and no page the probes do not know: a timeout, our own
    # fault or an unknown page here is a probe defect (one made every RDV slot probe wait 40 s).
    with contextlib.closing(sqlite3.connect(tmp_path / "demo" / "watchdog.sqlite3")) as db:
        odd = db.execute(
            "SELECT target, outcome, detail FROM observations"
            " WHERE outcome IN ('timeout', 'probe_error', 'unrecognized')"
        ).fetchall()
    assert odd == [], odd
    assert (tmp_path / "demo" / "demo-config.yaml").exists()
    reports = sorted(p.suffix for p in (tmp_path / "demo" / "report").glob("rapport-*"))
    assert reports == [".html", ".pdf"], reports
    html = next((tmp_path / "demo" / "report").glob("rapport-*.html")).read_text("utf-8")
    assert "simulé" in html.lower()
    # It ends by building the observatory of its record, watermarked, and says where it is.
    home = tmp_path / "demo" / "observatory" / "index.html"
    assert f"  observatory     {home} " in out, out
    assert "Données simulées / Simulated data" in home.read_text("utf-8")
    assert (home.parent / "en" / "index.html").is_file()
    config = str(tmp_path / "demo" / "demo-config.yaml")
    # The whole store, up to today in Paris: a --to in the future is refused.
    today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    period = ["--from", "2000-01-01", "--to", today]
    dossier = subprocess.run(
        [str(exe), "dossier", "ain-premiere-demande", *period, "--config", config,
         "--out", str(tmp_path / "dossier"), "--format", "html"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert dossier.returncode == 0, dossier.stdout + dossier.stderr
    assert list((tmp_path / "dossier").glob("dossier-ain-premiere-demande-*.html"))
    bundle = tmp_path / "lot.zip"
    made = subprocess.run(
        [str(exe), "bundle", *period, "--config", config, "--out", str(bundle), "--format", "html"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    checked = subprocess.run([str(exe), "verify", str(bundle)], capture_output=True, text=True,
                             timeout=120, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    status = subprocess.run(
        [str(exe), "status", "--config", str(tmp_path / "demo" / "demo-config.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0 and "ain-premiere-demande" in status.stdout
    assert_workbench_opens(out, config)


def assert_workbench_opens(out: str, config: str) -> None:
    """The demo's last line is the command that opens the workbench on its data; it does."""
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("workbench: watchdog serve --config "), last
    command = last.removeprefix("workbench: watchdog ").split("  (")[0].split()
    assert command == ["serve", "--config", config], command
    exe = Path(sys.executable).parent / "watchdog"
    served = subprocess.Popen([str(exe), *command, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert served.stdout is not None
        line = served.stdout.readline()  # printed once the socket listens
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=60) as answer:
            page = answer.read().decode("utf-8")
        assert "ain-premiere-demande" in page and "DONNÉES SIMULÉES" in page
    finally:
        served.terminate()
        served.wait(30)


def test_every_cli_verb_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    parser = build_parser([])
    verbs = next(a for a in parser._actions if a.dest == "command").choices
    assert set(verbs) == set(VERBS), "the help lists every verb of the table, and no other"
    for verb in verbs:
        assert f"`watchdog {verb}" in readme, f"`watchdog {verb}` is not documented in README.md"
