"""PDF through the Chromium the probes already use (research/feasibility.md §8: ≈ 1.8 s per
10-page report with a warm browser, against ≈ 6 s for WeasyPrint, which is not installed).

Chromium prints the page numbers through `footer_template` (it does not draw CSS @page
margin boxes together with it). The page is rendered with JavaScript disabled and offline.
"""

from __future__ import annotations

import time
from pathlib import Path

from markupsafe import escape
from playwright.async_api import PdfMargins

from watchdog.browser import BrowserHost

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
