"""Issue 18 item 3: time limits, and the mobile and slow-network audit runs.

The time-limit page is a test fixture on loopback (our own page, no replica): a form that
reloads itself after 15 minutes through a meta refresh. The session end is the simulator's
RDV-Préfecture, whose documented marker is the redirect to `cgu/?error=errorSessionInvalide`
(docs/platforms.md). The profile runs go through the same journeys under Chromium's mobile
emulation and the DevTools throttling, and their records say what was applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, target, write_config
from polling import until
from test_bundle import rewrite
from test_report import visible_text

from watchdog.bundle.check import verify_bundle
from watchdog.bundle.export import export_bundle
from watchdog.cli.main import main
from watchdog.config.loader import Config
from watchdog.daemon import service
from watchdog.daemon.audits import Key, Kind
from watchdog.daemon.service import Daemon
from watchdog.domain.models import (
    AuditProfile,
    Env,
    Extendable,
    Observation,
    Outcome,
    audit_chain,
    nested_blobs,
)
from watchdog.engine.runner import Runner
from watchdog.report.api import ReportOptions, build_report_async
from watchdog.store import Store
from watchdog.store.verify import verify_store

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">{head}
<title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"""
PAGES = {
    "/t/start": PAGE.format(head="", title="Accueil", body='<p><a id="next" href="/t/form">'
                            "Continuer</a></p>"),
    # Planted: a page that reloads itself after 900 s (RGAA 13.1: a time limit not extendable),
    # and a field without a label (RGAA 11.1), whose capture a bundle must carry.
    "/t/form": PAGE.format(head='<meta http-equiv="refresh" content="900">', title="Demande",
                           body='<p><input type="text" name="code"></p>'
                           "<p>Aucun créneau disponible.</p>"),
}  # fmt: skip
OPTIONS = {
    "steps": [{"click": "#next"}],
    "rules": [{"text": "Aucun créneau", "outcome": "no_slot", "detail": "none"}],
}
OPERATOR = {"captcha": "operator", "operator_headers": {"X-Operator-Token": "op-secret-token"}}


@pytest.fixture
def site(sim: Sim) -> Iterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGES[request.path], content_type="text/html")

    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, page)
    with loopback_site(sim, app) as base:
        yield base


@pytest.fixture
def config(site: str, sim: Sim, tmp_path: Path) -> Config:
    return write_config(
        tmp_path,
        [target("t", "steps", f"{site}/t/start", OPTIONS),
         target("rdv", "rdv_prefecture", sim.entry_url("rdv-session-expired"), OPERATOR)],
    )  # fmt: skip


def audit(
    sim: Sim, config: Config, target_id: str, profile: AuditProfile = AuditProfile.STANDARD
) -> Observation:
    found = config.target(target_id)
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        runner = Runner(config, store.blobs.put, sim.host)
        return store.append(sim.loop.run(runner.probe(found, audit=True, profile=profile)))
    finally:
        store.close()


def test_a_meta_refresh_is_a_time_limit_that_cannot_be_extended(sim: Sim, config: Config) -> None:
    found = audit(sim, config, "t")
    assert found.audit is not None
    (limit,) = found.audit.time_limits  # the steps platform documents no time limit
    assert (limit.kind, limit.seen, limit.step, limit.seconds) == ("refresh", True, "step_1", 900)
    assert limit.extendable is Extendable.NO
    assert limit.shown_as == '<meta http-equiv="refresh" content="900">'
    rules = {(p.step, v.rule, tuple(v.criteria)) for p in found.audit.pages for v in p.violations}
    assert ("step_1", "meta-refresh", ("13.1",)) in rules  # axe-core says the same, under 13.1
    assert [load.step for load in found.audit.loads] == ["entry", "step_1"]
    assert all(load.ms is not None and "load" in load.phases for load in found.audit.loads)


def test_a_session_the_site_ended_is_seen_and_the_documented_limits_come_along(
    sim: Sim, config: Config
) -> None:
    found = audit(sim, config, "rdv")
    assert found.audit is not None and found.detail == "session_expired"
    by_kind = {limit.kind: limit for limit in found.audit.time_limits}
    session, confirmation = by_kind["session"], by_kind["confirmation"]
    assert session.seen and session.step is not None
    assert session.shown_as == "cgu/?error=errorSessionInvalide"
    assert session.seconds is None  # no source gives the lifetime: none is invented
    assert session.extendable is Extendable.UNKNOWN
    assert not confirmation.seen and confirmation.past_availability
    assert confirmation.seconds == 900 and confirmation.extendable is Extendable.UNKNOWN
    assert "15 minutes" in (confirmation.source or "")


def test_profile_runs_record_their_conditions_and_each_steps_load(sim: Sim, config: Config) -> None:
    mobile = audit(sim, config, "t", AuditProfile.MOBILE)
    slow = audit(sim, config, "t", AuditProfile.SLOW_3G)
    for run in (mobile, slow):
        assert run.audit is not None and run.target == audit_chain("t")
        assert run.audit.pages == [] and run.audit.engine == "navigation timing"
        assert run.evidence.axe is None and run.evidence.screenshot is not None
        assert [load.step for load in run.audit.loads] == ["entry", "step_1"]
        assert run.outcome.value == "no_slot"  # the same journey, no further
    assert mobile.audit is not None and slow.audit is not None
    assert mobile.audit.conditions is not None and mobile.audit.conditions.mobile
    assert mobile.audit.conditions.latency_ms is None
    assert slow.audit.conditions is not None and slow.audit.conditions.latency_ms == 400
    # The DevTools throttling was applied: no page loaded sooner than the added latency (a
    # floor the emulation guarantees, not a measure of speed).
    assert all(load.phases["load"] >= 0.4 for load in slow.audit.loads)
    assert all((load.ms or 0) >= 400 for load in slow.audit.loads)
    store = Store.open(config.watchdog.data_dir)
    try:
        assert store.count(audit_chain("t")) == 2 and store.count("t") == 0
        assert verify_store(store).ok
    finally:
        store.close()


def test_the_audit_command_takes_a_profile(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "t", "--profile", "mobile", "--config", str(config.source)]) == 0
    out = capsys.readouterr().out
    assert "profile     mobile (viewport 390x844 mobile)" in out
    assert "load per step" in out and "  step_1" in out
    assert "engine" not in out  # no axe-core in a profile run


def test_bundles_carry_the_audit_chains_and_their_captures_and_check_them_offline(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    probe_and_store(sim, config, "t")
    standard = audit(sim, config, "t")
    audit(sim, config, "t", AuditProfile.MOBILE)
    captures = nested_blobs(json.loads(standard.model_dump_json()))
    assert any("element" in where for _, _, where in captures)  # the unlabelled field's
    found = config.target("t")
    assert found is not None
    out = tmp_path / "lot.zip"
    now = datetime.now(UTC)
    with Store.open(config.watchdog.data_dir) as store:
        result = export_bundle(
            store, [found], since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
            out=out, report=ReportOptions(formats=("html",)),
        )  # fmt: skip
    assert result.observations == 3 and not result.missing_evidence
    archive = zipfile.ZipFile(out)
    manifest = json.loads(archive.read("manifest.json"))
    chains = {c["target"]: c["count"] for c in manifest["chains"]}
    assert chains == {"t": 1, audit_chain("t"): 2}
    names = set(archive.namelist())
    assert all(f"preuves/{sha}.png" in names for sha, _, _ in captures)
    assert standard.evidence.axe is not None and f"preuves/{standard.evidence.axe}.json" in names
    assert verify_bundle(out).ok

    # One element capture gone, and the bundle's lists rewritten to match: only the chain
    # check can see it, and it names the audit and the capture.
    sha = next(sha for sha, _, where in captures if "element" in where)
    gone = f"preuves/{sha}.png"
    sums: dict[str, str] = {}

    def drop(name: str, data: bytes) -> bytes | None:
        if name == gone:
            return None
        if name == "manifest.json":
            doc = json.loads(data)
            doc["files"] = [f for f in doc["files"] if f["path"] != gone]
            data = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode()
            sums[name] = hashlib.sha256(data).hexdigest()
        if name == "SHA256SUMS":
            lines = [line for line in data.decode().splitlines() if not line.endswith(gone)]
            return ("\n".join(lines) + "\n").encode()
        return data

    damaged = tmp_path / "damaged.zip"
    rewrite(out, damaged, drop)
    fixed = tmp_path / "fixed.zip"
    rewrite(damaged, fixed, lambda name, data: _sums(name, data, sums))
    check = verify_bundle(fixed)
    assert not check.ok
    assert [p for p in check.problems if sha in p] == check.problems
    assert "element" in check.problems[0] and "is not in the bundle" in check.problems[0]


def _sums(name: str, data: bytes, sums: dict[str, str]) -> bytes:
    if name != "SHA256SUMS":
        return data
    lines = []
    for line in data.decode().splitlines():
        digest, path = line.split(maxsplit=1)
        lines.append(f"{sums.get(path.lstrip('*'), digest)}  {path}")
    return ("\n".join(lines) + "\n").encode()


def _reports(sim: Sim, config: Config, tmp_path: Path, ids: list[str]) -> dict[str, str]:
    targets = [t for t in config.targets if t.id in ids]
    until = datetime.now(UTC) + timedelta(seconds=1)
    pages = {}
    with Store.open(config.watchdog.data_dir) as store:
        for lang in ("fr", "en"):
            options = ReportOptions(formats=("html",), lang=lang, browser=sim.host, simulated=True)
            (html,) = sim.loop.run(
                build_report_async(
                    store, targets, since=until - timedelta(hours=1), until=until,
                    out_dir=tmp_path / "-".join(ids) / lang, options=options,
                )
            )  # fmt: skip
            pages[lang] = visible_text(html.read_text(encoding="utf-8"))
    return pages


def between(text: str, head: str, tail: str) -> str:
    start = text.index(head)
    return text[start : text.index(tail, start)]


def test_the_report_gives_time_limits_and_load_times_and_recommends_under_13_1(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    for target_id in ("t", "rdv"):
        probe_and_store(sim, config, target_id)
        audit(sim, config, target_id)
    audit(sim, config, "t", AuditProfile.MOBILE)
    audit(sim, config, "t", AuditProfile.SLOW_3G)
    pages = _reports(sim, config, tmp_path, ["t", "rdv"])
    fr, en = pages["fr"], pages["en"]
    section = between(fr, "4.8 L'accessibilité des parcours", "5. Analyse")
    missing = [
        expected
        for expected in (
            "Limites de temps",
            "critère 13.1 du RGAA 4.1",
            "Une limite «\u00a0vue\u00a0»",
            "fin de session durée non publiée inconnu vue à l'étape prendre_rdv",
            "rafraîchissement automatique de la page 15\u00a0minutes non vue à l'étape step_1",
            '<meta http-equiv="refresh" content="900">',
            "cgu/?error=errorSessionInvalide",
            "délai de confirmation 15\u00a0minutes inconnu documentée, non observée, après l'étape "
            "où la disponibilité est visible, que l'audit ne franchit jamais",
            "Temps de chargement par étape",
            "ordinateur, réseau réel (fenêtre configurée)",
            "mobile, réseau réel (fenêtre de 390\u00a0×\u00a0844, émulation mobile de Chromium)",
            "latence ajoutée de 400\u00a0ms, débit de 400\u00a0kbit/s en réception et de "
            "400\u00a0kbit/s en émission\u00a0; processeur ralenti 4\u00a0fois",
            "non une statistique ni le temps vécu par un demandeur",
        )
        if expected not in section
    ]
    assert not missing
    ours = section[section.index("Limites de temps") :]
    assert " :" not in ours and " ;" not in ours  # French spacing: no-break spaces
    recommendations = fr[fr.rindex("6. Recommandations") :]
    assert "notamment le moyen de la prolonger, conformément au critère 13.1 du RGAA 4.1" in (
        recommendations
    )
    english = between(en, "4.8 Accessibility of the journeys", "5. ")
    missing = [
        expected
        for expected in (
            "Time limits",
            "automatic page refresh 15\u00a0minutes no seen at step step_1",
            "end of session length not published unknown seen at step",
            "confirmation deadline 15\u00a0minutes unknown documented, not observed, after the "
            "step",
            "Load time per step",
            "mobile, slow network (390 × 844 window, Chromium's mobile emulation; 400 ms added "
            "latency, 400 kbit/s down and 400 kbit/s up; CPU slowed 4 times)",
        )
        if expected not in english
    ]
    assert not missing
    assert "including a way to extend it, as RGAA 4.1 criterion 13.1 requires" in en


def test_a_time_limit_whose_extension_is_unknown_only_gets_a_note(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    probe_and_store(sim, config, "rdv")
    audit(sim, config, "rdv")
    fr = _reports(sim, config, tmp_path, ["rdv"])["fr"]
    assert "conformément au critère 13.1 du RGAA 4.1" not in fr
    assert (
        "Aucune recommandation n'est formulée au titre du critère 13.1 du RGAA 4.1\u00a0: des "
        "limites de temps ont été vues"
    ) in fr


def test_the_daemon_reads_the_last_run_of_each_profile_for_its_metrics_and_schedule(
    sim: Sim, config: Config
) -> None:
    standard = audit(sim, config, "t")
    mobile = audit(sim, config, "t", AuditProfile.MOBILE)  # the chain's head: not axe-core's
    daemon = Daemon(config)
    daemon._store = Store.open(config.watchdog.data_dir)
    try:
        last = asyncio.run(daemon._refresh_audits())
    finally:
        daemon.store.close()
    assert last == {
        ("t", AuditProfile.STANDARD): standard.started_at.timestamp(),
        ("t", AuditProfile.MOBILE): mobile.started_at.timestamp(),
    }
    text = daemon.metrics.exposition().decode()
    # The violations stay those of the standard audit, though a mobile run came after it.
    assert 'watchdog_a11y_violations{criterion="13.1",impact="critical",target="t"} 1.0' in text
    for profile in ("standard", "mobile"):
        labels = f'profile="{profile}",step="step_1",target="t"'
        assert f"watchdog_a11y_step_load_seconds{{{labels}}}" in text


def _assisted_read(seconds: float, outcome: Outcome, detail: str) -> Observation:
    solved = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    at = solved + timedelta(seconds=seconds)
    env = Env(software="test", captcha_solved_by="person", assisted_session="s1",
              since_solve_s=seconds)  # fmt: skip
    return Observation(
        id=f"read-{seconds:g}", target="rdv", outcome=outcome, detail=detail, started_at=at,
        finished_at=at + timedelta(seconds=2), duration_s=2.0, env=env,
    )  # fmt: skip


def test_an_assisted_session_the_site_ended_gives_the_sessions_observed_length(
    sim: Sim, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A person answered the captcha; the slot page was read at 0, 300 and 600 s after, and the
    # read at 900 s met the site's end of session (what watchdog/assist records).
    with Store.open(config.watchdog.data_dir) as store:
        for seconds in (0, 300, 600):
            store.append(_assisted_read(seconds, Outcome.NO_SLOT, "no_slot_week"))
        store.append(_assisted_read(900, Outcome.CAPTCHA, "session_expired"))
    probe_and_store(sim, config, "rdv")
    assert main(["audit", "rdv", "--json", "--config", str(config.source)]) == 0
    found = Observation.model_validate_json(capsys.readouterr().out)
    assert found.audit is not None
    (session,) = [x for x in found.audit.time_limits if x.kind == "session"]
    assert (session.seen, session.session, session.lasted_s, session.ended_s) == (
        True, "s1", 600, 900,
    )  # fmt: skip
    assert session.seconds is None and session.extendable is Extendable.UNKNOWN
    fr = _reports(sim, config, tmp_path, ["rdv"])["fr"]
    assert (
        "fin de session entre 10\u00a0minutes et 15\u00a0minutes inconnu vue lors d'une session "
        "assistée (une personne a répondu au CAPTCHA)\u00a0: la session était encore ouverte "
        "10\u00a0minutes après la réponse, close 15\u00a0minutes après (lecture du "
        "1er\u00a0décembre 2026 à 10\u00a0h\u00a015) (cgu/?error=errorSessionInvalide)"
    ) in fr


def run_when_due(
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    runs: int,
    what: str,
    later: frozenset[Kind] = frozenset(),
) -> str:
    """`watchdog run` with each audit and check due at start (those of a kind in `later` a
    day away) until `runs` of them are done, then stopped; the metrics it exposed then."""

    class DueNow(service.AuditSchedule):  # due at start, not within its period
        def reload(self, config: Config, last: Mapping[Key, float] | None = None) -> None:
            super().reload(config, last)
            for due in self._due.values():
                due.at = self.clock.now() + (86_400 if due.profile in later else 0)

    monkeypatch.setattr(service, "AuditSchedule", DueNow)
    daemon = Daemon(config)

    async def run() -> str:
        running = asyncio.create_task(daemon.run())
        await until(lambda: daemon._audits is not None and daemon._audits.runs == runs, 300,
                    what)  # fmt: skip
        text = daemon.metrics.exposition().decode()
        daemon.request_stop()
        assert await running == 0
        return text

    return asyncio.run(run())


def test_watchdog_run_stores_each_profiles_audit_when_due(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path, [target("t", "steps", f"{site}/t/start", OPTIONS)],
        audit={"enabled": True}, listen={"port": 0},
    )  # fmt: skip

    text = run_when_due(config, monkeypatch, 3, "the three audits")
    with Store.open(config.watchdog.data_dir) as store:
        audits = list(store.iter_observations(target=audit_chain("t")))
        probes = store.count("t")
        assert verify_store(store).ok
    assert sorted(a.audit.profile.value for a in audits if a.audit) == [
        "mobile", "slow-3g", "standard",
    ]  # fmt: skip
    for profile in ("standard", "mobile", "slow-3g"):
        labels = f'profile="{profile}",step="step_1",target="t"'
        assert f"watchdog_a11y_step_load_seconds{{{labels}}}" in text
    # The probes' counters count the probes only: the audits are in no outcome.
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("watchdog_probe_outcomes_total{") and 'target="t"' in line
    )
    assert counted == probes
