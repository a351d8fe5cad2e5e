"""PDF through the Chromium the probes already use (≈ 1.8 s per
10-page report with a warm browser, against ≈ 6 s for WeasyPrint, which is not installed).

Chromium prints the page numbers through `footer_template` (it does not draw CSS @page
margin boxes together with it). The page is rendered with JavaScript disabled and offline.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from markupsafe import escape
from playwright.async_api import PdfMargins

from watchdog.engine.browser import BrowserHost

log = logging.getLogger(__name__)
MARGINS: PdfMargins = {"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"}
_FOOTER = (
    '<div style="width:100%;font-family:DejaVu Sans,Arial,sans-serif;font-size:7.5pt;'
    'color:#555;padding:0 14mm;display:flex;justify-content:space-between">'
    '<span>{left}</span><span>{page} <span class="pageNumber"></span> {of} '
    '<span class="totalPages"></span></span></div>'
)


def footer(left: str, lang: str) -> str:
    """The footer Chromium repeats on every page: a label and "page n sur N"."""
    page, of = ("page", "sur") if lang == "fr" else ("page", "of")
    return _FOOTER.format(left=escape(left), page=page, of=of)


async def html_to_pdf(
    html: str, out: Path, footer_html: str, host: BrowserHost | None = None
) -> float:
    """Print `html` to `out` (A4); return the seconds it took. Launches Chromium if no host."""
    started = time.perf_counter()
    own = host is None
    browser_host = host or BrowserHost()
    try:
        browser = await browser_host.get()
        context = await browser.new_context(java_script_enabled=False, offline=True)
        try:
            page = await context.new_page()
            await page.set_content(html, wait_until="load")
            await page.pdf(
                path=str(out),
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=footer_html,
                margin=MARGINS,
            )
        finally:
            await context.close()
    finally:
        if own:
            await browser_host.close()
    return time.perf_counter() - started


def heading_pages(pdf: Path, headings: Sequence[tuple[str, str]], after: str) -> dict[str, int]:
    """The page (1-based) where each heading is printed, read back from the PDF with poppler's
    pdftotext: the first line equal to the heading on a page after the one holding `after`
    (the contents page, which lists them all). Empty when pdftotext is not installed."""
    tool = shutil.which("pdftotext")
    if tool is None:
        log.warning("pdftotext not found: the contents page is printed without page numbers")
        return {}
    text = subprocess.run(
        [tool, "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = [[" ".join(line.split()) for line in page.splitlines()] for page in text.split("\f")]
    start = next((i for i, page in enumerate(pages) if after in page), 0) + 1
    found: dict[str, int] = {}
    for anchor, heading in headings:
        for index in range(start, len(pages)):
            if heading in pages[index]:
                found[anchor] = index + 1
                break
    return found
