"""A platform is one file (docs/architecture.md, « Adding a platform »).

Two throw-away platforms are defined in this test and nowhere under `watchdog/`: registering
their `SPEC` is all it takes for the configuration to accept them, for both engines to probe
them, for the store to keep their observations, for the metrics to export them and for a
report and the demo's summary to name them in both languages, with the words of a portal for
the one that books nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, target, write_config
from pydantic import BaseModel, ConfigDict

from probes import REGISTRY
from watchdog.cli.demo import summary
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import Engine, Outcome
from watchdog.metrics.registry import would_export
from watchdog.probe.requesting import RequestSession
from watchdog.probe.session import Classification, Labels, PageState, PlatformSpec, ProbeSession
from watchdog.report import causes, labels
from watchdog.report.api import ReportOptions, build_report_async
from watchdog.store import Store

NO_SLOT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
PAGE = f"<!doctype html><html lang=fr><title>Rendez-vous</title><body><p>{NO_SLOT}</p></body>"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patience_s: float = 5.0


async def probe(session: ProbeSession, options: Options) -> PageState:
    await session.goto(session.url, "agenda")
    return await session.state()


async def request_probe(session: RequestSession, options: Options) -> PageState:
    return await session.get(session.url, "agenda")


def classify(state: PageState, options: Options) -> Classification | None:
    said = next((line for line in state.lines if line.startswith("Il n'existe plus")), None)
    return Classification(Outcome.NO_SLOT, "no_slot_sentence", said) if said else None


EPHEMERAL = PlatformSpec(
    name="ephemere",
    labels=Labels(fr="plateforme éphémère", en="ephemeral platform"),
    options=Options,
    probe=probe,
    classify=classify,
    request_probe=request_probe,
)
PORTAL = replace(
    EPHEMERAL, name="guichet", labels=Labels(fr="guichet éphémère", en="ephemeral desk"),
    request_probe=None, books=False,
)  # fmt: skip


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, EPHEMERAL.name, EPHEMERAL)
    monkeypatch.setitem(REGISTRY, PORTAL.name, PORTAL)


@pytest.fixture
def site(sim: Sim) -> Iterator[str]:
    async def agenda(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/agenda", agenda)
    with loopback_site(sim, app) as base:
        yield base


def test_an_unregistered_platform_is_a_config_problem_naming_the_known_ones(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        write_config(tmp_path, [target("t", "ephemere", "http://127.0.0.1:9/agenda")])
    (problem,) = caught.value.problems
    assert problem.key == "targets[0].platform"
    assert "unknown platform 'ephemere'" in problem.message
    assert all(name in problem.message for name in REGISTRY)


@pytest.mark.usefixtures("registered")
def test_a_platform_defined_outside_the_package_runs_end_to_end(
    sim: Sim, site: str, tmp_path: Path
) -> None:
    rows = [
        {**target("by-browser", "ephemere", f"{site}/agenda"), "engine": "browser"},
        {**target("by-requests", "ephemere", f"{site}/agenda"), "engine": "request"},
        {**target("portal", "guichet", f"{site}/agenda"), "engine": "browser"},
    ]
    config = write_config(tmp_path, rows)
    assert EPHEMERAL.engines == (Engine.BROWSER, Engine.REQUEST)
    assert PORTAL.engines == (Engine.BROWSER,)

    seen = {t.id: probe_and_store(sim, config, t.id) for t in config.targets}
    for obs in seen.values():
        assert (obs.outcome, obs.message) == (Outcome.NO_SLOT, NO_SLOT)
    assert seen["by-browser"].env.engine is Engine.BROWSER
    assert seen["by-requests"].env.engine is Engine.REQUEST

    by_browser = config.target("by-browser")
    assert by_browser is not None
    assert 'platform="ephemere"' in would_export(seen["by-browser"], by_browser)

    # The portal books nothing: never in a no-slot rate, worded as a portal.
    assert causes.books("ephemere") and not causes.books("guichet")
    assert labels.platform("fr", "guichet") == "guichet éphémère"
    assert labels.platform("en", "ephemere") == "ephemeral platform"
    assert labels.outcome("fr", Outcome.NO_SLOT, on="guichet") == "portail disponible"
    table = summary(config, {k: [v] for k, v in seen.items()})
    portal_row = next(line for line in table.splitlines() if line.startswith("portal"))
    assert "n/a" in portal_row and "100 %" in next(
        line for line in table.splitlines() if line.startswith("by-browser")
    )

    store = Store.open(config.watchdog.data_dir)
    try:
        assert Counter(o.target for o in store.iter_observations()) == dict.fromkeys(seen, 1)
        until = datetime.now(UTC) + timedelta(seconds=1)
        written = sim.loop.run(
            build_report_async(
                store,
                config.targets,
                since=until - timedelta(hours=1),
                until=until,
                out_dir=tmp_path / "report",
                options=ReportOptions(formats=("html",), browser=sim.host, simulated=True),
            )
        )
    finally:
        store.close()
    html = next(p for p in written if p.suffix == ".html").read_text(encoding="utf-8")
    assert "plateforme éphémère" in html and "guichet éphémère" in html
