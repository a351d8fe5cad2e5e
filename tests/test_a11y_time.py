"""Issue 18 item 3: time limits, and the mobile and slow-network audit runs.

The time-limit page is a test fixture on loopback (our own page, no replica): a form that
reloads itself after 15 minutes through a meta refresh. The session end is the simulator's
RDV-Préfecture, whose documented marker is the redirect to `cgu/?error=errorSessionInvalide`
(docs/platforms.md). The profile runs go through the same journeys under Chromium's mobile
emulation and the DevTools throttling, and their records say what was applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site, target, write_config

from watchdog.cli.main import main
from watchdog.config.loader import Config
from watchdog.domain.models import AuditProfile, Extendable, Observation, audit_chain
from watchdog.engine.runner import Runner
from watchdog.store import Store
from watchdog.store.verify import verify_store

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">{head}
<title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"""
PAGES = {
    "/t/start": PAGE.format(head="", title="Accueil", body='<p><a id="next" href="/t/form">'
                            "Continuer</a></p>"),
    # Planted: a page that reloads itself after 900 s (RGAA 13.1: a time limit not extendable).
    "/t/form": PAGE.format(head='<meta http-equiv="refresh" content="900">', title="Demande",
                           body="<p>Aucun créneau disponible.</p>"),
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
