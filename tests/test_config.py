"""Config errors: one clear message per problem, naming file, line and key; exit code 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchdog.cli.main import main
from watchdog.config.loader import load_config
from watchdog.daemon.state import StateFile, state_path, write_state
from watchdog.domain.errors import ConfigError

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
    # Vantages (issue 17)
    "vantage_name": (
        "watchdog: {vantage: 'Paris Nord'}\ntargets:\n" + GOOD_TARGET,
        ":1: watchdog.vantage: String should match pattern",
    ),
    "proxy_scheme": (
        "watchdog: {proxy: 'ftp://10.0.0.1:21'}\ntargets:\n" + GOOD_TARGET,
        ":1: watchdog.proxy: Value error, 'ftp://10.0.0.1:21' is not an http://",
    ),
    "canary_url": (
        "watchdog:\n  canary: {url: 'not a url'}\ntargets:\n" + GOOD_TARGET,
        ":2: watchdog.canary.url: String should match pattern",
    ),
    "canary_timeout": (
        "watchdog:\n  canary: {every: 5s, timeout: 10s}\ntargets:\n" + GOOD_TARGET,
        ":2: watchdog.canary: Value error, timeout must be",
    ),
    "target_vantage": (
        "targets:\n" + GOOD_TARGET + "    vantages: [paris, 'Lyon!']\n",
        ":10: targets[0].vantages[1]: String should match pattern",
    ),
    "notifier_type": (
        "workers: {notifier: maybe}\ntargets:\n" + GOOD_TARGET,
        ":1: workers.notifier: Input should be a valid boolean",
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
        [sys.executable, "-m", "watchdog.cli.main", "check-config", "--config", str(path)],
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
    assert {t.platform for t in config.targets} == {
        "legacy_booking", "rdv_prefecture", "eappointment", "anef", "steps"
    }  # fmt: skip


# -- relative paths, listeners, scope (issue 13) -----------------------------------------


def test_relative_paths_are_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "watchdog"
    folder.mkdir(parents=True)
    (folder / "apprise.yaml").write_text("urls: []\n", encoding="utf-8")
    body = (
        "watchdog: {data_dir: ../../var/data}\n"
        "browser: {executable_path: bin/chromium}\n"
        "notifications:\n  routes: [{id: ops, audience: sre, config_file: apprise.yaml}]\n"
        "targets:\n" + GOOD_TARGET
    )
    path = write(folder, body)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # as `watchdog status` run from another folder
    config = load_config(Path("..") / "etc" / "watchdog" / "watchdog.yaml")
    assert config.watchdog.data_dir == tmp_path / "var" / "data"
    assert config.browser.executable_path == str(folder / "bin" / "chromium")
    assert config.notifications.routes[0].config_file == folder / "apprise.yaml"
    default = load_config(write(folder, "targets:\n" + GOOD_TARGET, "default.yaml"))
    assert default.watchdog.data_dir == folder / "data"  # the default ./data too
    assert load_config(path).watchdog.data_dir.is_absolute()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///db/watchdog.sqlite3", "sqlite:///{folder}/db/watchdog.sqlite3"),
        ("sqlite+pysqlite:///w.db?timeout=5", "sqlite+pysqlite:///{folder}/w.db?timeout=5"),
        ("sqlite:////srv/w.db", "sqlite:////srv/w.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://wd@db/wd", "postgresql+psycopg://wd@db/wd"),
    ],
)
def test_a_relative_sqlite_file_is_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, f"watchdog: {{database_url: '{url}'}}\ntargets:\n" + GOOD_TARGET)
    monkeypatch.chdir(tmp_path)
    assert load_config(path).watchdog.database_url == expected.format(folder=folder)


def test_status_run_elsewhere_reads_the_configs_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 13: `status` run from another folder created an empty ./data and said « never run ».
    path = write(tmp_path, "watchdog: {data_dir: data}\ntargets:\n" + GOOD_TARGET)
    now = datetime.now(UTC)
    state = StateFile(
        written_at=now, pid=os.getpid(), running=False, config=str(path), started_at=now,
        probes_started=3, observations_recorded=3, probes_abandoned=0, failures=0,
        targets={}, hosts={},
    )  # fmt: skip
    write_state(state_path(tmp_path / "data"), state)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["status", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["daemon"] == "stopped"
    assert not (elsewhere / "data").exists()


LISTENERS = {
    "loopback": ("listen: {host: 127.0.0.1}\n", None),
    "localhost": ("listen: {host: localhost}\n", None),
    "ipv6_loopback": ("listen: {host: '::1'}\n", None),
    "all_ipv4": ("listen: {host: 0.0.0.0}\n", ":1: listen: Value error, host '0.0.0.0'"),
    "all_empty": ("listen: {host: ''}\n", "(every interface) is reachable from other machines"),
    "all_ipv6": ("listen: {host: '::'}\n", "set listen.expose: true"),
    "lan_address": ("listen: {host: 192.168.1.10}\n", "set listen.expose: true"),
    "exposed": ("listen: {host: 0.0.0.0, expose: true}\n", None),
    "exposed_bridge_with_token": (
        "listen: {host: 0.0.0.0, expose: true}\n"
        "notifications: {alertmanager: {enabled: true, bearer_token: s3cret}}\n",
        None,
    ),
    "exposed_bridge_without_token": (
        "listen: {host: 0.0.0.0, expose: true}\nnotifications: {alertmanager: {enabled: true}}\n",
        ":2: notifications.alertmanager.bearer_token: required when the listener is exposed",
    ),
    "loopback_bridge_without_token": ("notifications: {alertmanager: {enabled: true}}\n", None),
}


@pytest.mark.parametrize("case", sorted(LISTENERS))
def test_listeners_beyond_loopback_need_expose(tmp_path: Path, case: str) -> None:
    head, expected = LISTENERS[case]
    path = write(tmp_path, head + "targets:\n" + GOOD_TARGET)
    if expected is None:
        assert load_config(path).targets
    else:
        problems = problems_of(path)
        assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("pattern", ["*", "*.*", "**", "?*"])
def test_allowed_hosts_matching_every_host_is_refused(tmp_path: Path, pattern: str) -> None:
    path = write(tmp_path, f"watchdog: {{allowed_hosts: ['{pattern}']}}\ntargets:\n" + GOOD_TARGET)
    assert problems_of(path) == [
        f"{path}:1: watchdog.allowed_hosts: Value error, {pattern!r} allows every host: name the "
        "sites watched (e.g. '*.gouv.fr'); allowed_hosts is what keeps a probe from following a "
        "link anywhere"
    ]


# -- outputs and pipes (issue 13) --------------------------------------------------------


def run_cli(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchdog.cli.main", *args],
        stdout=stdout, stderr=subprocess.PIPE, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "verb",
    [
        ("dashboards", "build", "--out", "{blocked}/dashboards"),
        ("bundle", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "{blocked}/lot.zip"),
        ("report", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "{blocked}/reports"),
        ("dossier", "ain-premiere-demande", "--from", "2026-01-01", "--to", "2026-01-02",
         "--out", "{blocked}"),
    ],
    ids=["dashboards", "bundle", "report", "dossier"],
)  # fmt: skip
def test_an_unwritable_output_is_one_line(tmp_path: Path, verb: tuple[str, ...]) -> None:
    blocked = tmp_path / "a-file"  # a regular file where a folder is needed: even root fails
    blocked.write_text("x", encoding="utf-8")
    config = write(tmp_path, "targets:\n" + GOOD_TARGET)
    args = [part.replace("{blocked}", str(blocked)) for part in verb]
    if verb[0] != "dashboards":
        args += ["--config", str(config)]
    proc = run_cli(*args)
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert re.fullmatch(
        rf"error: cannot write to {re.escape(str(blocked))}(/\w+)?: [Nn]ot a directory", line
    )


def test_a_closed_pipe_is_one_line_and_exit_141(tmp_path: Path) -> None:
    many = "".join(
        GOOD_TARGET.replace("ain-premiere-demande", f"target-{i}").replace("804", str(i))
        for i in range(300)
    )
    config = write(tmp_path, "targets:\n" + many)
    reader, writer = os.pipe()
    os.close(reader)  # `| head` that has already left: every write fails with EPIPE
    try:
        proc = run_cli("targets", "--json", "--config", str(config), stdout=writer)
    finally:
        os.close(writer)
    assert proc.returncode == 141
    assert proc.stderr.splitlines() == [
        "error: standard output was closed before everything was written (broken pipe)"
    ]
