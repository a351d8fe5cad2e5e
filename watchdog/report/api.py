"""The public entry points of the reports: options, target selection, build."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from watchdog.domain.errors import WatchdogError
from watchdog.domain.target import Target
from watchdog.engine.browser import BrowserHost
from watchdog.report.editable import EDITABLE, write_editable
from watchdog.report.legal import load_legal
from watchdog.report.model import Inputs, assemble
from watchdog.report.pdf import footer, heading_pages, html_to_pdf
from watchdog.report.recommend import load_rules
from watchdog.report.render import SIMULATED_MARK, TOC, render_report
from watchdog.report.steps import Steps, ticker
from watchdog.stats.calendar import Period
from watchdog.store.db import Store

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "Instance locale de prefecture-watchdog (logiciel libre, AGPL-3.0)"
DEFAULT_ISSUER_EN = "Local instance of prefecture-watchdog (free software, AGPL-3.0)"
FORMATS = ("html", "pdf", *EDITABLE)
DEFAULT_FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class ReportOptions:
    """How to render: formats, language, editable rules and legal data, identity."""

    formats: Sequence[str] = DEFAULT_FORMATS
    lang: str = "fr"
    recommendations: Path | None = None  # rules file (default: the bundled one)
    legal_dir: Path | None = None  # legal references directory (default: bundled)
    issuer: str = DEFAULT_ISSUER
    generated_at: datetime | None = None  # default: now
    number: str | None = None  # default: WD-<date>-<digest of the selection>
    browser: BrowserHost | None = field(default=None, compare=False)  # reuse a Chromium
    chromium: str | None = None  # executable when no browser is given (config browser.*)
    simulated: bool = False  # config `watchdog.simulated`: watermark even without data

    def __post_init__(self) -> None:
        unknown = set(self.formats) - set(FORMATS)
        if unknown or not self.formats:
            raise WatchdogError(
                f"unknown report format(s) {sorted(unknown)}; use html, pdf, odt and/or docx"
            )
        if self.lang not in ("fr", "en"):
            raise WatchdogError(f"unknown language {self.lang!r}; use fr or en")


def select_targets(
    targets: Iterable[Target],
    ids: Sequence[str] = (),
    departments: Sequence[str] = (),
    procedures: Sequence[str] = (),
) -> list[Target]:
    """The catalog's targets matching every selector given (each selector: any of its values)."""
    catalog = list(targets)
    missing = sorted(set(ids) - {t.id for t in catalog})
    if missing:
        raise WatchdogError(f"unknown target(s): {', '.join(missing)} (see `watchdog targets`)")
    chosen = [
        t
        for t in catalog
        if (not ids or t.id in ids)
        and (not departments or t.department in departments)
        and (not procedures or t.procedure.value in procedures)
    ]
    if not chosen:
        raise WatchdogError("no target matches the selectors (--target, --department, --procedure)")
    return chosen


def build_report(
    store: Store,
    targets: Sequence[Target],
    *,
    since: datetime,
    until: datetime,
    out_dir: Path,
    options: ReportOptions | None = None,
    advance: Steps | None = None,
) -> list[Path]:
    """Write the report (HTML and/or PDF) for `targets` over [since, until) into `out_dir`."""
    return asyncio.run(
        build_report_async(
            store, targets, since=since, until=until, out_dir=out_dir, options=options,
            advance=advance,
        )
    )  # fmt: skip


async def build_report_async(
    store: Store,
    targets: Sequence[Target],
    *,
    since: datetime,
    until: datetime,
    out_dir: Path,
    options: ReportOptions | None = None,
    advance: Steps | None = None,
) -> list[Path]:
    """As `build_report`, from a running event loop (the store is read in a worker thread).

    `advance` is told the steps done: the statistics, the HTML, each PDF pass (two: the
    second numbers the contents) and each editable copy."""
    opts = options or ReportOptions()
    tick = ticker(opts.formats, advance)
    inputs = Inputs(
        targets=list(targets),
        period=Period(since, until),
        lang=opts.lang,
        issuer=DEFAULT_ISSUER_EN
        if opts.lang == "en" and opts.issuer == DEFAULT_ISSUER
        else opts.issuer,
        generated_at=opts.generated_at or datetime.now(UTC),
        legal=load_legal(opts.legal_dir),
        rules=load_rules(opts.recommendations),
        number=opts.number,
        simulated=opts.simulated,
    )
    data = await asyncio.to_thread(assemble, store, inputs)
    tick()
    html = render_report(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{'rapport' if opts.lang == 'fr' else 'report'}-{data.meta.number}"
    written: list[Path] = []
    if "html" in opts.formats:
        path = out_dir / f"{stem}.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
        tick()
    if "pdf" in opts.formats:
        path = out_dir / f"{stem}.pdf"
        label = f"{'Rapport' if opts.lang == 'fr' else 'Report'} {data.meta.number}"
        if data.simulated:
            label += f" — {SIMULATED_MARK[opts.lang]}"
        host = opts.browser or BrowserHost(executable_path=opts.chromium)
        try:
            seconds = await html_to_pdf(html, path, footer(label, opts.lang), host)
            tick()
            # Chromium cannot number a contents page; print once, read where each section
            # landed, print again with the numbers (the contents page keeps its length).
            contents = "Sommaire" if opts.lang == "fr" else "Contents"
            pages = heading_pages(path, TOC[opts.lang], after=contents)
            if pages:
                numbered = render_report(data, pages)
                seconds += await html_to_pdf(numbered, path, footer(label, opts.lang), host)
            tick()
        finally:
            if opts.browser is None:
                await host.close()
        log.info("PDF %s written in %.2f s", path, seconds)
        written.append(path)
    for fmt in EDITABLE:
        if fmt in opts.formats:
            written.append(write_editable(html, out_dir / f"{stem}.{fmt}", opts.lang))
            tick()
    return written
