"""Probes leave no process behind (issue 20, item 7): after rounds of probes of every kind —
a kept page, a new context per probe (`profile: fresh`), a probe that fails and whose page is
closed — Chromium's renderers come back to the one kept page, and the browser's other
processes (zygotes, GPU process) to what they were after the first round.

Chromium starts some utility services lazily, once, minutes into a run (its storage, network
or on-device-model services): those are counted apart and not held to the baseline. The
bench's soak (`python -m bench soak`) watches the whole tree for hours.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from aiohttp import web
from harness import Sim, loopback_site, target, write_config
from polling import wait_until

from bench import procs
from watchdog.config.loader import Config
from watchdog.engine.browser import BrowserHost
from watchdog.engine.runner import Runner
from watchdog.store import Store

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Rendez-vous</title>
</head><body><p id="done">Il n'existe plus de plage horaire libre.</p></body></html>"""
ROUNDS = 4
SETTLE_S = 60  # how long a closed page's renderer may take to exit on a loaded machine


def _kinds(root: int) -> Counter[str]:
    """The processes under `root` by kind: chromium's --type (utility services as one kind).
    A zombie (an exited process its parent has not reaped yet: no command line) is not
    counted: it holds nothing, and whether a sample catches one is a matter of timing."""
    kinds: Counter[str] = Counter()
    for pid in procs.tree(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = handle.read().replace(b"\0", b" ").split()
        except OSError:
            continue
        if not words:
            continue
        types = [w.decode().removeprefix("--type=") for w in words if w.startswith(b"--type=")]
        kinds[types[0] if types else os.path.basename(words[0].decode())] += 1
    return kinds


def _config(tmp_path: Path, url: str, name: str, **browser: str) -> Config:
    rules = [{"text": "plage horaire", "outcome": "no_slot"}]
    ok = {"steps": [{"wait_for": "#done"}], "rules": rules}
    failing = {"steps": [{"wait_for": "#never", "timeout_s": 1}], "rules": rules}
    targets = [target("kept", "steps", url, ok), target("failing", "steps", url, failing)]
    (tmp_path / name).mkdir()
    return write_config(tmp_path / name, targets, browser=browser)


def test_rounds_of_probes_leave_no_process_behind(sim: Sim, tmp_path: Path) -> None:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/rdv", page)
    drivers_before = set(procs.children(os.getpid()))
    host = BrowserHost(allowed_hosts=["127.0.0.1"])  # its own Chromium, counted alone
    with loopback_site(sim, app) as base:
        kept = _config(tmp_path, f"{base}/rdv", "kept")
        fresh = _config(tmp_path, f"{base}/rdv", "fresh", profile="fresh")
        store = Store.open(kept.watchdog.data_dir)
        runners = [Runner(kept, store.blobs.put, host), Runner(fresh, store.blobs.put, host)]
        try:
            baseline: Counter[str] | None = None
            for _ in range(ROUNDS):
                outcomes = [
                    sim.loop.run(runner.probe(config.targets[index]))
                    for runner, config in zip(runners, (kept, fresh), strict=True)
                    for index in (1, 0)  # failing (its page is closed), then kept
                ]
                assert [o.outcome.value for o in outcomes] == ["timeout", "no_slot"] * 2
                (driver,) = set(procs.children(os.getpid())) - drivers_before
                baseline = _settled(driver, baseline)
        finally:
            sim.loop.run(host.close())
            store.close()
    assert set(procs.children(os.getpid())) == drivers_before  # the driver and Chromium are gone


def _settled(driver: int, baseline: Counter[str] | None) -> Counter[str]:
    """Wait until the closed pages' renderers are gone (the kept page's stays: one site, one
    renderer) and, after the first round, until the rest is back to `baseline`."""
    wait_until(lambda: _kinds(driver)["renderer"] == 1, SETTLE_S,
               "the renderers of closed pages to exit")  # fmt: skip
    if baseline is None:
        return _held(driver)
    wait_until(lambda: _held(driver) == baseline, SETTLE_S,
               f"the browser's processes to return to {dict(baseline)}")  # fmt: skip
    return baseline


def _held(driver: int) -> Counter[str]:
    """The driver's processes but Chromium's lazily started utility services."""
    kinds = _kinds(driver)
    kinds.pop("utility", None)
    return kinds
