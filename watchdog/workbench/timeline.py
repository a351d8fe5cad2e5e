"""The outcome timeline of a target: a static SVG drawn on the server (no script, no style
attribute: the workbench's CSP forbids both; SVG presentation attributes are not styles).

One lane per kind of answer — slots offered, no slot, a barrier before the calendar, and
the observations no rate counts (`unrecognized`, `probe_error`: docs/design.md §2) — and one
tick per observation at its instant. Many observations close together make a dark band.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from watchdog.domain.clock import PARIS
from watchdog.domain.models import Outcome
from watchdog.report.typo import Typo
from watchdog.stats.calendar import Period

WIDTH, LEFT, RIGHT, LANE, TOP = 960, 230, 12, 26, 8
INK, GRID = "#1d2a4d", "#d5dae6"
LANES: tuple[tuple[str, str, str, str], ...] = (
    # key, French, English, colour (colour-blind safe: blue, vermilion, orange, grey)
    ("available", "créneaux proposés", "slots offered", "#0072b2"),
    ("no_slot", "aucun créneau", "no slot", "#d55e00"),
    ("barrier", "obstacle avant le calendrier", "barrier before the calendar", "#e69f00"),
    ("excluded", "hors des taux", "outside the rates", "#8c8c8c"),
)


def lane(outcome: Outcome) -> int:
    if not outcome.counts_in_rates:
        return 3
    if outcome is Outcome.AVAILABLE:
        return 0
    return 1 if outcome is Outcome.NO_SLOT else 2


def _text(x: float, y: float, text: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{INK}">{escape(text)}</text>'
    )


def _marks(period: Period, typo: Typo) -> list[tuple[datetime, str]]:
    """The grid: Paris midnights (at most 15 labelled), or every 3 hours over 1–2 days."""
    first = period.since.astimezone(PARIS).date()
    start = datetime(first.year, first.month, first.day, tzinfo=PARIS)
    if period.days <= 2:
        hours = [start + timedelta(hours=h) for h in range(0, 24 * (period.days + 1), 3)]
        # Wall-clock hours (a DST day has 23 or 25): each mark is normalised to Paris time.
        marks = [m.astimezone(PARIS) for m in hours]
        found = [(m, f"{m.hour}\u00a0h" if typo.fr else f"{m:%H}:00") for m in marks]
    else:
        days = [first + timedelta(days=n) for n in range(period.days + 1)]
        step = max(1, len(days) // 15)
        found = [
            (datetime(d.year, d.month, d.day, tzinfo=PARIS), f"{d:%d/%m}") for d in days[::step]
        ]
    return [(m, label) for m, label in found if period.since <= m < period.until]


def timeline_svg(points: Sequence[tuple[datetime, Outcome]], period: Period, typo: Typo) -> Markup:
    """The SVG of `points` (instant, outcome) over `period`."""
    plot = WIDTH - LEFT - RIGHT
    # In UTC: two instants of the same ZoneInfo subtract as wall times (wrong across DST).
    since, until = period.since.astimezone(UTC), period.until.astimezone(UTC)
    span = (until - since).total_seconds()
    bottom = TOP + LANE * len(LANES)
    height = bottom + 22

    def x(moment: datetime) -> float:
        return LEFT + plot * (moment.astimezone(UTC) - since).total_seconds() / span

    counts: Counter[int] = Counter(lane(o) for _, o in points)
    body = []
    for i, (_key, fr, en, colour) in enumerate(LANES):
        y = TOP + i * LANE
        body.append(f'<rect x="{LEFT}" y="{y + 3}" width="{plot}" height="{LANE - 6}" '
                    f'fill="#f4f6fa"/>')  # fmt: skip
        label = f"{fr if typo.fr else en} ({typo.num(counts[i])})"
        body.append(_text(LEFT - 6, y + LANE / 2 + 4, label, "end"))
        body.append(f'<g fill="{colour}">')
        body += [
            f'<rect x="{x(moment):.1f}" y="{y + 4}" width="1.6" height="{LANE - 8}"/>'
            for moment, outcome in points
            if lane(outcome) == i
        ]
        body.append("</g>")
    for mark, text in _marks(period, typo):
        at = x(mark)
        body.append(f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{TOP}" y2="{bottom}" '
                    f'stroke="{GRID}" stroke-width="1"/>')  # fmt: skip
        body.append(_text(at, bottom + 15, text, "middle"))
    parts = ", ".join(
        f"{typo.num(counts[i])} {fr if typo.fr else en}" for i, (_k, fr, en, _c) in enumerate(LANES)
    )
    title = "Chronologie des observations" if typo.fr else "Timeline of the observations"
    label = f"{title}\u00a0: {parts}" if typo.fr else f"{title}: {parts}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="11"><title>{escape(label)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")
