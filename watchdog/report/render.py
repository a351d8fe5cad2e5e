"""HTML rendering: Jinja2 with autoescape everywhere and a strict Content-Security-Policy.

Everything scraped (messages, URLs, labels) reaches the page escaped; the page itself loads
nothing and runs nothing: `default-src 'none'`, images only as data: URIs, and the one
inline stylesheet allowed by its hash. A `<script>` in a captured message stays text.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from PIL import Image, ImageDraw, ImageFont

from watchdog.domain.models import Outcome
from watchdog.report import causes, labels, support
from watchdog.report.legal import Confidence, LegalRefs
from watchdog.report.model import ReportData
from watchdog.report.typo import NBSP, NNBSP, Typo
from watchdog.stats.intervals import difference

SIMULATED_MARK = {"fr": "DONNÉES SIMULÉES", "en": "SIMULATED DATA"}
BOLD_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)


def _bold_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in BOLD_FONTS:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


@cache
def stylesheet() -> str:
    return (resources.files("watchdog.report") / "templates" / "report.css").read_text("utf-8")


def csp(css: str) -> str:
    """No source at all except data: images and the one stylesheet, named by its hash."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src data:; "
        f"style-src 'sha256-{digest}'; "
        "base-uri 'none'; form-action 'none'"
    )


@cache
def watermark(text: str) -> str:
    """A data: PNG of the diagonal watermark, drawn on every page. A picture, not text:
    extracted PDF text stays readable (the footer and the cover say it in words)."""
    font = _bold_font(96)
    box = font.getbbox(text)
    width, height = int(box[2] - box[0]) + 40, int(box[3] - box[1]) + 40
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((20 - box[0], 20 - box[1]), text, font=font, fill=(183, 28, 28, 34))
    rotated = layer.rotate(30, expand=True, resample=Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    rotated.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("watchdog.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def cite_marker(legal: LegalRefs, lang: str) -> Callable[[str], Markup]:
    """`cite_mark(id)` for templates: refuses unknown or unverified references, marks
    secondary-source ones with a dagger (explained in the analysis)."""

    def mark(ref_id: str) -> Markup:
        ref = legal.cite(ref_id)
        title = "source secondaire" if lang == "fr" else "secondary source"
        if ref.confidence is Confidence.SECONDARY:
            return Markup(f'<sup class="dagger" title="{title}">†</sup>')
        return Markup("")

    return mark


def base_context(typo: Typo, legal: LegalRefs, simulated: bool) -> dict[str, Any]:
    css = stylesheet()
    lang = typo.lang
    return {
        "lang": lang,
        "t": typo,
        "lab": labels,
        "causes": causes,
        "support": support,
        "O": Outcome,
        "all_outcomes": list(Outcome),
        "outcome_meanings": list(labels.MEANINGS[lang].items()),
        "confidence_label": labels.CONFIDENCE[lang],
        "legal": legal,
        "cite_mark": cite_marker(legal, lang),
        "css": Markup(css),
        "csp": Markup(csp(css)),  # ours: quotes and semicolons only
        "simulated": simulated,
        "simulated_mark": SIMULATED_MARK[lang],
        "watermark": watermark(SIMULATED_MARK[lang]),
        "nbsp": NBSP,
        "nnbsp": NNBSP,
    }


# The contents: anchor and heading of each numbered section, as the templates print them.
TOC: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (
        ("synthese", "1. Synthèse et recommandations"),
        ("introduction", "2. Introduction"),
        ("methodologie", "3. Méthodologie"),
        ("constats", "4. Constats"),
        ("analyse", "5. Analyse juridique"),
        ("recommandations", "6. Recommandations"),
        ("annexes", "7. Annexes"),
    ),
    "en": (
        ("synthese", "1. Summary and recommendations"),
        ("introduction", "2. Introduction"),
        ("methodologie", "3. Method"),
        ("constats", "4. Findings"),
        ("analyse", "5. Legal analysis"),
        ("recommandations", "6. Recommendations"),
        ("annexes", "7. Annexes"),
    ),
}


def render_report(data: ReportData, pages: Mapping[str, int] | None = None) -> str:
    """The report's HTML; `pages` (anchor → page of the printed PDF) numbers the contents."""
    typo = data.typo
    context = base_context(typo, data.legal, data.simulated)
    title = f"Rapport {data.meta.number}" if typo.fr else f"Report {data.meta.number}"
    context.update(
        data=data,
        meta=data.meta,
        views=data.views,
        charts=data.charts,
        title=title,
        top_releases=data.total.releases.most_common(3),
        env_recorded=[f for f in labels.ENV_FIELDS[typo.lang] if getattr(data.env, f, None)],
        env_words=labels.ENV_FIELDS[typo.lang],
        diff_failure=difference(data.total.failure_rate, data.total_previous.failure_rate),
        toc=[(a, h, (pages or {}).get(a)) for a, h in TOC[typo.lang]],
    )
    template = environment().get_template(f"report.{typo.lang}.html.j2")
    return template.render(context)
