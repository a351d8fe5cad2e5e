"""Regenerate the golden pages of tests/test_classifier.py from the simulator.

Run after a simulator page changes: `.venv/bin/python scripts/refresh_golden.py`. Each case
of tests/test_probes.py is probed once (real Chromium); the final page (HTML, URL, status,
alerts, redirects) is written to tests/fixtures/golden/<platform>/<case>.html + .json with
the case's hand-written expectation, so the classifier can be tested without a browser.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness import target, write_config  # noqa: E402
from test_probes import CASES, Case, _case_id  # noqa: E402

from probes import REGISTRY, options_of  # noqa: E402
from watchdog.engine.browser import BrowserHost  # noqa: E402
from watchdog.probe.session import ProbeSession  # noqa: E402
from watchdog.simulator.testing import bundled_scenario, running  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "golden"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def capture(case: Case, url: str, host: BrowserHost, tmp: Path) -> dict[str, Any] | None:
    config = write_config(tmp, [target("t", case.platform, url, case.options)])
    found = config.targets[0]
    spec = REGISTRY[found.platform]
    browser = await host.get()
    context = await browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    creds = spec.credentials(options_of(found))
    if creds.headers:
        await context.set_extra_http_headers(creds.headers)
    page = await context.new_page()
    session = ProbeSession(page=page, url=url, target_id="t", host_allowed=config.host_allowed)

    async def on_dialog(dialog: Any) -> None:
        session.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        state = await asyncio.wait_for(spec.probe(session, options_of(found)), 20)
    except Exception as exc:  # a network fault has no page to keep
        print(f"  {case.key}: no page ({type(exc).__name__})")
        return None
    finally:
        html = await page.content() if not page.is_closed() else ""
        await context.close()
    return {
        "url": state.url, "status": state.status, "dialogs": list(state.dialogs),
        "redirects": list(state.redirects), "html": html, "options": case.options or {},
    }  # fmt: skip


async def main() -> None:
    host = BrowserHost(allowed_hosts=["127.0.0.1"])
    async with running(bundled_scenario("all"), clock=lambda: NOW) as sim:
        for case in CASES:
            with tempfile.TemporaryDirectory() as tmp:
                page = await capture(case, sim.entry_url(case.key), host, Path(tmp))
            if page is None:
                continue
            html = page.pop("html").replace(f"127.0.0.1:{sim.port}", "sim.test")
            page = json.loads(json.dumps(page).replace(f"127.0.0.1:{sim.port}", "sim.test"))
            page["expected"] = {
                "outcome": case.outcome, "detail": case.detail, "message": case.message,
                "slots": case.slots, "earliest_in_days": case.earliest_in_days,
            }  # fmt: skip
            folder = OUT / case.platform
            folder.mkdir(parents=True, exist_ok=True)
            name = _case_id(case)
            (folder / f"{name}.html").write_text(html, encoding="utf-8")
            (folder / f"{name}.json").write_text(
                json.dumps(page, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
            print(f"  {name}")
    await host.close()


if __name__ == "__main__":
    asyncio.run(main())
