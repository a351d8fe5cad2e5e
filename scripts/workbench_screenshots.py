"""Screenshots of the workbench over a real demo record, for the README.

    .venv/bin/python scripts/workbench_screenshots.py [--minutes 2] [--out docs/images]

Runs `watchdog demo` into a temporary folder (the simulator, the real probes and store),
serves `watchdog serve` on its data on loopback, and lets Chromium photograph the index, a
target page and one observation. No mock-up: every figure comes from that run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from watchdog.engine.browser import find_chromium

EXE = Path(sys.executable).parent / "watchdog"
TARGET = "ain-premiere-demande"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="workbench-shots-") as tmp:
        data = Path(tmp) / "demo"
        subprocess.run(
            [str(EXE), "demo", "--minutes", str(args.minutes), "--data", str(data), "--port", "0"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        config = data / "demo-config.yaml"
        served = subprocess.Popen([str(EXE), "serve", "--config", str(config), "--port", "0"],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert served.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+/", served.stdout.readline())
            if found is None:
                raise SystemExit("watchdog serve did not print its address")
            shoot(found.group(0).rstrip("/"), args.out)
        finally:
            served.terminate()
            served.wait(30)
    return 0


def shoot(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(None, None))
        page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="fr-FR")
        page.goto(base + "/", wait_until="networkidle")
        page.screenshot(path=str(out / "workbench-index.png"))
        day = page.input_value("input[name=to]")  # the demo's day: its observations spread
        page.goto(f"{base}/cible/{TARGET}?from={day}&to={day}", wait_until="networkidle")
        page.screenshot(path=str(out / "workbench-target.png"), full_page=False)
        first = page.locator("table.observations a").first.get_attribute("href")
        page.goto(base + str(first), wait_until="networkidle")
        page.locator("h2", has_text="Preuves").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "workbench-observation.png"), full_page=False)
        browser.close()
    for name in ("workbench-index.png", "workbench-target.png", "workbench-observation.png"):
        print(out / name)


if __name__ == "__main__":
    sys.exit(main())
