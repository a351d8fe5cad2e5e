"""The request engine's two HTTP clients send the same requests and fail the same way.

`browser.request_client` chooses aiohttp (in our process) or Playwright's APIRequestContext
(in its driver) under the one journey code (watchdog/probe/requesting.py). A loopback site
records what each client sends across a journey that changes host by redirect and fetches a
page's resources on both hosts; the records must be equal, with our User-Agent, Accept and
Accept-Language, the site's own cookie sent back, and the operator's header and cookie on
the target host only. Then: an off-list hop refused before it is requested, a forward proxy
used (and a dead one attributed alike), a refused port and an untrusted certificate mapped
to the same outcome, and Playwright's driver left unstarted on aiohttp.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from dropproxy import DropProxy
from harness import Sim, loopback_site, probe_and_store, target, write_config

from probes import REGISTRY
from watchdog.config.loader import Config
from watchdog.config.schema import DEFAULT_USER_AGENT
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import RequestClient
from watchdog.engine.browser import BrowserHost
from watchdog.engine.canary import check_canary
from watchdog.engine.requests import RequestAttempt, RequestEngine
from watchdog.probe.session import Credentials

CLIENTS = ("aiohttp", "playwright")
SEEN = ("user-agent", "accept", "accept-language", "referer", "origin", "content-type",
        "x-operator-token")  # fmt: skip
PAGE_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"
CREDS = Credentials({"X-Operator-Token": "sesame"}, {"operator_token": "sesame"})


class Recorder:
    """A site on 127.0.0.1 that is also reached as `localhost` (another host, allowed)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.port = 0

    def app(self) -> web.Application:  # noqa: C901 (one handler per page)
        app = web.Application()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            headers = {name: request.headers[name] for name in SEEN if name in request.headers}
            self.seen.append({"host": request.host.split(":")[0], "path": request.path,
                              "method": request.method, "headers": headers,
                              "cookies": dict(request.cookies)})  # fmt: skip
            return await handler(request)

        app.middlewares.append(record)

        async def start(request: web.Request) -> web.Response:
            response = web.HTTPFound(f"http://localhost:{self.port}/elsewhere")
            response.set_cookie("site", "1", path="/")
            raise response

        async def elsewhere(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://127.0.0.1:{self.port}/page")

        async def page(request: web.Request) -> web.Response:
            html = (
                "<!DOCTYPE html><html lang=fr><head><title>Conditions</title></head><body>"
                '<form method="post" action="/next"><input type="hidden" name="t" value="é 1">'
                '<input type="checkbox" name="condition" value="on">'
                '<input type="submit" name="nextButton" value="Suivant"></form></body></html>'
            )
            return web.Response(text=html, content_type="text/html")

        async def next_page(request: web.Request) -> web.Response:
            self.seen[-1]["form"] = sorted((await request.post()).items())
            raise web.HTTPSeeOther("/done")  # a 303: the next hop is a GET, without Origin

        async def done(request: web.Request) -> web.Response:
            html = (
                "<!DOCTYPE html><html lang=fr><head><title>Prise de rendez-vous</title>"
                f'<link rel="stylesheet" href="http://localhost:{self.port}/style.css"></head>'
                '<body><p>Bonjour</p><img src="/logo.png" alt="logo"></body></html>'
            )
            return web.Response(text=html, content_type="text/html")

        async def long_cookie(request: web.Request) -> web.Response:
            response = web.Response(text="<p>Bonjour</p>", content_type="text/html")
            response.set_cookie("big", "x" * 12_000, path="/")  # over aiohttp's default 8 KB
            return response

        async def style(request: web.Request) -> web.Response:
            return web.Response(text="p { color: #123 }", content_type="text/css")

        async def logo(request: web.Request) -> web.Response:
            return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

        for path, handler in (("/start", start), ("/elsewhere", elsewhere), ("/page", page),
                              ("/done", done), ("/style.css", style), ("/logo.png", logo),
                              ("/long-cookie", long_cookie)):  # fmt: skip
            app.router.add_get(path, handler)
        app.router.add_post("/next", next_page)
        return app


@pytest.fixture(scope="module")
def recorder(sim: Sim) -> Iterator[Recorder]:
    found = Recorder()
    with loopback_site(sim, found.app()) as base:
        found.port = int(base.rsplit(":", 1)[1])
        yield found


def _config(tmp_path: Path, url: str, client: str, **watchdog: Any) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_config(
        tmp_path,
        [{**target("t", "legacy_booking", url), "engine": "request"}],
        browser={"request_client": client, "probe_timeout": "10s"},
        watchdog={"allowed_hosts": ["127.0.0.1", "localhost"], **watchdog},
    )


def _attempt(sim: Sim, config: Config, creds: Credentials = CREDS) -> RequestAttempt:
    found = config.target("t")
    assert found is not None
    engine = RequestEngine(config, sim.host)
    return sim.loop.run(engine.attempt(found, REGISTRY["legacy_booking"], creds))


def _journey(sim: Sim, recorder: Recorder, tmp_path: Path, client: str) -> list[dict[str, Any]]:
    before = len(recorder.seen)
    config = _config(tmp_path / client, f"http://127.0.0.1:{recorder.port}/start", client)
    attempt = _attempt(sim, config)
    assert attempt.mapped is None and attempt.state is not None, attempt.mapped
    assert attempt.state.url == f"http://127.0.0.1:{recorder.port}/done"
    assert attempt.state.redirects == (f"http://127.0.0.1:{recorder.port}/next",)
    assert attempt.server_ip == "127.0.0.1"
    assert [s.name for s in attempt.steps] == ["conditions", "submit_conditions"]
    return recorder.seen[before:]


def test_both_clients_send_the_same_requests(sim: Sim, recorder: Recorder, tmp_path: Path) -> None:
    journeys = {client: _journey(sim, recorder, tmp_path, client) for client in CLIENTS}
    assert journeys["aiohttp"] == journeys["playwright"]
    seen = journeys["aiohttp"]
    base = f"http://127.0.0.1:{recorder.port}"
    assert [(r["method"], r["host"], r["path"]) for r in seen] == [
        ("GET", "127.0.0.1", "/start"), ("GET", "localhost", "/elsewhere"),
        ("GET", "127.0.0.1", "/page"), ("POST", "127.0.0.1", "/next"),
        ("GET", "127.0.0.1", "/done"), ("GET", "localhost", "/style.css"),
        ("GET", "127.0.0.1", "/logo.png"),
    ]  # fmt: skip
    post = seen[3]
    assert post["form"] == [("condition", "on"), ("nextButton", "Suivant"), ("t", "é 1")]
    assert post["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert (post["headers"]["origin"], post["headers"]["referer"]) == (base, f"{base}/page")
    assert "origin" not in seen[4]["headers"] and seen[4]["headers"]["referer"] == f"{base}/page"
    for request in seen:
        headers = request["headers"]
        assert headers["user-agent"] == DEFAULT_USER_AGENT
        assert headers["accept-language"] == "fr-FR,fr;q=0.9"
        on_target = request["host"] == "127.0.0.1"
        # The operator's secrets go to the target host only, never to another (allowed) host.
        assert ("x-operator-token" in headers) is on_target, request
        assert ("operator_token" in request["cookies"]) is on_target, request
    pages = seen[:5]
    assert {r["headers"]["accept"] for r in pages} == {PAGE_ACCEPT}
    assert [r["headers"]["accept"] for r in seen[5:]] == [
        "text/css,*/*;q=0.1", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    ]  # fmt: skip
    # The site's own cookie, set on the first redirect, comes back to its host only.
    assert [r["cookies"].get("site") for r in seen] == [None, None, "1", "1", "1", None, "1"]


@pytest.mark.parametrize("client", CLIENTS)
def test_an_off_list_hop_is_refused_before_it_is_requested(
    sim: Sim, recorder: Recorder, tmp_path: Path, client: str
) -> None:
    before = len(recorder.seen)
    config = write_config(  # localhost is not allowed here: the first redirect goes there
        tmp_path,
        [{**target("t", "legacy_booking", f"http://127.0.0.1:{recorder.port}/start"),
          "engine": "request"}],
        browser={"request_client": client},
    )  # fmt: skip
    attempt = _attempt(sim, config)
    assert attempt.mapped is not None
    assert (attempt.mapped.outcome.value, attempt.mapped.detail) == (
        "probe_error", "host_not_allowed",
    )  # fmt: skip
    assert [(r["host"], r["path"]) for r in recorder.seen[before:]] == [("127.0.0.1", "/start")]


@pytest.mark.parametrize("client", CLIENTS)
def test_the_vantage_proxy_carries_every_request(
    sim: Sim, recorder: Recorder, tmp_path: Path, client: str
) -> None:
    proxy = DropProxy(drop=set())  # forwards everything
    sim.loop.run(proxy.start())
    try:
        before = len(recorder.seen)
        config = _config(tmp_path, f"http://127.0.0.1:{recorder.port}/start", client,
                         proxy=proxy.url)  # fmt: skip
        attempt = _attempt(sim, config)
        assert attempt.mapped is None, attempt.mapped
        assert len(recorder.seen) - before == 7
        assert proxy.forwarded >= 2  # two hosts: at least one connection through it to each
    finally:
        sim.loop.run(proxy.stop())


def test_a_long_header_reads_on_both(sim: Sim, recorder: Recorder, tmp_path: Path) -> None:
    """A 12 KB cookie is an answer to both clients (Node's 16 KB limit, not aiohttp's 8)."""
    url = f"http://127.0.0.1:{recorder.port}/long-cookie"
    for client in CLIENTS:
        attempt = _attempt(sim, _config(tmp_path / client, url, client))
        assert attempt.mapped is None and attempt.state is not None, (client, attempt.mapped)
        assert attempt.state.status == 200


def _mapped(attempt: RequestAttempt) -> tuple[str, str]:
    assert attempt.mapped is not None, attempt.state
    return attempt.mapped.outcome.value, attempt.mapped.detail


def test_a_dead_network_past_the_proxy_reads_alike(
    sim: Sim, recorder: Recorder, tmp_path: Path
) -> None:
    proxy = DropProxy()  # drops every connection
    sim.loop.run(proxy.start())
    try:
        url = f"http://127.0.0.1:{recorder.port}/start"
        found = {
            client: _mapped(_attempt(sim, _config(tmp_path / client, url, client, proxy=proxy.url)))
            for client in CLIENTS
        }
        assert found["aiohttp"] == found["playwright"]
        assert found["aiohttp"][0] == "network_error"
        assert proxy.dropped >= 2
    finally:
        sim.loop.run(proxy.stop())


def test_a_refused_connection_reads_alike(sim: Sim, tmp_path: Path) -> None:
    async def closed_port() -> int:  # a port that was just listening: nothing is there now
        site = web.AppRunner(web.Application())
        await site.setup()
        tcp = web.TCPSite(site, "127.0.0.1", 0)
        await tcp.start()
        port = int(site.addresses[0][1])
        await site.cleanup()
        return port

    url = f"http://127.0.0.1:{sim.loop.run(closed_port())}/booking/create/1/0"
    for client in CLIENTS:
        attempt = _attempt(sim, _config(tmp_path / client, url, client))
        assert _mapped(attempt) == ("network_error", "connection_refused"), client
        assert [s.status for s in attempt.steps] == [None]  # the attempt stays in the trail


@pytest.fixture(scope="module")
def untrusted_site(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https site whose certificate no authority signed (TLS verification must refuse)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def start() -> web.AppRunner:
        app = web.Application()

        async def page(request: web.Request) -> web.Response:
            return web.Response(text="<p>secret</p>", content_type="text/html")

        app.router.add_get("/booking/create/1/0", page)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        return runner

    runner = sim.loop.run(start())
    yield f"https://127.0.0.1:{runner.addresses[0][1]}/booking/create/1/0"
    sim.loop.run(runner.cleanup())


def test_an_untrusted_certificate_reads_alike(
    sim: Sim, tmp_path: Path, untrusted_site: str
) -> None:
    for client in CLIENTS:
        attempt = _attempt(sim, _config(tmp_path / client, untrusted_site, client))
        assert _mapped(attempt) == ("network_error", "tls_certificate"), client
        assert attempt.state is None  # nothing of the page was read


def test_aiohttp_leaves_playwright_unstarted(sim: Sim, tmp_path: Path) -> None:
    """A request probe on aiohttp starts no driver process; on playwright it does."""
    url = sim.entry_url("legacy-no-slot")
    for client, started in (("aiohttp", False), ("playwright", True)):
        config = _config(tmp_path / client, url, client)
        found = config.target("t")
        assert found is not None
        host = BrowserHost()  # its own, not the tests' shared one (whose driver runs)
        try:
            attempt = sim.loop.run(RequestEngine(config, host).attempt(
                found, REGISTRY["legacy_booking"], Credentials()))  # fmt: skip
            assert attempt.classification is not None, attempt.mapped
            assert attempt.classification.outcome.value == "no_slot"
            assert host.driver_running is started, client
        finally:
            sim.loop.run(host.close())


def test_the_client_setting_is_checked(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/booking/create/1/0"
    targets = [target("t", "legacy_booking", url)]
    socks = {"proxy": "socks5://127.0.0.1:1080"}
    # Unset: aiohttp, unless the proxy is one only Playwright's client speaks.
    assert write_config(tmp_path, targets).request_client is RequestClient.AIOHTTP
    assert write_config(tmp_path, targets, watchdog=socks).request_client is (
        RequestClient.PLAYWRIGHT
    )
    chosen = write_config(tmp_path, targets, browser={"request_client": "playwright"})
    assert chosen.request_client is RequestClient.PLAYWRIGHT
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, targets, browser={"request_client": "aiohttp"}, watchdog=socks)
    assert "browser.request_client: aiohttp cannot use a socks5:// proxy" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, targets, browser={"request_client": "curl"})
    assert "browser.request_client" in str(raised.value)


def test_the_canary_uses_the_same_client(sim: Sim, recorder: Recorder, tmp_path: Path) -> None:
    """The vantage's canary goes by `request_client` too: on aiohttp, no driver for it."""
    canary = {"url": f"http://127.0.0.1:{recorder.port}/page", "every": "10s", "timeout": "5s"}
    for client, started in (("aiohttp", False), ("playwright", True)):
        before = len(recorder.seen)
        url = f"http://127.0.0.1:{recorder.port}/start"
        config = _config(tmp_path / client, url, client, canary=canary)
        host = BrowserHost()
        try:
            check = sim.loop.run(check_canary(config, host))
            assert check is not None and (check.ok, check.status) == (True, 200), check
            assert host.driver_running is started, client
        finally:
            sim.loop.run(host.close())
        [seen] = recorder.seen[before:]
        assert (seen["path"], seen["headers"]["user-agent"]) == ("/page", DEFAULT_USER_AGENT)


@pytest.mark.parametrize("client", CLIENTS)
def test_the_record_names_the_client_that_made_the_requests(
    sim: Sim, tmp_path: Path, client: str
) -> None:
    url = sim.entry_url("legacy-no-slot")
    config = write_config(
        tmp_path, [{**target("t", "legacy_booking", url), "engine": "request"}],
        browser={"request_client": client},
    )  # fmt: skip
    obs = probe_and_store(sim, config, "t")
    assert (obs.outcome.value, obs.env.engine.value) == ("no_slot", "request")
    assert obs.env.http_client == f"{client} {version(client)}"
    assert obs.env.browser is None
    (tmp_path / "browser").mkdir()
    browser = write_config(tmp_path / "browser", [target("t", "legacy_booking", url)])
    assert probe_and_store(sim, browser, "t").env.http_client is None
