"""The national map: départements coloured by their no-slot rate over the last seven days.

Static SVG, drawn at build time from the outlines of watchdog/data/departements-map.json
(96 metropolitan départements; source and CC BY 4.0 licence in the file, credited on the
page; scripts/departements_map.py makes it from its npm package). Paris and its inner ring
are too small to see on a national map: a magnified inset repeats them (`<use>` of the same
outlines). The overseas départements have no outline in the source: they are drawn as
labelled squares, not to scale, and the page says so.

Each département with a watched journey is a link to its page, reachable with the keyboard
in the order of the official list; every colour is named in the legend, and the table under
the map gives the same figures as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from markupsafe import Markup, escape

from watchdog.stats.intervals import Proportion

# ColorBrewer YlOrRd, 5 classes (sequential, marked colour-blind safe): 0–20 % … 80–100 %.
CLASSES = ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c", "#800026")
NOT_WATCHED = "#f2f2f2"
NO_RATE = "url(#no-rate)"  # hatched: watched, but no calendar reached in the window
EDGE = "#6b6b6b"
INK = "#1d2a4d"
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
OVERSEAS = ("971", "972", "973", "974", "976")
INNER_RING = ("75", "92", "93", "94")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Outlines:
    view_box: tuple[float, float, float, float]
    paths: dict[str, str]
    source: str
    licence: str


@cache
def outlines() -> Outlines:
    raw = json.loads(files("watchdog").joinpath("data/departements-map.json").read_text("utf-8"))
    box = tuple(float(x) for x in raw["viewBox"].split())
    return Outlines((box[0], box[1], box[2], box[3]), raw["paths"], raw["source"], raw["licence"])


def bbox(path: str) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of an outline made of relative `m` moves and `z`."""
    xs: list[float] = []
    ys: list[float] = []
    x = y = start_x = start_y = 0.0
    for part in re.split(r"(?=[mz])", path.strip()):
        if not part:
            continue
        if part[0] == "z":
            x, y = start_x, start_y
            continue
        numbers = [float(n) for n in _NUMBER.findall(part[1:])]
        for i in range(0, len(numbers) - 1, 2):
            x, y = x + numbers[i], y + numbers[i + 1]
            if i == 0:
                start_x, start_y = x, y
            xs.append(x)
            ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def fill(rate: Proportion | None) -> str:
    """The colour of a rate: None when not watched, hatched when no calendar was reached."""
    if rate is None:
        return NOT_WATCHED
    if rate.value is None:
        return NO_RATE
    return CLASSES[min(int(rate.value * len(CLASSES)), len(CLASSES) - 1)]


def class_label(index: int, pct: Callable[[float], str]) -> str:
    low, high = index / len(CLASSES), (index + 1) / len(CLASSES)
    return f"{pct(low)} – {pct(high)}"


@dataclass(frozen=True)
class MapText:
    """The words of the map in one language."""

    title: str  # the chart's accessible name
    describe: Callable[[str, str, Proportion | None], str]  # code, name, rate -> title text
    legend: list[str]  # five classes, then "no calendar reached", then "not watched"
    overseas: str  # caption of the overseas squares
    inset: str  # caption of the inset


def france_map(
    rates: Mapping[str, Proportion],
    names: Mapping[str, str],
    href: Callable[[str], str],
    text: MapText,
) -> Markup:
    """The SVG map. `rates` holds the watched départements (an empty Proportion: no calendar
    reached); `href` gives the page of a watched département."""
    shapes = outlines()
    x0, y0, width, height = shapes.view_box
    legend_w, bottom = 200.0, 120.0
    total_w, total_h = width + legend_w, height + bottom
    body = [
        '<defs><pattern id="no-rate" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{EDGE}" stroke-width="2"/></pattern></defs>'
    ]
    for code, path in shapes.paths.items():
        body.append(_shape(code, path, rates.get(code), names.get(code, code), href, text))
    body.append(_inset(shapes, width, text))
    body.append(_overseas(rates, names, href, text, height + 20))
    body.append(_legend(width + 10, 20, text))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0:g} {y0:g} {total_w:g} {total_h:g}" '
        # A group, not an image: an image's content is hidden, and the map holds links.
        f'width="100%" role="group" aria-labelledby="map-title" {FONT} font-size="12">'
        f'<title id="map-title">{escape(text.title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _shape(
    code: str,
    path: str,
    rate: Proportion | None,
    name: str,
    href: Callable[[str], str],
    text: MapText,
) -> str:
    label = escape(text.describe(code, name, rate))
    shape = (
        f'<path id="dep-{code}" d="{path}" fill="{fill(rate)}" stroke="{EDGE}" '
        f'stroke-width="0.6" vector-effect="non-scaling-stroke"><title>{label}</title></path>'
    )
    if rate is None:
        return shape
    return f'<a href="{escape(href(code))}" aria-label="{label}">{shape}</a>'


def _inset(shapes: Outlines, width: float, text: MapText) -> str:
    """Paris and its inner ring, magnified, in the top right corner (decorative: the same
    départements are links on the map and in the table)."""
    boxes = [bbox(shapes.paths[c]) for c in INNER_RING if c in shapes.paths]
    if not boxes:
        return ""
    x0, y0 = min(b[0] for b in boxes) - 1, min(b[1] for b in boxes) - 1
    x1, y1 = max(b[2] for b in boxes) + 1, max(b[3] for b in boxes) + 1
    size = 130.0
    left, top = width - size - 5, 5.0
    uses = "".join(f'<use href="#dep-{c}"/>' for c in INNER_RING if c in shapes.paths)
    return (
        f'<g aria-hidden="true"><rect x="{left}" y="{top}" width="{size}" height="{size}" '
        f'fill="#ffffff" stroke="{INK}"/>'
        f'<svg x="{left}" y="{top}" width="{size}" height="{size}" '
        f'viewBox="{x0:.2f} {y0:.2f} {x1 - x0:.2f} {y1 - y0:.2f}">{uses}</svg>'
        f'<text x="{left + size / 2}" y="{top + size + 14}" text-anchor="middle" '
        f'fill="{INK}">{escape(text.inset)}</text></g>'
    )


def _overseas(
    rates: Mapping[str, Proportion],
    names: Mapping[str, str],
    href: Callable[[str], str],
    text: MapText,
    top: float,
) -> str:
    parts = [f'<text x="10" y="{top}" fill="{INK}">{escape(text.overseas)}</text>']
    for i, code in enumerate(OVERSEAS):
        x, y = 10 + i * 80, top + 10
        rate = rates.get(code)
        label = escape(text.describe(code, names.get(code, code), rate))
        square = (
            f'<rect x="{x}" y="{y}" width="60" height="60" fill="{fill(rate)}" stroke="{EDGE}">'
            f"<title>{label}</title></rect>"
            f'<text x="{x + 30}" y="{y + 76}" text-anchor="middle" fill="{INK}">{code}</text>'
        )
        if rate is not None:
            square = f'<a href="{escape(href(code))}" aria-label="{label}">{square}</a>'
        parts.append(square)
    return "".join(parts)


def _legend(left: float, top: float, text: MapText) -> str:
    fills = [*CLASSES, NO_RATE, NOT_WATCHED]
    parts = []
    for i, (colour, words) in enumerate(zip(fills, text.legend, strict=True)):
        y = top + i * 26
        parts.append(
            f'<rect x="{left}" y="{y}" width="18" height="18" fill="{colour}" stroke="{EDGE}"/>'
            f'<text x="{left + 26}" y="{y + 14}" fill="{INK}">{escape(words)}</text>'
        )
    return "".join(parts)
