"""Prometheus and Alertmanager configuration: promtool/amtool checks, rule unit tests, and
the conventions every alert must follow (severity, audience, runbook, fire-and-resolve test).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROM = REPO / "config" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*_test.yml"))
ALERTMANAGER = REPO / "config" / "alertmanager" / "alertmanager.yml"
RUNBOOK = REPO / "docs" / "runbook.md"
CONTRACT_RULES = [
    f"{level}{kind}:rate{window}"
    for level in ("watchdog:", "department:watchdog_")
    for kind in ("no_slot_ratio", "failure_ratio")
    for window in ("1h", "1d", "7d")
]


def tool(name: str) -> str:
    path = shutil.which(name)
    package = "prometheus" if name != "amtool" else "prometheus-alertmanager"
    assert path is not None, f"{name} is missing (Debian package {package}): run `make setup`"
    return path


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def rules() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found.extend(group["rules"])
    return found


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def test_prometheus_config_and_its_rule_files_pass_promtool_check_config() -> None:
    result = run(tool("promtool"), "check", "config", PROM / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # check config finds and checks the rule files through the rule_files glob
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_rule_files_pass_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    result = run(tool("promtool"), "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_threshold_fails_the_unit_tests(tmp_path: Path) -> None:
    """The unit tests bite: the same tests against a rule with a changed threshold fail."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for path in RULE_FILES:
        text = path.read_text(encoding="utf-8")
        (tmp_path / "rules" / path.name).write_text(text.replace(") >= 2", ") >= 3"))
    shutil.copy(PROM / "tests" / "sites_test.yml", tmp_path / "tests")
    result = run(tool("promtool"), "test", "rules", "sites_test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "WatchdogSiteDown" in result.stdout + result.stderr


def test_the_contract_recording_rules_exist_and_are_unit_tested() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    assert set(CONTRACT_RULES) <= recorded
    tested = "\n".join(path.read_text(encoding="utf-8") for path in RULE_TESTS)
    untested = [name for name in CONTRACT_RULES if f"expr: round({name}" not in tested]
    assert not untested, f"recording rules without a promql_expr_test: {untested}"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: str(a["alert"]))
def test_every_alert_has_severity_audience_french_texts_and_a_runbook(
    alert: dict[str, Any],
) -> None:
    assert alert["labels"]["severity"] in {"critical", "warning", "info"}
    assert alert["labels"]["audience"] in {"sre", "investigator"}
    notes = alert["annotations"]
    assert notes["summary"] and notes["description"]
    assert re.search(r"[éèàêç]| le | la | de | des ", notes["summary"] + notes["description"])
    anchor = notes["runbook_url"].removeprefix("docs/runbook.md#")
    headings = re.findall(r"^## (\S+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert anchor == alert["alert"].lower()
    assert alert["alert"] in headings, f"docs/runbook.md has no section {alert['alert']}"


def test_every_alert_is_unit_tested_firing_and_resolved() -> None:
    cases: dict[str, list[bool]] = {}
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    for alert in alerts():
        seen = cases.get(alert["alert"], [])
        assert any(seen), f"{alert['alert']}: no test where it fires"
        fired_at = seen.index(True)
        assert False in seen[fired_at:], f"{alert['alert']}: no test where it resolves"


def test_alertmanager_config_passes_amtool() -> None:
    result = run(tool("amtool"), "check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["audience=sre", "severity=critical", "alertname=WatchdogSiteDown"], "sre-pager"),
        (["audience=sre", "severity=warning", "alertname=WatchdogProbeErrors"], "sre"),
        (["audience=investigator", "severity=warning"], "investigators"),
        (["alertname=SomethingElse"], "sre"),
    ],
)
def test_alertmanager_routes_by_audience(labels: list[str], receiver: str) -> None:
    result = run(
        tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_every_audience_of_the_rules_has_a_route() -> None:
    routes = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))["route"]["routes"]
    routed = {m for route in routes for m in route["matchers"]}
    for audience in {alert["labels"]["audience"] for alert in alerts()}:
        assert f'audience="{audience}"' in routed
