"""Every fault lands on the right side: a loopback fault server, each fault kind, both engines.

The server misbehaves the ways a site can (hang, slowloris, reset, a 50 MB page, a redirect
loop, redirects off `allowed_hosts` by HTTP, script and meta refresh, dialogs, popups, a
download, a page load that never ends, a renderer crash). Each row says the outcome and
detail the observation must carry, in the browser and, where it applies, the request engine
(`engine: request`) on each of its HTTP clients (`browser.request_client`: aiohttp and
Playwright's, the same outcome from both). Site faults are the site's; what we refused or
could not do is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, target, write_config
from polling import wait_until

from watchdog.domain.models import Observation
from watchdog.engine.runner import Runner
from watchdog.store import Store

PAGE = (
    "<!DOCTYPE html><html lang=fr><head><title>{title}</title>{head}</head>"
    "<body>{body}</body></html>"
)
BIG = 50 * 1024 * 1024


def _page(body: str, head: str = "", title: str = "Page") -> web.Response:
    html = PAGE.format(title=title, head=head, body=body)
    return web.Response(text=html, content_type="text/html")


@dataclass(frozen=True)
class Fault:
    path: str
    browser: tuple[str, str]  # (outcome, detail) in the browser
    request: tuple[str, str] | None  # in the request engine; None: not applicable
    dialogs: tuple[str, ...] = ()


FAULTS = [
    Fault("/hang", ("timeout", "deadline"), ("timeout", "deadline")),
    Fault("/slowloris", ("timeout", "deadline"), ("timeout", "deadline")),
    Fault("/reset", ("network_error", "empty_response"), ("network_error", "connection_reset")),
    # 50 MB: the request engine refuses it past 10 MB; the browser is still loading it at the
    # deadline (6 s here): either way the site's side.
    Fault("/big", ("timeout", "deadline"), ("site_error", "page_too_large")),
    Fault("/loop", ("site_error", "redirect_loop"), ("site_error", "redirect_loop")),
    Fault("/offlist-http", ("probe_error", "host_not_allowed"),
          ("probe_error", "host_not_allowed")),
    Fault("/offlist-js", ("probe_error", "host_not_allowed"), None),
    Fault("/offlist-meta", ("probe_error", "host_not_allowed"),
          ("probe_error", "host_not_allowed")),
    Fault("/dialog", ("unrecognized", "no_rule_matched"), None,
          ("Votre session a expiré, veuillez recommencer.",)),
    Fault("/popup", ("unrecognized", "no_rule_matched"), None),
    Fault("/download", ("site_error", "download"), ("site_error", "download")),
    Fault("/endless-load", ("timeout", "deadline"), None),
]  # fmt: skip


def _routes(offlist: str) -> web.Application:  # noqa: C901 (one handler per fault)
    app = web.Application()

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()  # never set: the answer never comes
        return _page("never")

    async def slowloris(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(3600):
            await response.write(b" ")
            await asyncio.sleep(1)
        return response

    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def big(request: web.Request) -> web.StreamResponse:
        chunk = b"<p>" + b"x" * 1020 + b"</p>"
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        await response.write(b"<!DOCTYPE html><html><body>")
        for _ in range(BIG // len(chunk)):
            await response.write(chunk)
        await response.write(b"</body></html>")
        return response

    async def loop(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loop-b" if request.path == "/loop" else "/loop")

    async def offlist_http(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(offlist)

    async def offlist_js(request: web.Request) -> web.StreamResponse:
        script = f"<script>location.href = {offlist!r};</script>"
        return _page("<p>Redirection</p>" + script)

    async def offlist_meta(request: web.Request) -> web.StreamResponse:
        return _page("<p>Redirection</p>", f'<meta http-equiv="refresh" content="0;url={offlist}">')

    async def dialog(request: web.Request) -> web.StreamResponse:
        script = "<script>alert('Votre session a expiré, veuillez recommencer.');</script>"
        return _page("<p>Bonjour</p>" + script)

    async def popup(request: web.Request) -> web.StreamResponse:
        script = "<script>window.open('/popup-window', '_blank');</script>"
        return _page("<p>Bonjour</p>" + script)

    async def popup_window(request: web.Request) -> web.StreamResponse:
        return _page("<p>Publicité</p>")

    async def download(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Disposition": 'attachment; filename="rdv.pdf"'}
        return web.Response(body=b"%PDF-1.4 fake", content_type="application/pdf",
                            headers=headers)  # fmt: skip

    async def endless(request: web.Request) -> web.StreamResponse:
        return _page('<p>Chargement</p><img src="/hang" alt="">')

    for path, handler in (
        ("/hang", hang), ("/slowloris", slowloris), ("/reset", reset), ("/big", big),
        ("/loop", loop), ("/loop-b", loop), ("/offlist-http", offlist_http),
        ("/offlist-js", offlist_js), ("/offlist-meta", offlist_meta), ("/dialog", dialog),
        ("/popup", popup), ("/popup-window", popup_window), ("/download", download),
        ("/endless-load", endless),
    ):  # fmt: skip
        app.router.add_get(path, handler)
    return app


@pytest.fixture(scope="module")
def fault_site(sim: Sim) -> Iterator[str]:
    # `localhost` is outside the tests' allowed_hosts (127.0.0.1 only): the off-list host.
    with loopback_site(sim, _routes(f"http://localhost:{sim.port}/")) as base:
        yield base


def _probe(sim: Sim, tmp_path: Path, url: str, engine: str) -> Observation:
    rules = {"rules": [{"text": "Rendez-vous disponible", "outcome": "available"}]}
    platform, options = ("steps", rules) if engine == "browser" else ("legacy_booking", {})
    browser = {"probe_timeout": "6s"}
    if engine != "browser":  # request/aiohttp, request/playwright
        engine, browser["request_client"] = engine.split("/")
    config = write_config(
        tmp_path, [{**target("t", platform, url, options), "engine": engine}], browser=browser
    )
    return probe_and_store(sim, config, "t")


CLIENTS = ("request/aiohttp", "request/playwright")
RUNS = [(f, "browser") for f in FAULTS] + [(f, c) for f in FAULTS if f.request for c in CLIENTS]


@pytest.mark.parametrize(("fault", "engine"), RUNS, ids=[f"{f.path[1:]}-{e}" for f, e in RUNS])
def test_each_fault_lands_on_its_side(
    sim: Sim, tmp_path: Path, fault_site: str, fault: Fault, engine: str
) -> None:
    obs = _probe(sim, tmp_path, fault_site + fault.path, engine)
    expected = fault.browser if engine == "browser" else fault.request
    assert (obs.outcome.value, obs.detail) == expected, (obs.message, obs.steps)
    assert obs.env.engine.value == engine.split("/")[0]
    assert obs.dialogs == list(fault.dialogs)
    if fault.path == "/popup":
        assert "popup" in [s.name for s in obs.steps]
    assert obs.duration_s < 30  # nothing hangs past the probe's deadline (6 s) for long


async def _crash_page_at(sim: Sim, path: str) -> bool:
    """Crash the renderer of the page showing `path` (CDP Page.crash), as a page bug would."""
    browser = await sim.host.get()
    for context in browser.contexts:
        for page in context.pages:
            if page.url.endswith(path):
                cdp = await context.new_cdp_session(page)
                with contextlib.suppress(Exception):  # the renderer dies before it answers
                    await asyncio.wait_for(cdp.send("Page.crash"), 2)
                return True
    return False


def test_a_page_that_crashes_its_renderer_is_the_sites_fault(
    sim: Sim, tmp_path: Path, fault_site: str
) -> None:
    """The renderer of the probe's page dies while the probe waits: `site_error`
    `page_crashed`, not our browser (which keeps running for the next probe)."""
    steps = [{"wait_for": "#never-there", "timeout_s": 20}]
    rules = {"steps": steps, "rules": [{"text": "Rendez-vous disponible", "outcome": "available"}]}
    config = write_config(tmp_path, [target("t", "steps", fault_site + "/dialog", rules)],
                          browser={"probe_timeout": "30s"})  # fmt: skip
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put, sim.host)
    try:
        future = asyncio.run_coroutine_threadsafe(runner.probe(found), sim.loop.loop)
        wait_until(lambda: sim.loop.run(_crash_page_at(sim, "/dialog")), 20, "the page to load")
        obs = future.result(60)
        assert (obs.outcome.value, obs.detail) == ("site_error", "page_crashed"), obs.message
        (tmp_path / "b").mkdir()
        after = probe_and_store(sim, write_config(tmp_path / "b", [target(
            "t", "steps", fault_site + "/popup", {"rules": rules["rules"]})]), "t")  # fmt: skip
        assert after.outcome.value == "unrecognized"  # the browser still serves the next probe
    finally:
        store.close()
