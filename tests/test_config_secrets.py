"""Secrets out of the configuration file: `{env: NAME}` and `{file: PATH}` wherever a secret
stands (watchdog/config/references.py), strict errors that name the variable or the file and
never the secret, and a reload that reads them again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from watchdog.config.loader import load_config
from watchdog.config.references import MAX_SECRET_BYTES
from watchdog.domain.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
HOOK = "json://127.0.0.1:8080/hooks/Zq9vTtOkenOfTheWebhook"
BEARER = "am-bearer-9f8e7d6c5b4a"
HEADER = "op-header-secret-31415"
COOKIE = "op-cookie-secret-27182"
VARS = ("WD_TEST_HOOK", "WD_TEST_BEARER", "WD_TEST_EMPTY", "WD_TEST_MISSING")


@pytest.fixture(autouse=True)
def clean_env() -> Iterator[None]:
    saved = {name: os.environ.pop(name, None) for name in VARS}
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def rdv_target(**options: object) -> dict[str, object]:
    return {
        "id": "val-de-marne-creteil", "department": "94", "prefecture": "Val-de-Marne",
        "procedure": "remise_titre", "label": "Remise", "platform": "rdv_prefecture",
        "url": "https://rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/16040/",
        "interval": "15m", "options": {"captcha": "operator", **options},
    }  # fmt: skip


def write_config(folder: Path, notifications: dict[str, object], **extra: object) -> Path:
    config = {
        "watchdog": {"data_dir": "./data", "allowed_hosts": ["*.gouv.fr"]},
        "notifications": notifications,
        **extra,
    }
    path = folder / "watchdog.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def notifications(url: object, token: object = None) -> dict[str, object]:
    bridge = {"enabled": True} | ({"bearer_token": token} if token is not None else {})
    return {"routes": [{"id": "oncall", "audience": "sre", "urls": [url]}], "alertmanager": bridge}


def line_with(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_secrets_come_from_the_environment_and_from_files(tmp_path: Path) -> None:
    os.environ["WD_TEST_HOOK"] = HOOK
    os.environ["WD_TEST_BEARER"] = f"  {BEARER}\n"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "header").write_text(HEADER + "\n", encoding="utf-8")
    (tmp_path / "secrets" / "cookie").write_text(COOKIE, encoding="utf-8")
    (tmp_path / "secrets" / "db").write_text("postgresql+psycopg://w:pw@db/watchdog\n", "utf-8")
    # A catalog in a subfolder: its file paths are relative to its own folder.
    (tmp_path / "catalogs").mkdir()
    target = rdv_target(
        operator_headers={"X-Operator-Token": {"file": "../secrets/header"}},
        operator_cookies={"op": {"file": str(tmp_path / "secrets/cookie")}},
    )
    (tmp_path / "catalogs" / "rdv.yaml").write_text(yaml.safe_dump({"targets": [target]}))
    path = write_config(
        tmp_path, notifications({"env": "WD_TEST_HOOK"}, {"env": "WD_TEST_BEARER"}),
        include=["catalogs/*.yaml"],
    )  # fmt: skip
    raw = path.read_text(encoding="utf-8")
    (tmp_path / "watchdog.yaml").write_text(
        raw.replace("data_dir: ./data", "data_dir: ./data\n  database_url: {file: secrets/db}"),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.notifications.routes[0].urls == [HOOK]
    assert config.notifications.alertmanager.bearer_token == BEARER  # whitespace removed
    assert config.watchdog.database_url == "postgresql+psycopg://w:pw@db/watchdog"
    options = config.targets[0].model_dump()["options"]
    assert options["operator_headers"] == {"X-Operator-Token": HEADER}
    assert options["operator_cookies"] == {"op": COOKIE}
    for secret in (HOOK, BEARER, HEADER, COOKIE):
        assert secret not in path.read_text(encoding="utf-8")


def test_a_missing_variable_is_one_located_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, notifications({"env": "WD_TEST_MISSING"}))
    problems = problems_of(path)
    # Once, where it is, naming the variable (not also "not an Apprise URL").
    assert problems == [
        f"{path}:{line_with(path, 'WD_TEST_MISSING')}: notifications.routes[0].urls[0]: "
        "environment variable WD_TEST_MISSING "
        "is not set"
    ]


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ({"env": "WD_TEST_EMPTY"}, "environment variable WD_TEST_EMPTY is empty"),
        ({"file": "absent"}, "cannot read secret file {dir}/absent: No such file or directory"),
        ({"file": "empty"}, "secret file {dir}/empty is empty"),
        ({"file": "."}, "secret file {dir} is not a regular file"),
        ({"file": "huge"}, f"secret file {{dir}}/huge is larger than {MAX_SECRET_BYTES} bytes"),
        ({"file": "/dev/zero"}, "secret file /dev/zero is not a regular file"),
        ({"env": "A", "file": "B"}, "a secret is a string, {env: VARIABLE} or {file: PATH}"),
        ({"vault": "x"}, "a secret is a string, {env: VARIABLE} or {file: PATH}"),
        ({"env": 3}, "env: must be a non-empty string"),
    ],
)
def test_every_way_a_secret_cannot_be_read_is_reported(
    tmp_path: Path, reference: dict[str, object], words: str
) -> None:
    os.environ["WD_TEST_EMPTY"] = " \n"
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    (tmp_path / "huge").write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    path = write_config(tmp_path, notifications(HOOK, reference))
    problems = problems_of(path)
    key = "notifications.alertmanager.bearer_token"
    line = line_with(path, "bearer_token")
    assert problems == [f"{path}:{line}: {key}: " + words.replace("{dir}", str(tmp_path))]


def test_the_secret_is_never_in_an_error(tmp_path: Path) -> None:
    """A file read fine whose content is not a valid URL: the error names the key only."""
    (tmp_path / "hook").write_text("not-a-url-but-a-SECRET-value\n", encoding="utf-8")
    path = write_config(tmp_path, notifications({"file": "hook"}))
    problems = problems_of(path)
    assert problems and all("SECRET" not in problem for problem in problems)
    assert "notifications.routes[0].urls[0]" in problems[0]


def test_a_reference_elsewhere_is_not_read(tmp_path: Path) -> None:
    """Only secrets may come from outside: a label stays an (invalid) mapping."""
    os.environ["WD_TEST_HOOK"] = HOOK
    target = rdv_target(operator_headers={"X-Operator-Token": "inline"})
    target["label"] = {"env": "WD_TEST_HOOK"}
    path = write_config(tmp_path, {}, targets=[target])
    problems = problems_of(path)
    assert len(problems) == 1 and "targets[0].label" in problems[0]
    assert HOOK not in problems[0]


def test_a_rotated_secret_file_is_read_again_on_the_next_load(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first-token\n", encoding="utf-8")
    path = write_config(tmp_path, notifications(HOOK, {"file": "token"}))
    assert load_config(path).notifications.alertmanager.bearer_token == "first-token"
    (tmp_path / "token").write_text("second-token\n", encoding="utf-8")
    assert load_config(path).notifications.alertmanager.bearer_token == "second-token"


def test_check_config_reads_the_environment_and_fails_without_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, notifications({"env": "WD_TEST_HOOK"}))
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    bad = subprocess.run([WATCHDOG, "check-config", "--config", str(path)],
                         capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert bad.returncode == 2
    assert "notifications.routes[0].urls[0]: environment variable WD_TEST_HOOK is not set" in (
        bad.stderr + bad.stdout
    )
    good = subprocess.run([WATCHDOG, "check-config", "--config", str(path)],
                          capture_output=True, text=True, timeout=120,
                          env={**env, "WD_TEST_HOOK": HOOK})  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "Zq9vTtOkenOfTheWebhook" not in good.stdout + good.stderr
