"""Prometheus and Alertmanager configuration: promtool/amtool checks, rule unit tests, and
the conventions every alert must follow (severity, audience, runbook, fire-and-resolve test).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from polling import wait_until

REPO = Path(__file__).resolve().parent.parent
PROM = REPO / "config" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*_test.yml"))
ALERTMANAGER = REPO / "config" / "alertmanager" / "alertmanager.yml"
RUNBOOK = REPO / "docs" / "runbook.md"
# The runbook's published copy, used when Prometheus has no `runbook_base` external label.
RUNBOOK_BASE = (
    "https://github.com/prefecture-watchdog/prefecture-watchdog/blob/main/docs/runbook.md"
)
RUNBOOK_TEMPLATE = re.compile(
    r'^\{\{ or \$externalLabels\.runbook_base "(?P<base>https://[^"]+)" \}\}#(?P<anchor>[a-z]+)$'
)
BRIDGE_PATH = "/alertmanager"  # the watchdog's own webhook (notifications.alertmanager.path)
# Alerts that fire by design at every evaluation (the dead-man's switch): never resolved.
ALWAYS_FIRING = {"WatchdogHeartbeat"}
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
    link = RUNBOOK_TEMPLATE.match(notes["runbook_url"])
    assert link is not None, f"runbook_url is not the absolute, configurable form: {notes}"
    assert link["base"] == RUNBOOK_BASE
    anchor = link["anchor"]
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
        if alert["alert"] in ALWAYS_FIRING:
            assert all(seen), f"{alert['alert']} must fire at every evaluation tested"
            continue
        fired_at = seen.index(True)
        assert False in seen[fired_at:], f"{alert['alert']}: no test where it resolves"


def test_alertmanager_config_passes_amtool() -> None:
    result = run(tool("amtool"), "check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["audience=sre", "severity=critical", "alertname=WatchdogSiteDown"], "sre-pager"),
        (["audience=sre", "severity=critical", "delivery=direct", "alertname=X"], "sre-direct"),
        (["alertname=WatchdogHeartbeat", "severity=info", "audience=sre"], "deadmans-switch"),
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


def route_of(labels: dict[str, str], config: Path = ALERTMANAGER) -> str:
    """The receiver `amtool config routes test` picks for an alert with these labels."""
    pairs = [f"{name}={value}" for name, value in labels.items()]
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={config}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def bridge_receivers(config: Path = ALERTMANAGER) -> set[str]:
    """Receivers with any webhook on the watchdog's bridge (whatever the host or port)."""
    receivers = yaml.safe_load(config.read_text(encoding="utf-8"))["receivers"]
    return {
        r["name"] for r in receivers
        if any(w.get("url", "").rstrip("/").endswith(BRIDGE_PATH)
               for w in r.get("webhook_configs", []))
    }  # fmt: skip


def self_alerts() -> list[dict[str, Any]]:
    """The watchdog's own critical alerts and its dead-man's switch (as the rules label them)."""
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            if group["name"] in ("watchdog-self", "watchdog-heartbeat"):
                found += [r for r in group["rules"] if "alert" in r
                          and r["labels"]["severity"] in ("critical", "info")]  # fmt: skip
    return found


def test_the_self_alerts_are_the_expected_ones() -> None:
    names = {alert["alert"] for alert in self_alerts()}
    assert names >= {"WatchdogDown", "WatchdogAbsent", "WatchdogHeartbeat",
                     "WatchdogNotificationsFailing", "WatchdogStoreWriteErrors",
                     "WatchdogObservationsDropped", "WatchdogDiskAlmostFull"}  # fmt: skip
    assert bridge_receivers() == {"sre-pager", "sre"}  # the bridge is really recognised


@pytest.mark.parametrize("alert", self_alerts(), ids=lambda a: str(a["alert"]))
def test_critical_self_alerts_never_route_to_the_watchdogs_bridge(alert: dict[str, Any]) -> None:
    """An alert saying the watchdog (or its store, disk or notifications) failed is delivered by
    Alertmanager itself: the receiver amtool picks for the rule's own labels posts elsewhere."""
    labels = {"alertname": alert["alert"], **alert["labels"], "instance": "127.0.0.1:9788",
              "job": "watchdog", "target": "t", "route": "oncall", "kind": "evidence"}  # fmt: skip
    receiver = route_of(labels)
    assert receiver not in bridge_receivers()
    receivers = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))["receivers"]
    config = next(r for r in receivers if r["name"] == receiver)
    assert config.get("email_configs") or config.get("webhook_configs"), receiver
    expected = "deadmans-switch" if alert["alert"] in ALWAYS_FIRING else "sre-direct"
    assert receiver == expected


def test_the_bridge_check_bites_without_the_direct_route(tmp_path: Path) -> None:
    """Without the `delivery="direct"` route, WatchdogDown would page through the bridge, and
    the check above sees it."""
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    config["route"]["routes"] = [
        r for r in config["route"]["routes"] if r["matchers"] != ['delivery="direct"']
    ]
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    labels = {"alertname": "WatchdogDown", "severity": "critical", "audience": "sre",
              "delivery": "direct"}  # fmt: skip
    assert route_of(labels, broken) in bridge_receivers(broken)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def firing(port: int) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as r:
            alerts_now: list[dict[str, Any]] = json.load(r)["data"]["alerts"]
    except OSError:
        return []
    return alerts_now


def test_runbook_base_external_label_moves_every_runbook_url(tmp_path: Path) -> None:
    """A real Prometheus with `external_labels: {runbook_base: …}` (the documented setting)
    renders every runbook_url under that base; the always-firing heartbeat shows it."""
    prometheus = tool("prometheus")
    base = "https://wiki.interieur.example/sre/watchdog-runbook"
    (tmp_path / "rules").mkdir()
    for path in RULE_FILES:
        shutil.copy(path, tmp_path / "rules" / path.name)
    config = {"global": {"evaluation_interval": "1s", "external_labels": {"runbook_base": base}},
              "rule_files": ["rules/*.yml"]}  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        try:
            heartbeat = wait_until(
                lambda: next((a for a in firing(port)
                              if a["labels"]["alertname"] == "WatchdogHeartbeat"), None),
                60, "WatchdogHeartbeat firing in Prometheus",
            )  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert heartbeat["annotations"]["runbook_url"] == f"{base}#watchdogheartbeat"
