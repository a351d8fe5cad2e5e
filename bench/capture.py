"""What each way of keeping a screenshot costs (issue 7, item 4): raw capture and framed copy.

    python -m bench.capture          # prints one JSON object

The raw capture is Chromium's full-page screenshot of a typical text page (the French
"no slot" message repeated, 1280 px wide); the framed copy is watchdog/evidence/frame.py's banner
above it, encoded as PNG (what the watchdog keeps), or as JPEG / WebP for comparison.
CPU is this process's (the framing runs in Python); the screenshot's is the whole tree's.
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from bench.procs import tree_cpu_seconds
from watchdog.engine.browser import BrowserHost
from watchdog.evidence.frame import Banner, frame

PAGE = (
    "<html lang='fr'><body style='font-family:sans-serif'><h1>Préfecture de la Seine</h1>"
    + "<p>Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement.</p>" * 30 + "</body></html>"
)
REPEATS = 7


async def _screenshots() -> tuple[bytes, dict[str, Any]]:
    host = BrowserHost()
    figures: dict[str, Any] = {}
    try:
        browser = await host.get()
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.set_content(PAGE)
        for kind in ("png", "jpeg"):
            cpu, walls, size = [], [], 0
            for _ in range(REPEATS):
                before, started = tree_cpu_seconds(), time.perf_counter()
                size = len(await page.screenshot(full_page=True, type=kind))
                walls.append(time.perf_counter() - started)
                cpu.append(tree_cpu_seconds() - before)
            figures[f"screenshot {kind}"] = {
                "cpu_s": round(statistics.median(cpu), 3),
                "wall_s": round(statistics.median(walls), 3),
                "kb": round(size / 1024, 1),
            }
        raw = await page.screenshot(full_page=True)
    finally:
        await host.close()
    return raw, figures


def _encoders() -> dict[str, Callable[[Image.Image, io.BytesIO], None]]:
    return {
        "framed png (kept)": lambda img, out: img.save(out, format="PNG", compress_level=3),
        "framed png level 1": lambda img, out: img.save(out, format="PNG", compress_level=1),
        "framed jpeg q85": lambda img, out: img.save(out, format="JPEG", quality=85),
        "framed webp q80": lambda img, out: img.save(out, format="WEBP", quality=80, method=0),
    }


def measure() -> dict[str, Any]:
    raw, figures = asyncio.run(_screenshots())
    banner = Banner(
        url="https://www.example.gouv.fr/booking/create/1/0", taken_at=datetime.now(UTC),
        target="bench", observation_id="01BENCH", raw_sha256="0" * 64,
        simulated=True, rendered_later=False,
    )  # fmt: skip
    framed = Image.open(io.BytesIO(frame(raw, banner)))
    framed.load()
    decode_compose = []
    for _ in range(REPEATS):
        started = time.process_time()
        frame(raw, banner)
        decode_compose.append(time.process_time() - started)
    figures["frame() as kept (decode, banner, PNG)"] = {
        "cpu_s": round(statistics.median(decode_compose), 3)
    }
    for label, encode in _encoders().items():
        cpu, size = [], 0
        for _ in range(REPEATS):
            out = io.BytesIO()
            started = time.process_time()
            encode(framed, out)
            cpu.append(time.process_time() - started)
            size = out.tell()
        figures[label] = {"encode_cpu_s": round(statistics.median(cpu), 3),
                          "kb": round(size / 1024, 1)}  # fmt: skip
    return figures


if __name__ == "__main__":
    print(json.dumps(measure()))
