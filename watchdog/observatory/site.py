"""Write the observatory: static pages in French (the root) and English (`en/`), charts as
inline SVG drawn at build time, framed captures copied from the evidence store, and the
open-data files of the period (watchdog/opendata/export.py) under `donnees/`.

The pages load nothing from elsewhere and run nothing: one stylesheet and the images of the
site itself, relative links only (the folder works from a disk, `file://`, or under any
path of a web server), a Content-Security-Policy without script. Every text from the record
or the configuration reaches the page through Jinja2's autoescape; the site's own words
(`message`) are shown as text, never as markup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import date as Day  # `Page.date` formats one
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from watchdog import __version__
from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.domain.models import Outcome
from watchdog.domain.rates import COUNTED, EXCLUDED
from watchdog.domain.target import Target
from watchdog.observatory import francemap
from watchdog.observatory.model import Area, Journey, Observatory
from watchdog.report import charts, labels
from watchdog.report.examples import reduce_png
from watchdog.report.typo import NBSP, Typo
from watchdog.stats.intervals import Proportion
from watchdog.stats.series import SeriesStats
from watchdog.store.db import Store

LANGS = ("fr", "en")
DATA_DIR = "donnees"  # the open-data files, shared by both languages
CAPTURES_DIR = "captures"
MARK = ".watchdog-observatory"  # written by a build: the folder may be rebuilt
WATERMARK = "Données simulées / Simulated data"
CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"
# Where each kind of page lives, per language (relative to the site's root).
PLACES = {
    "fr": {"home": "index.html", "dep": "departements/{}.html", "journey": "parcours/{}.html",
           "method": "methode.html"},
    "en": {"home": "en/index.html", "dep": "en/departments/{}.html",
           "journey": "en/journeys/{}.html", "method": "en/method.html"},
}  # fmt: skip


def place(lang: str, kind: str, key: str = "") -> str:
    return PLACES[lang][kind].format(key)


@dataclass
class BuildResult:
    folder: Path
    pages: list[str] = field(default_factory=list)
    captures: int = 0
    data_files: list[str] = field(default_factory=list)
    observations: int = 0

    def summary(self) -> str:
        per_lang = len(self.pages) // len(LANGS)
        return (
            f"wrote the observatory to {self.folder}: {len(self.pages)} page(s) "
            f"({per_lang} in French, {per_lang} in English), {self.captures} capture(s), "
            f"open data of {self.observations} observation(s) in {DATA_DIR}/ "
            f"({len(self.data_files)} file(s)); open {self.folder / 'index.html'}"
        )


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("watchdog.observatory", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def stylesheet() -> str:
    return (resources.files("watchdog.observatory") / "templates" / "site.css").read_text("utf-8")


def watermark_svg() -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="520" height="320" viewBox="0 0 520 320">'
        '<text x="260" y="170" text-anchor="middle" transform="rotate(-28 260 160)" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="34" font-weight="bold" '
        f'fill="#b71c1c" fill-opacity="0.10">{WATERMARK}</text></svg>\n'
    )


class Page:
    """The helpers a template gets for one page in one language."""

    def __init__(
        self, lang: str, kind: str, path: str, data: Observatory, counterpart: str
    ) -> None:
        self.lang = lang
        self.kind = kind
        self.path = path
        self.data = data
        self.typo = Typo(lang)
        self.root = "../" * path.count("/")
        self.counterpart = counterpart

    @property
    def other(self) -> str:
        return "en" if self.lang == "fr" else "fr"

    def L(self, fr: str, en: str) -> str:
        """The French or the English words (short: the templates call it on every line)."""
        return fr if self.lang == "fr" else en

    def href(self, kind: str, key: str = "") -> str:
        return self.root + place(self.lang, kind, key)

    def to(self, site_path: str) -> str:
        """A link to a file at `site_path` from the site's root."""
        return self.root + site_path

    def switch(self) -> str:
        return self.root + self.counterpart

    def rate(self, p: Proportion) -> str:
        return self.typo.pct(p.value) if p.n else self.L("sans donnée", "no data")

    def ci(self, p: Proportion) -> str:
        return self.typo.ci(p)

    def procedure(self, target: Target) -> str:
        return labels.procedure(self.lang, target.procedure)

    def platform(self, target: Target) -> str:
        return labels.platform(self.lang, target.platform)

    def outcome(self, outcome: Outcome, target: Target | None = None) -> str:
        return labels.outcome(self.lang, outcome, target.platform if target else None)

    def journey_name(self, journey: Journey) -> str:
        t = journey.target
        site = f" ({t.site})" if t.site else ""
        return f"{t.prefecture}{site} — {self.procedure(t)}"

    def dep_name(self, code: str) -> str:
        return f"{self.data.names.get(code, code)} ({code})"

    def counted(self, stats: SeriesStats) -> list[tuple[Outcome, int]]:
        return [(o, stats.outcomes[o]) for o in COUNTED if stats.outcomes[o]]

    def excluded(self, stats: SeriesStats) -> list[tuple[Outcome, int]]:
        return [(o, stats.outcomes[o]) for o in EXCLUDED if stats.outcomes[o]]

    def trend(self, weekly: Sequence[tuple[str, Proportion]], label: str) -> Markup:
        return charts.weekly_bars(weekly, self.typo, label)

    def heatmap(self, stats: SeriesStats, label: str) -> Markup:
        return charts.heatmap(stats, self.typo, label)

    def heat_rows(self, stats: SeriesStats) -> list[tuple[str, list[str]]]:
        """The heat map as text: per weekday, the share of attempts with a slot per hour."""
        rows = []
        for day in range(7):
            cells = []
            for hour in range(24):
                p = stats.heat_cell(day, hour)
                cells.append(f"{self.typo.pct(p.value, 0)} ({p.n})" if p.n else "—")
            rows.append((self.typo.weekday(day), cells))
        return rows

    def hour(self, hour: int) -> str:
        return self.typo.hour(hour)

    def date(self, value: Any) -> str:
        return self.typo.date(value)

    def span(self, first: Day, last: Day, opening: bool = False) -> str:
        """ "du 3 mars 2025 au 23 mars 2025", or "le 3 mars 2025" for one day; `opening`
        capitalises it to begin a sentence."""
        if first == last:
            text = self.L("le ", "on ") + self.typo.date(first)
        else:
            text = f"{self.L('du', 'from')} {self.typo.date(first)} {self.L('au', 'to')} "
            text += self.typo.date(last)
        return text[0].upper() + text[1:] if opening else text

    def datetime(self, value: datetime | None) -> str:
        return self.typo.datetime(value)

    def num(self, value: int) -> str:
        return self.typo.num(value)

    def colon(self) -> str:
        return self.typo.colon()

    def quote(self, text: str | None) -> str:
        return self.typo.quote(text)

    def france_map(self) -> Markup:
        rates = {a.code: a.recent_no_slot for a in self.data.departements}
        for area in self.data.departements:
            if not area.booking:  # watched, but nothing that books: no rate to colour by
                rates[area.code] = Proportion(0, 0)
        text = francemap.MapText(
            title=self.L(
                "Carte des départements selon le taux d'absence de créneau des 7 derniers jours",
                "Map of the départements by no-slot rate over the last 7 days",
            ),
            describe=self._describe,
            legend=[
                *(francemap.class_label(i, self._pct0) for i in range(len(francemap.CLASSES))),
                self.L("calendrier non atteint", "calendar not reached"),
                self.L("non observé", "not watched"),
            ],
            overseas=self.L("Outre-mer (carrés, hors échelle)", "Overseas (squares, not to scale)"),
            inset=self.L("Paris et petite couronne", "Paris and inner ring"),
        )
        return francemap.france_map(rates, self.data.names, lambda c: self.href("dep", c), text)

    def _pct0(self, value: float) -> str:
        return self.typo.pct(value, 0)

    def _describe(self, code: str, name: str, rate: Proportion | None) -> str:
        head = f"{name} ({code})"
        if rate is None:
            return f"{head}{self.colon()} {self.L('non observé', 'not watched')}"
        if rate.value is None:
            return (
                f"{head}{self.colon()} {self.L('calendrier non atteint', 'calendar not reached')}"
            )
        words = self.L("sans créneau", "without a slot")
        return f"{head}{self.colon()} {self.typo.pct(rate.value)} {words} (n{NBSP}={NBSP}{rate.n})"


def build_site(
    store: Store,
    data: Observatory,
    out: Path,
    data_files: Sequence[str],
    advance: Callable[[int], None] | None = None,
) -> BuildResult:
    """Write the pages, the stylesheet, the watermark and the captures (the open data is
    written by the caller into out/donnees)."""
    result = BuildResult(out, data_files=list(data_files))
    out.mkdir(parents=True, exist_ok=True)
    (out / MARK).write_text(
        "Built by `watchdog observatory build`: a new build replaces its pages.\n", "utf-8"
    )
    (out / "site.css").write_text(stylesheet(), encoding="utf-8")
    if data.simulated:
        (out / "watermark.svg").write_text(watermark_svg(), encoding="utf-8")
    captures = _copy_captures(store, data, out)
    result.captures = len(captures)
    common = {"generated": datetime.now(UTC), "version": __version__,
              "data_files": list(data_files), "captures": captures, "data_dir": DATA_DIR,
              "watermark": WATERMARK if data.simulated else None,
              "csp": CSP, "source": francemap.outlines().source}  # fmt: skip
    jobs: list[tuple[str, str, dict[str, Any]]] = [("home.html.j2", "home", {}),
                                                  ("method.html.j2", "method", {})]  # fmt: skip
    jobs += [("departement.html.j2", "dep", {"area": a}) for a in data.departements]
    jobs += [("journey.html.j2", "journey", {"journey": j}) for j in data.journeys]
    for lang in LANGS:
        other = "en" if lang == "fr" else "fr"
        for template, kind, extra in jobs:
            key = _key(extra)
            path = place(lang, kind, key)
            page = Page(lang, kind, path, data, place(other, kind, key))
            html = (
                environment()
                .get_template(template)
                .render(p=page, L=page.L, data=data, **common, **extra)
            )
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            result.pages.append(path)
            if advance:
                advance(len(result.pages))
    return result


def _key(extra: dict[str, Any]) -> str:
    if "area" in extra:
        area: Area = extra["area"]
        return area.code
    if "journey" in extra:
        journey: Journey = extra["journey"]
        return journey.target.id
    return ""


def _copy_captures(store: Store, data: Observatory, out: Path) -> dict[str, str]:
    """Each journey's latest framed capture, reduced for the page, as captures/<sha>.png;
    target id -> site path. A blob missing from the store is `watchdog verify`'s finding:
    the page then says no capture is available."""
    copied: dict[str, str] = {}
    for journey in data.journeys:
        capture = journey.capture
        if capture is None:
            continue
        try:
            blob = store.blobs.get(capture.framed_sha)
        except StoreError:
            continue
        image, _reduced = reduce_png(blob)
        path = f"{CAPTURES_DIR}/{capture.framed_sha}.png"
        (out / CAPTURES_DIR).mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(image)
        copied[journey.target.id] = path
    return copied


def clear(out: Path) -> None:
    """Remove the pages of an earlier build (a journey dropped from the catalog must not
    stay published); other files in the folder are left alone (a CNAME, say).

    Only a folder an earlier build marked is cleared: a folder that holds anything else and
    no mark is refused, so that `--out .` never deletes someone's `en/` or `index.html`."""
    if out.is_dir() and not (out / MARK).is_file() and any(out.iterdir()):
        raise WatchdogError(
            f"{out} is not empty and holds no earlier observatory ({MARK} is missing): "
            "choose an empty or new folder"
        )
    for name in ("index.html", "methode.html", "site.css", "watermark.svg"):
        (out / name).unlink(missing_ok=True)
    for folder in ("departements", "parcours", "en", CAPTURES_DIR, DATA_DIR):
        if (out / folder).is_dir():
            shutil.rmtree(out / folder)
