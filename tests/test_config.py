"""Config errors: one clear message per problem, naming file, line and key; exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.config import load_config
from watchdog.errors import ConfigError

GOOD_TARGET = """\
  - id: ain-premiere-demande
    department: "01"
    prefecture: Ain
    procedure: premiere_demande
    label: "Première demande"
    platform: legacy_booking
    url: https://www.ain.gouv.fr/booking/create/804/0
    interval: 15m
"""


def write(tmp_path: Path, body: str, name: str = "watchdog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "targets:\n" + GOOD_TARGET))
    assert [t.id for t in config.targets] == ["ain-premiere-demande"]
    assert config.targets[0].interval.total_seconds() == 900


# (yaml body, expected "line: key: message" fragment)
BAD_CASES = {
    "unknown_top_key": ("colour: blue\ntargets:\n" + GOOD_TARGET, ":1: colour: unknown key"),
    "unknown_target_key": (
        "targets:\n" + GOOD_TARGET + "    colour: blue\n",
        ":10: targets[0].colour: unknown key",
    ),
    "bad_procedure": (
        "targets:\n" + GOOD_TARGET.replace("premiere_demande", "visa"),
        ":5: targets[0].procedure: Input should be",
    ),
    "bad_interval": (
        "targets:\n" + GOOD_TARGET.replace("15m", "often"),
        ":9: targets[0].interval: Value error, invalid duration 'often'",
    ),
    "under_min_interval": (
        "targets:\n" + GOOD_TARGET.replace("15m", "30s"),
        ":9: targets[0].interval: 30s is under min_interval (120s)",
    ),
    "host_not_allowed": (
        "targets:\n" + GOOD_TARGET.replace("www.ain.gouv.fr", "evil.example.com"),
        ":8: targets[0].url: host 'evil.example.com' is not in watchdog.allowed_hosts",
    ),
    "duplicate_id": (
        "targets:\n" + GOOD_TARGET + GOOD_TARGET,
        ":10: targets[1].id: duplicate target id 'ain-premiere-demande' (first defined at",
    ),
    "bad_platform_option": (
        "targets:\n" + GOOD_TARGET + "    options: {guichet: '12'}\n",
        ":10: targets[0].options.guichet: unknown key",
    ),
    "operator_without_secret": (
        "targets:\n"
        + GOOD_TARGET.replace("legacy_booking", "rdv_prefecture")
        + "    options: {captcha: operator}\n",
        ":10: targets[0].options: Value error, captcha: operator needs operator_headers",
    ),
    "bad_department": (
        "targets:\n" + GOOD_TARGET.replace('"01"', '"00"'),
        ":3: targets[0].department: String should match pattern",
    ),
    "corsica_is_2a_or_2b": (
        "targets:\n" + GOOD_TARGET.replace('"01"', '"20"'),
        ":3: targets[0].department: String should match pattern",
    ),
    "duplicate_yaml_key": (
        "watchdog:\n  min_interval: 2m\n  min_interval: 3m\ntargets:\n" + GOOD_TARGET,
        ":3: watchdog.min_interval: duplicate key",
    ),
    "yaml_syntax": ("targets: [\n  - id: x\n", ": (syntax): invalid YAML"),
    "floor_below_politeness": (
        "watchdog: {min_interval: 5s}\ntargets:\n" + GOOD_TARGET.replace("15m", "5s"),
        ":1: watchdog.min_interval: below the politeness floor of 60s",
    ),
    "personal_fill_in_steps": (
        "targets:\n"
        + GOOD_TARGET.replace("legacy_booking", "steps")
        + "    options:\n      steps: [{fill: '#email', value: 'a@b.fr'}]\n"
        + "      rules: [{text: 'x', outcome: no_slot}]\n",
        ":11: targets[0].options.steps[0].fill: Value error, fill looks like personal data",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_bad_input_is_named(tmp_path: Path, case: str) -> None:
    body, expected = BAD_CASES[case]
    path = write(tmp_path, body)
    problems = problems_of(path)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(path)) for p in problems), problems


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    body = "colour: blue\ntargets:\n" + GOOD_TARGET.replace("15m", "30s") + GOOD_TARGET
    problems = problems_of(write(tmp_path, body))
    assert len(problems) == 3, problems


def test_included_catalog_errors_name_the_included_file(tmp_path: Path) -> None:
    write(
        tmp_path, "targets:\n" + GOOD_TARGET.replace("Ain\n", "Ain\n    colour: red\n"), "cat.yaml"
    )
    main_file = write(tmp_path, "include: ['cat.yaml']\n")
    problems = problems_of(main_file)
    assert problems == [f"{tmp_path / 'cat.yaml'}:5: targets[0].colour: unknown key"]


def test_duplicate_across_files(tmp_path: Path) -> None:
    write(tmp_path, "targets:\n" + GOOD_TARGET, "cat.yaml")
    main_file = write(tmp_path, "include: ['cat.yaml']\ntargets:\n" + GOOD_TARGET)
    problems = problems_of(main_file)
    assert len(problems) == 1 and "duplicate target id" in problems[0]
    assert problems[0].startswith(f"{tmp_path / 'cat.yaml'}:2:")


def test_check_config_exit_code_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n" + GOOD_TARGET + "    colour: blue\n")
    proc = subprocess.run(
        [sys.executable, "-m", "watchdog.cli", "check-config", "--config", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{path}:10: targets[0].colour: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "targets:\n" + GOOD_TARGET)
    assert main(["check-config", "--config", str(path)]) == 0
    assert "OK (1 targets)" in capsys.readouterr().out


def test_targets_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "targets:\n" + GOOD_TARGET)
    assert main(["targets", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ain-premiere-demande" in out and "legacy_booking" in out and "15m" in out
    assert main(["targets", "--config", str(path), "--json"]) == 0
    assert '"interval": "15m"' in capsys.readouterr().out


def test_missing_config_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WATCHDOG_CONFIG", raising=False)
    assert main(["check-config"]) != 0


def test_examples_are_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config/examples/watchdog.yaml")
    assert {t.platform.value for t in config.targets} == {
        "legacy_booking", "rdv_prefecture", "eappointment", "anef", "steps"
    }  # fmt: skip
