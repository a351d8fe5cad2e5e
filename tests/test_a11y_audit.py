"""`watchdog audit`: axe-core on every step page of a journey, mapped to RGAA 4.1, stored apart.

The pages are test fixtures on loopback, not replicas (the simulator replicates real sites and
plants nothing): a journey of three pages — a clean entry, a form with an unlabelled field and
an image without `alt`, a calendar page whose text has poor contrast — and a control journey
whose pages are clean. The audit must find exactly the planted violations, with their RGAA
criteria, on the step where each was planted; the audit verifies with its evidence; and an
audit changes no rate, no open-data row and no probe chain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, report_texts, target, write_config

from watchdog.a11y import axe
from watchdog.a11y.rgaa import table
from watchdog.cli.audit import by_criterion
from watchdog.cli.main import main
from watchdog.config.loader import Config
from watchdog.domain.models import Impact, Observation, Outcome, audit_chain
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import Metrics
from watchdog.opendata.export import rows
from watchdog.stats.calendar import Period
from watchdog.stats.compute import compute
from watchdog.store import Store
from watchdog.store.record import Selection
from watchdog.store.verify import verify_store

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"""
NEXT = '<p><a id="next" href="{href}">Continuer</a></p>'
PAGES = {
    "/j/start": PAGE.format(title="Accueil", body="<p>Prendre rendez-vous.</p>"
                            + NEXT.format(href="/j/form")),
    # Planted: an image without alt (RGAA 1.1), a field without a label (RGAA 11.1).
    "/j/form": PAGE.format(title="Demande", body='<p><img src="/logo.png"></p>'
                           '<p><input type="text" name="code"></p>'
                           + NEXT.format(href="/j/calendar")),
    # Planted: grey on white, 2.3:1 (RGAA 3.2 asks 4.5:1 for this size).
    "/j/calendar": PAGE.format(title="Calendrier", body='<p style="color:#aaa;background:#fff">'
                               "Aucun créneau disponible.</p>"),
    "/c/start": PAGE.format(title="Accueil", body='<p><img src="/logo.png" alt="Préfecture">'
                            '</p><p><label for="code">Code</label> <input type="text" '
                            'id="code" name="code"></p>' + NEXT.format(href="/c/calendar")),
    "/c/calendar": PAGE.format(title="Calendrier", body='<p style="color:#333;background:#fff">'
                               "Aucun créneau disponible.</p>"),
}  # fmt: skip
OPTIONS = {
    "steps": [{"click": "#next"}],
    "rules": [{"text": "Aucun créneau", "outcome": "no_slot", "detail": "none"}],
}
PLANTED = {
    "entry": set(),
    "step_1": {("image-alt", ("1.1",)), ("label", ("11.1",))},
    "step_2": {("color-contrast", ("3.2",))},
}


@pytest.fixture
def site(sim: Sim) -> Iterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGES[request.path], content_type="text/html")

    async def logo(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/logo.png", logo)
    with loopback_site(sim, app) as base:
        yield base


@pytest.fixture
def config(site: str, tmp_path: Path) -> Config:
    journey = {**OPTIONS, "steps": [{"click": "#next"}, {"click": "#next"}]}
    return write_config(
        tmp_path,
        [target("j", "steps", f"{site}/j/start", journey),
         target("c", "steps", f"{site}/c/start", OPTIONS)],
    )  # fmt: skip


def audit_and_store(sim: Sim, config: Config, target_id: str) -> Observation:
    found = config.target(target_id)
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        return store.append(
            sim.loop.run(Runner(config, store.blobs.put, sim.host).probe(found, audit=True))
        )
    finally:
        store.close()


def found(audit: Observation) -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    assert audit.audit is not None
    return {
        page.step: {(v.rule, tuple(v.criteria)) for v in page.violations}
        for page in audit.audit.pages
    }


def test_the_audit_finds_exactly_the_planted_violations(sim: Sim, config: Config) -> None:
    audit = audit_and_store(sim, config, "j")
    assert audit.audit is not None
    assert (audit.target, audit.audit.target) == (audit_chain("j"), "j")
    assert (audit.outcome, audit.detail) == (Outcome.NO_SLOT, "none")  # the journey ran whole
    assert [p.step for p in audit.audit.pages] == ["entry", "step_1", "step_2"]
    assert [p.url.rsplit("/", 2)[-2:] for p in audit.audit.pages] == [
        ["j", "start"], ["j", "form"], ["j", "calendar"],
    ]  # fmt: skip
    assert found(audit) == PLANTED
    assert all(p.error is None and p.passes > 0 for p in audit.audit.pages)
    impacts = {v.rule: v.impact for p in audit.audit.pages for v in p.violations}
    assert impacts == {"image-alt": Impact.CRITICAL, "label": Impact.CRITICAL,
                       "color-contrast": Impact.SERIOUS}  # fmt: skip
    form = audit.audit.pages[1]
    assert sorted(e for v in form.violations for e in v.elements) == ["img", "input"]
    assert audit.audit.engine == f"axe-core {axe.version()}" == "axe-core 4.12.1"
    assert audit.audit.mapping == table().sha256
    assert by_criterion(audit) == {"1.1": 1, "3.2": 1, "11.1": 1}

    control = audit_and_store(sim, config, "c")
    assert control.audit is not None and control.outcome is Outcome.NO_SLOT
    assert found(control) == {"entry": set(), "step_1": set()}
    assert all(p.error is None and p.passes > 0 for p in control.audit.pages)


def test_the_audit_and_its_evidence_verify(sim: Sim, config: Config) -> None:
    audit = audit_and_store(sim, config, "j")
    assert audit.audit is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        assert audit.evidence.axe is not None and audit.evidence.framed is not None
        results = json.loads(store.blobs.path(audit.evidence.axe).read_bytes())
        assert results["axe_core"] == "4.12.1"
        rules = [{v["id"] for v in page["results"]["violations"]} for page in results["pages"]]
        assert rules == [set(), {"image-alt", "label"}, {"color-contrast"}]
        # A page in breach is photographed and framed; a clean page needs no capture.
        captured = [bool(p.screenshot and p.framed) for p in audit.audit.pages]
        assert captured == [False, True, True]
        # Each element in breach is photographed and framed too.
        shots = {v.rule: [s.element for s in v.shots] for p in audit.audit.pages
                 for v in p.violations}  # fmt: skip
        assert shots == {"image-alt": ["img"], "label": ["input"], "color-contrast": ["p"]}
        for p in audit.audit.pages:
            for v in p.violations:
                (shot,) = v.shots
                assert store.blobs.path(shot.framed).read_bytes()[:4] == b"\x89PNG"
                assert shot.screenshot != p.screenshot  # the element, not the page
        report = verify_store(store)
        assert report.ok, report.render()
        # The captures are checked too: a missing one is a verify failure naming the audit.
        framed = audit.audit.pages[1].framed
        assert framed is not None
        store.blobs.path(framed).unlink()
        broken = verify_store(store)
        assert not broken.ok and "audit page 2 framed" in broken.render()
        store.blobs.path(audit.audit.pages[2].violations[0].shots[0].framed).unlink()
        assert "audit page 3 color-contrast element framed" in verify_store(store).render()
    finally:
        store.close()


def _figures(config: Config, period: Period) -> tuple[Any, list[Any]]:
    store = Store.open(config.watchdog.data_dir)
    try:
        stats = compute(store, ["j", "c"], period)
        published = [row[:-1] for row in rows(store, Selection(), {})]  # every chain
        return stats, published
    finally:
        store.close()


def test_audits_change_no_rate_and_no_open_data_row(sim: Sim, config: Config) -> None:
    probes = [probe_and_store(sim, config, t) for t in ("j", "c", "j")]
    assert [p.outcome for p in probes] == [Outcome.NO_SLOT] * 3
    now = datetime.now(UTC)
    period = Period(now - timedelta(hours=1), now + timedelta(minutes=5))
    before = _figures(config, period)
    audits = [audit_and_store(sim, config, t) for t in ("j", "c")]
    after, published = _figures(config, period)
    # The statistics now know each target's last audit (the report's section), and nothing else.
    assert [(s.audit_id, s.audit) for s in after.values()] == [
        (a.id, a.audit) for a in audits
    ]  # fmt: skip
    unaudited = {
        t: replace(s, audit=None, audited_at=None, audit_id=None) for t, s in after.items()
    }
    assert (unaudited, published) == before
    stats = before[0]
    assert (stats["j"].attempts, stats["c"].attempts) == (2, 1)
    store = Store.open(config.watchdog.data_dir)
    try:
        # The probes' chains end on probes: last outcome, incidents and status never see an audit.
        assert store.last_for_target("j") == probes[2]
        assert store.last_for_target(audit_chain("j")) == audits[0]
        assert verify_store(store).ok
    finally:
        store.close()


def test_the_table_copies_the_shipped_axe_core_tags() -> None:
    """Every rule of the shipped axe-core is in the table with exactly its RGAA tags."""
    source = axe.script()
    data = yaml.safe_load((Path(__file__).parent.parent / "watchdog/data/a11y-rgaa.yaml")
                          .read_text(encoding="utf-8"))  # fmt: skip
    assert data["axe_core"] == axe.version()
    shipped: dict[str, list[str]] = {}

    for rule, tags in re.findall(
        r'\{id:"([a-z0-9-]+)",(?:impact:"\w+",)?(?:selector:[^}]*?)?.{0,400}?tags:\[([^\]]*)\]',
        source,
    ):
        shipped.setdefault(rule, re.findall(r'"RGAA-([\d.]+)"', tags))
    assert {rule: list(tests) for rule, tests in table().tests.items()} == shipped


def test_the_report_has_an_accessibility_section_and_cites_the_criteria(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    for target_id in ("j", "c"):
        probe_and_store(sim, config, target_id)
        audit_and_store(sim, config, target_id)
    pages = report_texts(sim, config, config.targets, tmp_path)
    fr, en = pages["fr"], pages["en"]
    start = fr.index("4.8 L'accessibilité des parcours")
    section = fr[start : fr.index("5. Analyse", start)]
    for expected in (
        "1.1 — Images porteuses d’information",
        "11.1 — Formulaires\u00a0: chaque champ",
        "3.2 — Couleurs\u00a0: contraste",
        "critique",
        "sérieux",
        "step_1",
        "step_2",
        "ne vaut pas déclaration de conformité",
    ):
        assert expected in section, expected  # fmt: skip
    # Criteria in RGAA order, each with its rule; the control journey found nothing.
    assert section.index("1.1 —") < section.index("3.2 —") < section.index("11.1 —")
    assert section.count("aucune violation relevée") == 1
    start = fr.rindex("6. Recommandations")
    recommendations = fr[start : fr.index("7. Annexes", start)]
    for criterion in ("11.1", "1.1", "3.2"):
        assert f"critère {criterion} du RGAA 4.1" in recommendations
    assert "Ministre de l'Intérieur et préfets des départements concernés" in recommendations
    start = en.index("4.8 Accessibility of the journeys")
    english = en[start : en.index("5. ", start)]
    assert "11.1 — Forms: every field has a label" in english and "critical" in english
    assert "RGAA 4.1 criterion 3.2" in en


def test_the_metrics_give_the_last_audit_by_criterion_and_impact(sim: Sim, config: Config) -> None:
    audit_and_store(sim, config, "j")
    store = Store.open(config.watchdog.data_dir)
    try:
        last = store.last_of([audit_chain("j"), audit_chain("c"), "j"])
    finally:
        store.close()
    assert list(last) == [audit_chain("j")]  # no probe of j yet, c never audited
    audit = last[audit_chain("j")].audit
    assert audit is not None
    metrics = Metrics()
    metrics.audited("j", audit)
    lines = {line for line in metrics.exposition().decode().splitlines()
             if line.startswith("watchdog_a11y_violations{")}  # fmt: skip
    assert lines == {
        'watchdog_a11y_violations{criterion="1.1",impact="critical",target="j"} 1.0',
        'watchdog_a11y_violations{criterion="11.1",impact="critical",target="j"} 1.0',
        'watchdog_a11y_violations{criterion="3.2",impact="serious",target="j"} 1.0',
    }
    # A later audit that finds nothing brings every series of the target to 0.
    metrics.audited("j", audit.model_copy(update={"pages": []}))
    assert all(line.endswith(" 0.0") for line in metrics.exposition().decode().splitlines()
               if line.startswith("watchdog_a11y_violations{"))  # fmt: skip
    assert 'target="j"' in metrics.exposition().decode()


def test_the_audit_command_audits_each_target_and_stores_it(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "j", "c", "--config", str(config.source)]) == 0
    out = capsys.readouterr().out
    assert "target      j (audit chain j.a11y)" in out and "target      c (audit chain" in out
    assert "journey     no_slot (none)" in out
    lines = [line.split() for line in out.splitlines() if line.startswith("step_")]
    assert {(cells[0], cells[1], cells[2]) for cells in lines} == {
        ("step_1", "1.1", "image-alt"), ("step_1", "11.1", "label"),
        ("step_2", "3.2", "color-contrast"), ("step_1", "-", "(none)"),
    }  # fmt: skip
    store = Store.open(config.watchdog.data_dir)
    try:
        assert store.count(audit_chain("j")) == store.count(audit_chain("c")) == 1
        assert store.count("j") == store.count("c") == 0  # the probes' chains are untouched
        assert verify_store(store).ok
    finally:
        store.close()
