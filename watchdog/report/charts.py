"""SVG charts for the reports: inline, static, no script, no style attribute (the CSP
forbids inline styles; SVG presentation attributes are not styles)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from watchdog.report.typo import Typo
from watchdog.stats.intervals import Proportion
from watchdog.stats.series import SeriesStats

FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
INK = "#1d2a4d"
BAR = "#3b5ba5"
LIGHT = "#e8ecf4"
NO_DATA = "#d9d9d9"
# Cimade buckets 1 → 5, from "≥ 2 dates within a month" (blue) to "no date" (red): ColorBrewer
# RdYlBu, a diverging scheme ColorBrewer marks colour-blind safe, whose lightness also orders
# the buckets in greyscale. Every colour is named in the legend, not left to be decoded.
BUCKET_COLOURS = ("#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c")
BUCKET_EDGE = "#555555"  # the pale middle buckets stay visible on white


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}" {FONT} font-size="11">'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{INK}">{escape(text)}</text>'
    )


def rate_bars(rows: Sequence[tuple[str, Proportion]], typo: Typo, label: str) -> Markup:
    """Horizontal bars (one per series) with the Wilson 95 % interval as a whisker."""
    left, width, row_h, plot = 300, 940, 26, 440
    height = 30 + row_h * len(rows) + 24
    body = [_axis_grid(left, plot, 20, 20 + row_h * len(rows), typo)]
    for i, (name, p) in enumerate(rows):
        y = 20 + i * row_h
        body.append(_text(left - 8, y + 16, _short(name, 48), "end"))
        if p.value is None:
            body.append(_text(left + 4, y + 16, "—"))
            continue
        body.append(
            f'<rect x="{left}" y="{y + 5}" width="{plot * p.value:.1f}" height="{row_h - 10}" '
            f'fill="{BAR}"/>'
        )
        low, high = p.interval or (p.value, p.value)
        mid = y + row_h / 2
        body.append(
            f'<line x1="{left + plot * low:.1f}" x2="{left + plot * high:.1f}" y1="{mid}" '
            f'y2="{mid}" stroke="{INK}" stroke-width="1.5"/>'
        )
        body.append(_text(left + plot + 10, y + 16, f"{typo.pct(p.value)} ({typo.ci(p)})"))
    return _svg(width, height, body, label)


def _axis_grid(left: int, plot: int, top: int, bottom: int, typo: Typo) -> str:
    parts = []
    for step in range(0, 101, 25):
        x = left + plot * step / 100
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="{LIGHT}"/>')
        parts.append(_text(x, bottom + 14, typo.pct(step / 100, 0), "middle", 9))
    return "".join(parts)


def weekly_bars(weeks: Sequence[tuple[str, Proportion]], typo: Typo, label: str) -> Markup:
    """Vertical bars: one ISO week each, height = share of attempts without a slot."""
    width, height, top, bottom, left = 940, 230, 16, 180, 44
    count = max(len(weeks), 1)
    slot = (width - left - 10) / count
    body = []
    for step in range(0, 101, 25):
        y = bottom - (bottom - top) * step / 100
        body.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{LIGHT}"/>'
        )
        body.append(_text(left - 6, y + 4, typo.pct(step / 100, 0), "end", 9))
    for i, (name, p) in enumerate(weeks):
        x = left + i * slot
        value = p.value or 0.0
        h = (bottom - top) * value
        fill = BAR if p.n else NO_DATA
        body.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{bottom - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{fill}"/>'
        )
        if count <= 26 or i % 2 == 0:
            body.append(_text(x + slot / 2, bottom + 14, name, "middle", 8))
        if count <= 16:
            body.append(_text(x + slot / 2, bottom + 28, f"n={typo.num(p.n)}", "middle", 8))
    return _svg(width, height, body, label)


def heatmap(stats: SeriesStats, typo: Typo, label: str) -> Markup:
    """Weekday × hour (Paris time): darker cells found a slot more often; grey = no attempt."""
    left, top, cell_w, cell_h = 80, 22, 35, 22
    width, height = left + 24 * cell_w + 10, top + 7 * cell_h + 40
    body = [_text(left + h * cell_w + cell_w / 2, top - 6, f"{h}", "middle", 9) for h in range(24)]
    for day in range(7):
        y = top + day * cell_h
        body.append(_text(left - 6, y + 15, typo.weekday(day), "end", 10))
        for hour in range(24):
            p = stats.heat_cell(day, hour)
            body.append(
                f'<rect x="{left + hour * cell_w}" y="{y}" width="{cell_w - 1}" '
                f'height="{cell_h - 1}" fill="{_shade(p)}"><title>'
                f"{escape(typo.weekday(day))} {escape(typo.hour(hour))}{typo.colon()} "
                f"{escape(typo.rate(p))}</title></rect>"
            )
    legend_y = top + 7 * cell_h + 18
    for i, share in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
        x = left + i * 110
        body.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="14" height="12" '
            f'fill="{_shade(Proportion(int(share * 4), 4))}"/>'
        )
        body.append(_text(x + 20, legend_y, typo.pct(share, 0)))
    return _svg(width, height, body, label)


def _shade(p: Proportion) -> str:
    if p.value is None:
        return NO_DATA
    # From almost white (never a slot) to the report blue (always a slot).
    low, high = (247, 248, 252), (29, 42, 120)
    rgb = (round(a + (b - a) * p.value) for a, b in zip(low, high, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def bucket_bars(
    rows: Sequence[tuple[str, SeriesStats]], typo: Typo, label: str, legend: Sequence[str]
) -> Markup:
    """100 % stacked bars of the five Cimade buckets per series, with a labelled legend."""
    left, width, row_h, plot = 300, 940, 24, 600
    height = 20 + row_h * len(rows) + 34 + 20 * len(legend)
    body = []
    for i, (name, stats) in enumerate(rows):
        y = 12 + i * row_h
        body.append(_text(left - 8, y + 15, _short(name, 48), "end"))
        x = float(left)
        for bucket, colour in zip((1, 2, 3, 4, 5), BUCKET_COLOURS, strict=True):
            share = stats.bucket_share(bucket).value or 0.0
            body.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{plot * share:.1f}" height="{row_h - 6}" '
                f'fill="{colour}" stroke="{BUCKET_EDGE}" stroke-width="0.5"/>'
            )
            x += plot * share
        if not stats.bucket_total:
            body.append(_text(left + 4, y + 15, "—"))
    legend_y = 20 + row_h * len(rows) + 14
    for i, (colour, words) in enumerate(zip(BUCKET_COLOURS, legend, strict=True)):
        y = legend_y + 20 * i
        body.append(
            f'<rect x="{left}" y="{y - 12}" width="14" height="14" fill="{colour}" '
            f'stroke="{BUCKET_EDGE}" stroke-width="0.5"/>'
        )
        body.append(_text(left + 20, y, f"{i + 1}{typo.colon()} {words}", "start", 13))
    return _svg(width, height, body, label)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
