"""A reused page (`browser.profile: cleared`) starts every probe as clean as a fresh profile.

A small site on loopback reads, on each visit, everything a site can leave in a browser —
cookies (script and HTTP-only), localStorage, sessionStorage, IndexedDB, Cache Storage —
reports what it found to the server, then writes all of them. Its script is served with a
one-hour cache lifetime and the server counts how often it is fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from harness import Sim, target, write_config

from watchdog.config.loader import Config
from watchdog.domain.models import Observation, Profile
from watchdog.engine.runner import Runner
from watchdog.store import Store

PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Relevé d'état</title>
<script src="/cached.js"></script></head>
<body><p>Relevé d'état du navigateur.</p>
<script>
function idb() {
  return new Promise((done) => {
    const open = indexedDB.open("wd", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("s");
    open.onerror = () => done("erreur");
    open.onsuccess = () => {
      const tx = open.result.transaction("s", "readwrite");
      const store = tx.objectStore("s");
      const got = store.get("k");
      got.onsuccess = () => {
        store.put("vu", "k");
        tx.oncomplete = () => { open.result.close(); done(got.result || "aucun"); };
      };
    };
  });
}
(async () => {
  const seen = {
    cookie: document.cookie || "aucun",
    local: localStorage.getItem("k") || "aucun",
    session: sessionStorage.getItem("k") || "aucun",
    idb: await idb(),
    caches: (await caches.keys()).join(",") || "aucun",
  };
  document.cookie = "script=vu; max-age=3600; path=/";
  localStorage.setItem("k", "vu");
  sessionStorage.setItem("k", "vu");
  await (await caches.open("wd")).put("/x", new Response("vu"));
  await fetch("/seen?" + new URLSearchParams(seen));
  const done = document.createElement("p");
  done.id = "done";
  done.textContent = "Il n'existe plus de plage horaire libre.";
  document.body.append(done);
})();
</script></body></html>
"""


@dataclass
class StateSite:
    url: str
    seen: list[dict[str, str]] = field(default_factory=list)  # what each visit found
    cookies: list[str] = field(default_factory=list)  # Cookie header of each page request
    script_fetches: int = 0


@pytest.fixture
def state_site(sim: Sim) -> Iterator[StateSite]:
    site = StateSite(url="")

    async def page(request: web.Request) -> web.Response:
        site.cookies.append(request.headers.get("Cookie", ""))
        response = web.Response(text=PAGE, content_type="text/html")
        response.set_cookie("server", "vu", max_age=3600, httponly=True)
        return response

    async def script(request: web.Request) -> web.Response:
        site.script_fetches += 1
        return web.Response(
            text="window.loaded = true;",
            content_type="application/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def seen(request: web.Request) -> web.Response:
        site.seen.append(dict(request.query))
        return web.Response(text="ok")

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/state", page)
        app.router.add_get("/cached.js", script)
        app.router.add_get("/seen", seen)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = sim.loop.run(start())
    site.url = f"http://127.0.0.1:{runner.addresses[0][1]}/state"
    yield site
    sim.loop.run(runner.cleanup())


EMPTY = {"cookie": "aucun", "local": "aucun", "session": "aucun", "idb": "aucun",
         "caches": "aucun"}  # fmt: skip


def state_config(tmp_path: Path, url: str, revisit: bool = False, **browser: Any) -> Config:
    steps: list[dict[str, Any]] = [{"wait_for": "#done"}]
    if revisit:  # the control: within one probe the same page must see what it wrote
        steps += [{"goto": url}, {"wait_for": "#done"}]
    options = {"steps": steps, "rules": [{"text": "plage horaire", "outcome": "no_slot"}]}
    return write_config(tmp_path, [target("state", "steps", url, options)], browser=browser)


def probe_twice(sim: Sim, config: Config) -> tuple[tuple[int, int], list[Observation]]:
    """Two probes of the target; the pages (opened, reused) during them."""
    found = config.target("state")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put, sim.host)
    pool = runner.pages
    sim.loop.run(pool.close())  # pages kept by earlier tests: this one starts with none
    before = (pool.created, pool.reused)
    try:
        observations = [sim.loop.run(runner.probe(found)) for _ in range(2)]
    finally:
        sim.loop.run(pool.close())
        store.close()
    return (pool.created - before[0], pool.reused - before[1]), observations


def test_the_site_sees_what_it_wrote_within_one_probe(
    sim: Sim, state_site: StateSite, tmp_path: Path
) -> None:
    """The control: without it, "nothing seen" could mean the page never looked."""
    config = state_config(tmp_path, state_site.url, revisit=True)
    found = config.target("state")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        obs = sim.loop.run(Runner(config, store.blobs.put, sim.host).probe(found))
    finally:
        store.close()
    assert obs.outcome.value == "no_slot", obs
    first, again = state_site.seen
    assert first == EMPTY
    assert again["local"] == again["session"] == again["idb"] == "vu", again
    assert "script=vu" in again["cookie"] and again["caches"] == "wd", again
    assert "server=vu" in state_site.cookies[1], state_site.cookies


def test_a_reused_page_carries_nothing_to_the_next_probe(
    sim: Sim, state_site: StateSite, tmp_path: Path
) -> None:
    pages, observations = probe_twice(sim, state_config(tmp_path, state_site.url))
    assert [obs.outcome.value for obs in observations] == ["no_slot", "no_slot"], observations
    # The second probe really ran on the first one's page...
    assert pages == (1, 1)
    assert [obs.env.profile for obs in observations] == [Profile.CLEARED, Profile.CLEARED]
    assert not observations[1].env.fresh_context
    # ...and found it as a fresh profile would be: no cookie, storage or cached response.
    assert state_site.seen == [EMPTY, EMPTY], json.dumps(state_site.seen)
    assert state_site.cookies == ["", ""]
    assert state_site.script_fetches == 2, "the script came from a cache the first probe filled"


def test_fresh_profile_opens_a_page_per_probe(
    sim: Sim, state_site: StateSite, tmp_path: Path
) -> None:
    config = state_config(tmp_path, state_site.url, profile="fresh")
    pages, observations = probe_twice(sim, config)
    assert pages == (0, 0)
    assert [obs.env.profile for obs in observations] == [Profile.FRESH, Profile.FRESH]
    assert observations[1].env.fresh_context
    assert state_site.seen == [EMPTY, EMPTY]


def test_a_page_whose_probe_failed_is_not_lent_again(
    sim: Sim, state_site: StateSite, tmp_path: Path
) -> None:
    """A probe that did not end normally (here: a selector that never appears) may have left
    the page mid-navigation or mid-script: it is closed, the next probe gets a new one."""
    options = {"steps": [{"wait_for": "#never", "timeout_s": 1}],
               "rules": [{"text": "plage horaire", "outcome": "no_slot"}]}  # fmt: skip
    config = write_config(tmp_path, [target("state", "steps", state_site.url, options)])
    pages, observations = probe_twice(sim, config)
    assert [obs.outcome.value for obs in observations] == ["timeout"] * 2, observations
    assert pages == (2, 0)
