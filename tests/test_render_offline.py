"""A later rendering never touches the site (issue 11).

The request engine fetches what its page's rendering needs during the probe, with our user
agent and within the allowed hosts; the rendering is served from those kept bytes alone.
A small site on loopback counts every connection and request, so "the site saw nothing" is
measured, not assumed.
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, probe_and_store, target, write_config
from PIL import Image

from watchdog.config.loader import Config
from watchdog.domain.models import Engine, Observation
from watchdog.engine.rendering import render_later
from watchdog.engine.runner import Runner
from watchdog.evidence.volatile import rebuild
from watchdog.probe.requesting import RequestSession
from watchdog.probe.resources import Budget, Resource, from_json, page_references
from watchdog.probe.transport import AiohttpTransport, PlaywrightTransport, Transport
from watchdog.store import Store
from watchdog.store.verify import verify_store

GREEN, BLUE, RED, WHITE = (0, 128, 0), (0, 0, 255), (255, 0, 0), (255, 255, 255)
LOGO_AT, BADGE_AT = (130, 130), (230, 130)  # centres of the image and the styled box


def png(rgb: tuple[int, int, int], size: int = 60) -> bytes:
    """A solid-colour PNG, written by hand (no renderer involved in making the site)."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = size.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


STYLE = b"""body { background: rgb(0, 128, 0); margin: 0 }
@font-face { font-family: Marianne; src: url("fonts/marianne.woff2") format("woff2") }
.badge { position: absolute; left: 200px; top: 100px; width: 60px; height: 60px;
         background-image: url('../img/badge.png') }
"""


def page(off_list: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>ANEF</title>
<link rel="stylesheet" href="/static/css/style.css">
<script src="/static/app.js"></script>
</head><body>
<h1>Site en maintenance</h1>
<img src="/static/img/logo.png" alt="" style="position:absolute;left:100px;top:100px">
<div class="badge"></div>
<img src="{off_list}/tracker.png" alt="">
<img src="data:image/png;base64,iVBORw0KGgo=" alt="">
</body></html>"""


@dataclass
class Site:
    """A site on loopback that logs every connection and request it gets."""

    files: dict[str, tuple[str, bytes]]
    connections: int = 0
    requests: list[tuple[str, str, datetime]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.BaseRequest) -> web.Response:
        self.requests.append(
            (request.path, request.headers.get("user-agent", ""), datetime.now(UTC))
        )
        found = self.files.get(request.path)
        if found is None:
            return web.Response(status=404, text="not here")
        return web.Response(body=found[1], content_type=found[0])

    async def start(self) -> asyncio.Server:
        server = web.Server(self.handle)

        def connection() -> asyncio.Protocol:
            self.connections += 1
            return server()  # type: ignore[no-any-return]

        listening = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
        return listening

    def paths(self) -> set[str]:
        return {path for path, _, _ in self.requests}


def _site(sim: Sim, files: dict[str, tuple[str, bytes]]) -> Iterator[Site]:
    site = Site(files)
    listening = sim.loop.run(site.start())
    yield site
    listening.close()
    sim.loop.run(listening.wait_closed())


@pytest.fixture
def off_list(sim: Sim) -> Iterator[Site]:
    """Another site, on a host not in allowed_hosts (localhost): it must hear nothing."""
    yield from _site(sim, {"/tracker.png": ("image/png", png(RED))})


@pytest.fixture
def site(sim: Sim, off_list: Site) -> Iterator[Site]:
    other = off_list.url.replace("127.0.0.1", "localhost")
    files = {
        "/anef/portal": ("text/html", page(other).encode()),
        "/static/css/style.css": ("text/css", STYLE),
        "/static/css/fonts/marianne.woff2": ("font/woff2", b"wOF2 not really a font"),
        "/static/img/badge.png": ("image/png", png(RED)),
        "/static/img/logo.png": ("image/png", png(BLUE)),
        "/static/app.js": ("text/javascript", b"document.body.style.background = 'red'"),
    }
    yield from _site(sim, files)


def _config(tmp_path: Path, url: str, engine: str = "request") -> Config:
    return write_config(tmp_path, [{**target("t", "anef", url), "engine": engine}])


def _pixel(png_bytes: bytes, at: tuple[int, int]) -> tuple[int, ...]:
    pixel = Image.open(io.BytesIO(png_bytes)).convert("RGB").getpixel(at)
    assert isinstance(pixel, tuple)
    return pixel


def _blob(config: Config, sha: str | None) -> bytes:
    assert sha is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        return store.blobs.get(sha)
    finally:
        store.close()


def _probe(sim: Sim, site: Site, tmp_path: Path) -> tuple[Config, Observation]:
    config = _config(tmp_path, f"{site.url}/anef/portal")
    obs = probe_and_store(sim, config, "t")
    assert (obs.outcome.value, obs.detail, obs.env.engine) == (
        "maintenance",
        "maintenance_page",
        Engine.REQUEST,
    )
    return config, obs


def test_the_site_hears_only_the_probe_and_the_rendering_shows_its_styles(
    sim: Sim, site: Site, off_list: Site, tmp_path: Path
) -> None:
    config, obs = _probe(sim, site, tmp_path)
    # Every request the site got came from the probe: our name, before the probe ended.
    assert site.paths() == {
        "/anef/portal",
        "/static/css/style.css",
        "/static/css/fonts/marianne.woff2",
        "/static/img/badge.png",
        "/static/img/logo.png",
    }, "no script, nothing off-list, each resource once"
    assert len(site.requests) == len(site.paths())
    assert {ua for _, ua, _ in site.requests} == {config.watchdog.user_agent}
    assert all(at <= obs.finished_at for _, _, at in site.requests), (site.requests, obs)
    assert (off_list.connections, off_list.requests) == (0, [])
    # ... and yet the screenshot rendered afterwards shows the stylesheet, the image and the
    # stylesheet's own background image, from the bytes kept during the probe.
    shot = _blob(config, obs.evidence.screenshot)
    assert _pixel(shot, (5, 5)) == GREEN
    assert _pixel(shot, LOGO_AT) == BLUE
    assert _pixel(shot, BADGE_AT) == RED
    assert obs.steps == [s for s in obs.steps if s.name == "portal"], "resources are no step"


def test_the_kept_resources_are_evidence_and_verify(sim: Sim, site: Site, tmp_path: Path) -> None:
    config, obs = _probe(sim, site, tmp_path)
    kept = from_json(_blob(config, obs.evidence.resources))
    assert {url.removeprefix(site.url): r.body for url, r in kept.items()} == {
        path: body for path, (_, body) in site.files.items() if path.startswith("/static/")
        and not path.endswith(".js")
    }  # fmt: skip
    assert kept[f"{site.url}/static/css/style.css"].content_type.startswith("text/css")
    assert "resources" in obs.evidence.blobs()
    store = Store.open(config.watchdog.data_dir)
    try:
        report = verify_store(store)
        assert report.ok and report.evidence_refs == len(obs.evidence.blobs()), report
        path = store.blobs.path(obs.evidence.resources or "")
        path.chmod(0o644)
        path.write_bytes(path.read_bytes().replace(b"text/css", b"text/xss"))
        tampered = verify_store(store)
    finally:
        store.close()
    assert not tampered.ok
    assert [p.sha for p in tampered.blob_problems] == [obs.evidence.resources]


def test_a_rendering_makes_no_connection_to_the_site(sim: Sim, site: Site, tmp_path: Path) -> None:
    config, obs = _probe(sim, site, tmp_path)
    html = _blob(config, obs.evidence.html).decode()  # the skeleton: this page has no tokens
    kept = list(from_json(_blob(config, obs.evidence.resources)).values())
    url = f"{site.url}/anef/portal"
    seen = (site.connections, len(site.requests))

    async def render(resources: list[Resource]) -> bytes:
        return await render_later(await sim.host.get(), html, url, "800x600", resources)

    assert _pixel(sim.loop.run(render(kept)), (5, 5)) == GREEN
    # Nothing kept, nothing shown: the styles came from the kept bytes, not from the site.
    bare = sim.loop.run(render([]))
    assert (_pixel(bare, (5, 5)), _pixel(bare, LOGO_AT)) == (WHITE, WHITE)
    # Other bytes under the same URL, on the same kept render page: those are shown (no cache
    # of an earlier rendering mixes in another moment).
    blue = [Resource(r.url, r.status, r.content_type, r.body.replace(b"0, 128, 0", b"0, 0, 255"))
            for r in kept]  # fmt: skip
    assert _pixel(sim.loop.run(render(blue)), (5, 5)) == BLUE
    assert (site.connections, len(site.requests)) == seen


@pytest.mark.parametrize("client", ["aiohttp", "playwright"])
def test_the_fetches_stay_within_their_budget(sim: Sim, site: Site, client: str) -> None:
    many = "".join(f'<img src="/static/img/{n}.png">' for n in range(30))
    html = f'<link rel="stylesheet" href="/static/css/style.css"><img src="/static/big.png">{many}'
    big = png(BLUE, size=400)
    site.files["/static/big.png"] = ("image/png", big)
    site.files.update({f"/static/img/{n}.png": ("image/png", png(RED)) for n in range(30)})

    async def fetch(budget: Budget, seconds: float = 30) -> list[Resource]:
        transport: Transport = AiohttpTransport({"User-Agent": "watchdog"})
        if client == "playwright":
            driver = await sim.host.driver()
            transport = PlaywrightTransport(await driver.request.new_context(user_agent="watchdog"))
        session = RequestSession(transport, f"{site.url}/p", "t", lambda host: True)
        session.html, session.page_url = html, f"{site.url}/p"
        try:
            return await session.resources(seconds, budget)
        finally:
            await transport.close()

    before = len(site.requests)
    found = sim.loop.run(fetch(Budget(count=6, each=len(big) - 1, total=10 * len(big))))
    asked = [path for path, _, _ in site.requests[before:]]
    # Stylesheet first, then what it asks for, then images in page order; six at most.
    assert asked == [
        "/static/css/style.css",
        "/static/css/fonts/marianne.woff2",
        "/static/img/badge.png",
        "/static/big.png",
        "/static/img/0.png",
        "/static/img/1.png",
    ]
    kept = [r.url.removeprefix(site.url) for r in found]
    assert "/static/big.png" not in kept and len(kept) == 5, "over `each`: fetched, not kept"
    # No time left in the probe's deadline: nothing is asked.
    before = len(site.requests)
    assert sim.loop.run(fetch(Budget(), seconds=0)) == []
    assert site.requests[before:] == []


def test_page_references_honour_base_and_skip_what_needs_no_request() -> None:
    html = """<html><head><base href="https://cdn.example/app/">
    <link rel="alternate stylesheet" href="alt.css"><link rel="icon" href="favicon.ico">
    <style>div { background: url(bg.png) } @import "more.css";</style></head>
    <body style="background-image: url('body.png#x')"><img src="a b.png"><img src="data:,x">
    <img src="javascript:void(0)"><img src="//other.example/c.png"><img src="">
<input type="IMAGE" src="go.png">
    <img src="http://[::1/broken.png"><img src="http://site.example:99999/x.png"></body></html>"""
    refs = page_references(html, "https://site.example/page")
    assert refs.stylesheets == ["https://cdn.example/app/alt.css"]
    assert refs.inline == [
        "https://cdn.example/app/bg.png",
        "https://cdn.example/app/more.css",
        "https://cdn.example/app/body.png",
    ]
    assert refs.images == [
        "https://cdn.example/app/a%20b.png",
        "https://other.example/c.png",
        "https://cdn.example/app/go.png",
    ]


def test_on_the_simulator_a_rendering_adds_nothing_to_its_log(sim: Sim, tmp_path: Path) -> None:
    """A request-engine observation with its screenshot; rendering it again, however often,
    leaves the simulator's request log as the probe left it (every entry under our name)."""
    url = sim.entry_url("legacy-slots")
    config = write_config(tmp_path, [{**target("t", "legacy_booking", url), "engine": "request"}])
    before = len(sim.requests())
    obs = probe_and_store(sim, config, "t")
    assert obs.outcome.value == "available" and obs.evidence.screenshot, obs
    probed = sim.requests()[before:]
    assert {r["headers"].get("user-agent") for r in probed} == {config.watchdog.user_agent}
    served = rebuild(obs.evidence, lambda sha: _blob(config, sha))
    assert served is not None
    html = served.decode()
    kept = (
        []
        if obs.evidence.resources is None
        else list(from_json(_blob(config, obs.evidence.resources)).values())
    )

    async def render() -> bytes:
        return await render_later(await sim.host.get(), html, obs.final_url or url, "800x600", kept)

    for _ in range(2):
        assert Image.open(io.BytesIO(sim.loop.run(render()))).width >= 800
    assert sim.requests()[before:] == probed


def test_an_unchanged_page_costs_the_site_no_resource_request(
    sim: Sim, site: Site, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        [{**target("t", "anef", f"{site.url}/anef/portal"), "engine": "request",
          "screenshots": "on_change"}],
    )  # fmt: skip
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        runner = Runner(config, store.blobs.put, sim.host)
        first = sim.loop.run(runner.probe(found))
        fetched = len(site.requests)
        second = sim.loop.run(runner.probe(found))
    finally:
        store.close()
    assert first.evidence.screenshot is not None and first.evidence.resources is not None
    # The same page again: no rendering, so nothing fetched for one; the page itself only.
    assert (second.evidence.screenshot, second.evidence.resources) == (None, None)
    assert [path for path, _, _ in site.requests[fetched:]] == ["/anef/portal"]
