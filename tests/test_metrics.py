"""The /metrics exposition: golden text for fixed observations, promtool-clean, parseable,
every series pre-created, reload-safe. Each test builds a fresh `Metrics`.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from watchdog.domain.models import AssistRecord, Env, Observation, Outcome
from watchdog.domain.target import Target
from watchdog.domain.vantage import CanaryCheck
from watchdog.evidence.network import NetworkFacts
from watchdog.metrics.registry import Metrics
from watchdog.store.usage import Disk, StoreSize

GOLDEN = Path(__file__).parent / "fixtures" / "metrics" / "golden.prom"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CERT_EXPIRY = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
PHASES = {"dns": 0.004, "connect": 0.02, "tls": 0.045, "first_byte": 0.3, "load": 1.8}


def make_target(target_id: str, **fields: Any) -> Target:
    values = {
        "id": target_id,
        "department": "01",
        "prefecture": "Ain",
        "procedure": "premiere_demande",
        "label": "Rendez-vous titres de séjour",
        "platform": "legacy_booking",
        "url": "https://www.ain.gouv.fr/booking/create/804/0",
        "interval": "15m",
        **fields,
    }
    return Target.model_validate(values)


def obs(target: str, n: int, outcome: Outcome, duration: float, **fields: Any) -> Observation:
    started = T0 + timedelta(minutes=15 * n)
    fields.setdefault("env", Env(software="test"))
    return Observation(
        id=f"{target}-{n}", target=target, outcome=outcome, detail="test",
        started_at=started, finished_at=started + timedelta(seconds=duration),
        duration_s=duration, **fields,
    )  # fmt: skip


def fixed_metrics() -> Metrics:
    """Two targets; Ain offers 2 slots once (first in 12.5 days), then none, then a 502;
    Yvelines (quiet) is never observed. One https page load of Ain, its certificate, and a
    certificate seen on a host no target names (not exported); the store's size and disk, and
    21 observations retention pruned from Ain's chain (and 4 of a target no longer declared,
    not exported)."""
    ain = make_target("ain-premiere-demande")
    quiet = make_target(
        "yvelines-titre", department="78", prefecture="Yvelines", procedure="renouvellement",
        platform="rdv_prefecture", label='Titre de séjour "Versailles"',
        url="https://rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/4083/",
    )  # fmt: skip
    metrics = Metrics(CollectorRegistry(auto_describe=True), version="0.0.0-golden")
    metrics.declare([ain, quiet])
    metrics.network(ain, NetworkFacts("www.ain.gouv.fr", CERT_EXPIRY, PHASES))
    metrics.network(ain, NetworkFacts("elsewhere.gouv.fr", CERT_EXPIRY, {}))
    metrics.store_usage(StoreSize(database_bytes=1_234_567, evidence_bytes=89_000_000,
                                  pruned={ain.id: 21, "removed-long-ago": 4}),
                        Disk(free_bytes=40_000_000_000, size_bytes=100_000_000_000))  # fmt: skip
    metrics.canary(CanaryCheck("paris", T0, True, "https://canary.example/ok", 0.2, 200))
    first = T0 + timedelta(seconds=3.5)
    metrics.observe(obs(ain.id, 0, Outcome.AVAILABLE, 3.5, slots=2,
                        earliest_slot=first + timedelta(days=12.5)), ain)  # fmt: skip
    metrics.observe(obs(ain.id, 1, Outcome.NO_SLOT, 2.0), ain)
    metrics.observe(obs(ain.id, 2, Outcome.SITE_ERROR, 0.75), ain)
    metrics.observe(obs(ain.id, 3, Outcome.PROBE_ERROR, 130.0), ain)
    # An assisted session solved 40 s after parking and ended by the site 400 s after that.
    session = AssistRecord(session="01J", target=ain.id, solved_after_s=40.0, end="site_ended")
    metrics.assisted_session(ain, obs(ain.id + ".assist", 4, Outcome.CAPTCHA, 440.0,
                                      assist=session))  # fmt: skip
    return metrics


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exposition_matches_the_golden_text() -> None:
    text = fixed_metrics().exposition().decode()
    if os.environ.get("WATCHDOG_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_golden_text_passes_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed: make setup"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=GOLDEN.read_bytes(), capture_output=True,
        timeout=30,
    )  # fmt: skip
    problems = [
        line
        for line in (result.stdout + result.stderr).decode().splitlines()
        # docs/design.md §3 names this gauge in days (the contract); promtool prefers seconds.
        if line.strip() and not line.startswith("watchdog_earliest_slot_days ")
    ]
    assert not problems, problems


def test_exposition_values_read_back_through_the_prometheus_parser() -> None:
    got = samples(fixed_metrics().exposition().decode())
    ain = ("target", "ain-premiere-demande")
    base = {ain, ("department", "01"), ("procedure", "premiere_demande"),
            ("platform", "legacy_booking")}  # fmt: skip

    def outcome(name: str) -> float:
        labels = frozenset({*base, ("outcome", name), ("method", "automatic")})
        return got[("watchdog_probe_outcomes_total", labels)]

    assert [outcome(o) for o in ("available", "no_slot", "site_error", "probe_error")] == [1] * 4
    assert outcome("captcha") == 0
    hist = frozenset({ain, ("platform", "legacy_booking")})
    bucket = "watchdog_probe_duration_seconds_bucket"
    assert got[(bucket, hist | {("le", "1.0")})] == 1  # 0.75 s
    assert got[(bucket, hist | {("le", "2.0")})] == 2  # 2.0 s: le is inclusive
    assert got[(bucket, hist | {("le", "120.0")})] == 3
    assert got[(bucket, hist | {("le", "+Inf")})] == 4
    assert got[("watchdog_probe_duration_seconds_sum", hist)] == 136.25
    assert got[("watchdog_site_up", frozenset({ain}))] == 0  # the 502; probe_error says nothing
    assert got[("watchdog_slots_available", frozenset({ain}))] == 0  # the last reading
    assert math.isnan(got[("watchdog_earliest_slot_days", frozenset({ain}))])
    last = (T0 + timedelta(minutes=45, seconds=130)).timestamp()
    assert got[("watchdog_last_observation_timestamp_seconds", frozenset({ain}))] == last
    assert got[("watchdog_target_interval_seconds", frozenset({ain}))] == 900


def test_a_quiet_target_has_every_series_at_zero_not_missing() -> None:
    got = samples(fixed_metrics().exposition().decode())
    quiet = {(name, labels) for name, labels in got if ("target", "yvelines-titre") in labels}
    names = {name for name, _ in quiet}
    assert len([1 for name, _ in quiet if name == "watchdog_probe_outcomes_total"]) == len(Outcome)
    assert names >= {
        "watchdog_site_up", "watchdog_slots_available", "watchdog_target_info",
        "watchdog_last_observation_timestamp_seconds", "watchdog_probe_duration_seconds_count",
        "watchdog_earliest_slot_days",
    }  # fmt: skip
    info = next(labels for name, labels in quiet if name == "watchdog_target_info")
    assert ("label", 'Titre de séjour "Versailles"') in info  # escaped and read back intact


def test_earliest_slot_days_describes_the_last_observation_only() -> None:
    metrics = Metrics()
    target = make_target("ain")
    metrics.declare([target])
    finished = T0 + timedelta(seconds=2)
    metrics.observe(obs("ain", 0, Outcome.AVAILABLE, 2.0, slots=1,
                        earliest_slot=finished + timedelta(days=3)), target)  # fmt: skip
    assert metrics.earliest_days.labels("ain").value == 3.0
    metrics.observe(obs("ain", 1, Outcome.NO_SLOT, 2.0), target)
    assert math.isnan(metrics.earliest_days.labels("ain").value)


def test_forget_drops_every_series_of_the_target_and_declare_is_idempotent() -> None:
    metrics = Metrics()
    kept, gone = make_target("kept"), make_target("gone")
    metrics.declare([kept, gone])
    metrics.declare([kept, gone])
    metrics.observe(obs("kept", 0, Outcome.NO_SLOT, 1.0), kept)
    metrics.declare([kept])
    metrics.forget("gone", gone.platform)
    text = metrics.exposition().decode()
    assert 'target="gone"' not in text
    no_slot = 'watchdog_probe_outcomes_total{department="01",method="automatic",outcome="no_slot"'
    assert text.count(no_slot) == 1
    kept_no_slot = 'outcome="no_slot",platform="legacy_booking",procedure="premiere_demande"'
    assert kept_no_slot + ',target="kept"} 1.0' in text


def test_an_edited_description_replaces_the_info_series_on_reload() -> None:
    metrics = Metrics()
    metrics.declare([make_target("ain")])
    metrics.declare([make_target("ain", label="Nouveau libellé")])
    info = [line for line in metrics.exposition().decode().splitlines()
            if line.startswith("watchdog_target_info{")]  # fmt: skip
    assert len(info) == 1 and 'label="Nouveau libellé"' in info[0]


def test_other_collectors_of_the_registry_follow_the_families() -> None:
    metrics = Metrics()
    Gauge("watchdog_scheduler_in_flight", "Probes running now.", registry=metrics.registry).set(2)
    text = metrics.exposition().decode()
    assert text.index("watchdog_target_info") < text.index("watchdog_scheduler_in_flight 2.0")


def test_sre_series_read_back() -> None:
    got = samples(fixed_metrics().exposition().decode())
    assert got[("watchdog_build_info", frozenset({("version", "0.0.0-golden")}))] == 1
    expiry = (
        "watchdog_tls_cert_expiry_timestamp_seconds",
        frozenset({("host", "www.ain.gouv.fr")}),
    )
    assert got[expiry] == CERT_EXPIRY.timestamp()
    hosts = {dict(labels).get("host") for name, labels in got
             if name == "watchdog_tls_cert_expiry_timestamp_seconds"}  # fmt: skip
    assert hosts == {"www.ain.gouv.fr"}  # a host no target names is not a label
    assert got[("watchdog_store_bytes", frozenset({("part", "evidence")}))] == 89_000_000
    assert got[("watchdog_disk_free_bytes", frozenset())] == 40_000_000_000
    for platform in ("legacy_booking", "rdv_prefecture"):  # every phase of every platform
        for phase in PHASES:
            key = frozenset({("platform", platform), ("phase", phase)})
            count = got[("watchdog_probe_phase_seconds_count", key)]
            assert count == (1 if platform == "legacy_booking" else 0)
    tls = frozenset({("platform", "legacy_booking"), ("phase", "tls"), ("le", "0.05")})
    assert got[("watchdog_probe_phase_seconds_bucket", tls)] == 1  # 45 ms


def test_the_store_is_nan_until_measured_and_a_new_catalog_forgets_old_hosts() -> None:
    metrics = Metrics(CollectorRegistry(auto_describe=True), version="x")
    ain = make_target("ain-premiere-demande")
    metrics.declare([ain])
    got = samples(metrics.exposition().decode())
    assert math.isnan(got[("watchdog_store_bytes", frozenset({("part", "database")}))])
    assert math.isnan(got[("watchdog_disk_free_bytes", frozenset())])
    metrics.network(ain, NetworkFacts("www.ain.gouv.fr", datetime(2027, 1, 1, tzinfo=UTC)))
    other = make_target("paris", url="https://www.prefecturedepolice.interieur.gouv.fr/x")
    metrics.declare([other])  # a reload without Ain's host
    text = metrics.exposition().decode()
    assert 'host="www.ain.gouv.fr"' not in text


def test_assisted_reads_are_told_apart_and_counted_in_the_outcomes_too() -> None:
    metrics = fixed_metrics()
    ain = make_target("ain-premiere-demande")
    person = Env(
        software="test", captcha_solved_by="person", assisted_session="01J", since_solve_s=60
    )
    metrics.observe(obs(ain.id, 4, Outcome.AVAILABLE, 1.0, slots=3, env=person), ain)
    metrics.observe(obs(ain.id, 5, Outcome.CAPTCHA, 1.0), ain)  # a probe at the wall
    values = samples(metrics.exposition().decode())
    assisted = ("watchdog_assisted_reads_total", frozenset({("target", ain.id),
                ("outcome", "available")}))  # fmt: skip
    assert values[assisted] == 1.0
    assert not [k for k in values if k[0] == "watchdog_assisted_reads_total" and
                ("outcome", "captcha") in k[1]]  # fmt: skip
    outcomes = {k: v for k, v in values.items() if k[0] == "watchdog_probe_outcomes_total"
                and ("target", ain.id) in k[1] and ("outcome", "available") in k[1]}  # fmt: skip
    by_method = {dict(k[1])["method"]: v for k, v in outcomes.items()}
    assert by_method == {"automatic": 1.0, "assisted": 1.0}  # the label tells them apart


def test_a_slot_gone_is_one_sample_of_its_upper_bound_and_forgotten_with_its_target() -> None:
    rdv = make_target(
        "val-de-marne-rdv", platform="rdv_prefecture",
        url="https://rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/16040/",
    )  # fmt: skip
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    metrics.declare([rdv, make_target("ain")])
    metrics.slot_gone(rdv, 380.0)
    metrics.slot_gone(rdv, None)  # there at the first observation: no upper bound, no sample
    found = samples(metrics.exposition().decode())
    name = "watchdog_slot_lifetime_seconds"

    def value(suffix: str, target: str, **extra: str) -> float:
        return found[(name + suffix, frozenset({"target": target, **extra}.items()))]

    assert value("_count", rdv.id) == 1 and value("_sum", rdv.id) == 380.0
    assert value("_bucket", rdv.id, le="300.0") == 0 and value("_bucket", rdv.id, le="600.0") == 1
    assert value("_count", "ain") == 0  # pre-created: a quiet target reads 0
    metrics.forget(rdv.id, rdv.platform)
    assert f'{name}_count{{target="{rdv.id}"' not in metrics.exposition().decode()


def test_pruned_observations_are_unknown_until_measured_then_per_declared_target() -> None:
    ain, quiet = make_target("ain-premiere-demande"), make_target("yvelines-titre")
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    metrics.declare([ain, quiet])
    name = "watchdog_retention_pruned_observations"

    def pruned() -> dict[str, float]:
        got = samples(metrics.exposition().decode())
        return {dict(labels)["target"]: v for (n, labels), v in got.items() if n == name}

    assert all(math.isnan(v) for v in pruned().values()) and set(pruned()) == {ain.id, quiet.id}
    metrics.store_usage(StoreSize(1, 2, pruned={ain.id: 7, "gone": 3}), None)
    assert pruned() == {ain.id: 7, quiet.id: 0}
    metrics.store_usage(StoreSize(1, 2, pruned=None), None)  # the database would not say
    assert pruned() == {ain.id: 7, quiet.id: 0}
    metrics.forget(quiet.id, quiet.platform)
    assert pruned() == {ain.id: 7}
