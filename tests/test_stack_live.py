"""A real Prometheus scrapes a real `watchdog run` probing the simulator: every recording
rule and every dashboard panel query returns data through Prometheus' HTTP API, and the
dashboards' variable queries find values. Waits poll against one deadline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from polling import wait_until
from prometheus_client.parser import text_string_to_metric_families
from stack import PROM_CONFIG, TARGETS, Stack, StackError, running_stack

from watchdog import __version__
from watchdog.dashboards import build_all

DEADLINE = 240  # s: first probes need Chromium; a loaded CI runner is slow
ALL = ".*"
RATE_INTERVAL = "30s"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    try:
        with running_stack(folder) as running:
            yield running
    except StackError as exc:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(folder.glob("*.log")))  # fmt: skip
        pytest.fail(f"{exc}\n{logs}", pytrace=False)


def recording_rules() -> list[str]:
    names = []
    for path in sorted((PROM_CONFIG / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names += [rule["record"] for rule in group["rules"] if "record" in rule]
    return names


def substitute(expr: str, values: dict[str, str]) -> str:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)


def panel_queries(values: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(dashboard / panel title, PromQL, instant?) for every Prometheus query."""
    found = []
    for name, model in build_all().items():
        for panel in model["panels"]:
            for target in panel["targets"]:
                if target["datasource"]["type"] == "prometheus":
                    where = f"{name} / {panel['title']} / {target['refId']}"
                    found.append((where, substitute(target["expr"], values),
                                  bool(target.get("instant"))))  # fmt: skip
    return found


def missing(stack: Stack, queries: list[tuple[str, str, bool]]) -> list[str]:
    empty = []
    for where, expr, instant in queries:
        if not stack.query(expr, instant=instant):
            empty.append(f"{where}: {expr}")
    return empty


def wait_for_data(stack: Stack, queries: list[tuple[str, str, bool]], started: float) -> None:
    empty: list[str] = []

    def ready() -> bool:
        empty[:] = missing(stack, queries)
        return not empty

    try:
        wait_until(ready, DEADLINE - (time.monotonic() - started), "data", every=1)
    except AssertionError:
        pytest.fail(f"no data after {DEADLINE}s for:\n" + "\n".join(empty), pytrace=False)


def test_every_recording_rule_returns_data(stack: Stack) -> None:
    names = recording_rules()
    assert len(names) == 24
    wait_for_data(stack, [(name, name, True) for name in names], time.monotonic())
    # The rules compute what docs/design.md §2 says: "ain-no-slot" only ever answers "no slot",
    # "ain-slots" always offers slots, "versailles-captcha" never gets past the captcha.
    want_ratio: Want = {"ain-no-slot": 1.0, "ain-slots": 0.0}
    want_failure: Want = {"ain-slots": 0.0, "versailles-captcha": 1.0, "bobigny-502": 1.0}
    ratio = eventually(stack, "watchdog:no_slot_ratio:rate1h", want_ratio)
    assert "versailles-captcha" not in ratio  # no available/no_slot answer: undefined
    eventually(stack, "watchdog:failure_ratio:rate1h", want_failure)
    # Ain mixes both journeys (their probe counts differ); Val-de-Marne has only "no slot".
    want_department: Want = {"94": 1.0, "01": (0.0, 1.0)}
    eventually(stack, "department:watchdog_no_slot_ratio:rate1h", want_department, "department")


Want = dict[str, float | tuple[float, float]]


def holds(value: float | None, want: float | tuple[float, float]) -> bool:
    """Equal to 1e-6, or strictly inside an open interval."""
    if value is None:
        return False
    if isinstance(want, tuple):
        return want[0] < value < want[1]
    return abs(value - want) < 1e-6


def eventually(stack: Stack, expr: str, want: Want, label: str = "target") -> dict[str, float]:
    """Poll `expr` until the series named in `want` hold those values."""
    got: dict[str, float] = {}

    def ready() -> bool:
        got.clear()
        got.update(
            {r["metric"][label]: float(r["value"][1]) for r in stack.query(expr, instant=True)}
        )
        return all(holds(got.get(key), value) for key, value in want.items())

    try:
        wait_until(ready, DEADLINE, expr, every=1)
    except AssertionError:
        pytest.fail(f"{expr}: want {want}, got {got}", pytrace=False)
    return got


def test_every_dashboard_query_returns_data_with_all_values(stack: Stack) -> None:
    queries = panel_queries({"department": ALL, "procedure": ALL, "target": ALL, "platform": ALL})
    assert len(queries) >= 25
    wait_for_data(stack, queries, time.monotonic())


def test_dashboard_variables_find_values_and_filter_queries(stack: Stack) -> None:
    values: dict[str, list[str]] = {}
    for model in build_all().values():
        for variable in model["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert match, variable["query"]
            selector = substitute(match.group(1), {k: ALL for k in ("department", "procedure")})
            found = stack.api(f"label/{match.group(2)}/values", **{"match[]": selector})["data"]
            assert found, variable["name"]
            values[variable["name"]] = found
    assert {t[1] for t in TARGETS} <= set(values["target"])
    assert {"01", "75", "78", "93", "94"} <= set(values["department"])
    # The drill-down on one target: Ain, first application, the no-slot journey.
    one = {"department": "01", "procedure": "premiere_demande", "target": "ain-no-slot"}
    queries = [q for q in panel_queries(one) if q[0].startswith("prefecture.json")]
    wait_for_data(stack, queries, time.monotonic())
    outcomes = stack.query(
        'sum by (outcome) (watchdog_probe_outcomes_total{target=~"ain-no-slot"}) > 0',
        instant=True)  # fmt: skip
    assert {r["metric"]["outcome"] for r in outcomes} == {"no_slot"}


def test_the_scraped_exposition_passes_promtool_check_metrics(stack: Stack) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed: make setup"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=stack.metrics(), capture_output=True, timeout=30
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).decode().splitlines()
        if line.strip() and not line.startswith("watchdog_earliest_slot_days ")
    ]
    assert not problems, problems


def test_prometheus_loaded_every_rule_group_without_error(stack: Stack) -> None:
    groups: list[dict[str, Any]] = stack.api("rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {"watchdog-rates", "watchdog-sites", "watchdog-barriers", "watchdog-self"} <= names
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
                 if r.get("health") == "err"]  # fmt: skip
    assert not unhealthy, unhealthy
    up = stack.query('up{job="watchdog"}', instant=True)
    assert [float(r["value"][1]) for r in up] == [1.0]


def sre_samples(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = stack.metrics().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples}  # fmt: skip


def test_the_sre_series_are_live(stack: Stack) -> None:
    """Build, process, store and disk, the phases of real page loads, and the expiry of the
    certificate the HTTPS target really presents (as openssl reads it)."""
    phase = "watchdog_probe_phase_seconds_count"
    browser = {("platform", "legacy_booking")}

    def loaded() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        got = sre_samples(stack)
        done = got.get((phase, frozenset({*browser, ("phase", "load")})), 0) > 0
        tls = [k for k in got if k[0] == "watchdog_tls_cert_expiry_timestamp_seconds"]
        return got if done and tls else None

    got = wait_until(loaded, DEADLINE, "phases and a certificate in /metrics", every=1)
    assert got[("watchdog_build_info", frozenset({("version", __version__)}))] == 1
    assert got[("process_resident_memory_bytes", frozenset())] > 10_000_000
    assert got[("process_start_time_seconds", frozenset())] > 0
    assert got[("watchdog_store_bytes", frozenset({("part", "database")}))] > 0
    assert got[("watchdog_disk_free_bytes", frozenset())] > 0
    for name in ("dns", "connect", "first_byte"):  # http on loopback: no TLS phase
        assert got[(phase, frozenset({*browser, ("phase", name)}))] > 0, name
    assert got[(phase, frozenset({*browser, ("phase", "tls")}))] == 0
    expiry = got[("watchdog_tls_cert_expiry_timestamp_seconds", frozenset({("host", "127.0.0.1")}))]
    out = subprocess.run(
        ["openssl", "x509", "-enddate", "-noout", "-in", str(stack.folder / "tls-cert.pem")],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    text = " ".join(out.strip().removeprefix("notAfter=").split())
    assert expiry == datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC).timestamp()
