"""Which Chromium the watchdog launches, how many processes it holds at 4 contexts, and the
Node options its Playwright driver runs with (issue 20, items 3 and 4).

A headless browser is Debian's headless shell when it is installed (scripts/setup.sh
installs it): the same Chromium build without the browser's UI layer. A headed browser, a
configured path and Playwright's own download are never replaced by it. Whatever the
binary, each browser context keeps its own cookies and storage (tests/test_pages.py proves
it for kept pages; here, four contexts side by side).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web
from harness import Sim, loopback_site

from bench import procs
from watchdog.domain.errors import WatchdogError
from watchdog.engine import browser as browser_module
from watchdog.engine.browser import (
    DRIVER_NODE_OPTIONS,
    BrowserHost,
    driver_environment,
    find_chromium,
)

CONTEXTS = 4
# The browser process, its two zygotes, the network service and one renderer per context.
# Chromium's full browser in headless mode holds at least one more (its storage service).
MAX_CHROMIUM_PROCESSES = 4 + CONTEXTS

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Rendez-vous</title>
</head><body><p id="done">Il n'existe plus de plage horaire libre.</p></body></html>"""


def _executable(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A system with both a full Chromium and a headless shell installed (in tmp_path)."""
    full, shell = _executable(tmp_path, "chromium"), _executable(tmp_path, "headless-shell")
    monkeypatch.setattr(browser_module, "SYSTEM_CHROMIUM", (full,))
    monkeypatch.setattr(browser_module, "SYSTEM_HEADLESS_SHELLS", (shell,))
    return full, shell


def test_a_headless_browser_is_the_headless_shell(system: tuple[str, str]) -> None:
    full, shell = system
    assert find_chromium(None, None, headless=True) == shell
    assert find_chromium(None, None, headless=False) == full
    assert find_chromium(None, None) == full  # headed unless said (assist, workbench)


def test_the_full_browser_when_no_shell_is_installed(
    system: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_module, "SYSTEM_HEADLESS_SHELLS", (str(tmp_path / "absent"),))
    assert find_chromium(None, None, headless=True) == system[0]


def test_configured_path_and_playwright_download_come_first(
    system: tuple[str, str], tmp_path: Path
) -> None:
    configured = _executable(tmp_path, "my-chrome")
    assert find_chromium(configured, None, headless=True) == configured
    bundled = _executable(tmp_path, "playwright-chrome")
    assert find_chromium(None, bundled, headless=True) is None  # Playwright picks its own
    with pytest.raises(WatchdogError):
        find_chromium(str(tmp_path / "missing"), None, headless=True)


def _processes(name: str) -> dict[int, str]:
    """Processes under this one whose binary's name contains `name`: pid → binary."""
    found = {}
    for pid in procs.tree(os.getpid())[1:]:  # [0] is this process
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if name in os.path.basename(exe):
            found[pid] = exe
    return found


def _environment(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        pairs = [item.decode().partition("=") for item in handle.read().split(b"\0") if item]
    return {key: value for key, _, value in pairs}


@pytest.mark.parametrize("operator", [None, "--max-semi-space-size=8"])
def test_the_driver_options_leave_the_environment_as_found(
    operator: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if operator is None:
        monkeypatch.delenv("NODE_OPTIONS", raising=False)
    else:
        monkeypatch.setenv("NODE_OPTIONS", operator)
    with driver_environment():
        # Node takes the last of a repeated flag: the operator's comes after ours.
        expected = [DRIVER_NODE_OPTIONS] + ([operator] if operator else [])
        assert os.environ["NODE_OPTIONS"].split() == expected
    assert os.environ.get("NODE_OPTIONS") == operator


def test_four_contexts_on_the_headless_shell_stay_apart_in_few_processes(
    sim: Sim, tmp_path: Path
) -> None:
    async def page(request: web.Request) -> web.Response:
        response = web.Response(text=PAGE, content_type="text/html")
        response.set_cookie("visitor", request.query["who"])
        return response

    app = web.Application()
    app.router.add_get("/rdv", page)
    before = set(_processes("chrom")) | set(_processes("node"))
    host = BrowserHost(allowed_hosts=["127.0.0.1"])  # its own Chromium, counted alone

    async def open_four(base: str) -> list[str]:
        browser = await host.get()
        contexts = [await browser.new_context() for _ in range(CONTEXTS)]
        for n, context in enumerate(contexts):
            await (await context.new_page()).goto(f"{base}/rdv?who=v{n}")
        cookies = [await context.cookies() for context in contexts]
        return [",".join(f"{c['name']}={c['value']}" for c in jar) for jar in cookies]

    with loopback_site(sim, app) as base:
        try:
            jars = sim.loop.run(open_four(base))
            ours = {pid: exe for pid, exe in _processes("chrom").items() if pid not in before}
            (driver,) = set(_processes("node")) - before
            driver_options = _environment(driver).get("NODE_OPTIONS", "")
        finally:
            sim.loop.run(host.close())
    assert jars == [f"visitor=v{n}" for n in range(CONTEXTS)]  # no context sees another's
    shells = [p for p in browser_module.SYSTEM_HEADLESS_SHELLS if Path(p).exists()]
    assert shells, "Debian's chromium-headless-shell is not installed (scripts/setup.sh)"
    assert set(ours.values()) == {os.path.realpath(shells[0])}
    assert len(ours) <= MAX_CHROMIUM_PROCESSES, sorted(ours.values())
    assert DRIVER_NODE_OPTIONS in driver_options.split()
    assert host.product == "chromium-headless-shell"  # what `env.browser` records
