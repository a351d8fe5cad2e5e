"""Presentation variants: the same facts, shown the ways the real sites showed them.

A target's `variants` list changes how its pages look, never what they say: the messages,
classes and ids stay those of docs/readings.md; only their arrangement and timing
change (a consent overlay on top, a calendar delivered after `load`, a legend that reads
« libre », several `h2`, the English or 2025 wording of the legacy module, mobile markup…).
Probes must read every variant the same way: tests/test_variant_sweep.py runs them all.
"""

from __future__ import annotations

import json
from enum import StrEnum

from watchdog.domain.models import Platform


class Variant(StrEnum):
    LATE = "late"  # content delivered after `load`: XHR calendar, script-rendered chooser, alert
    LEGEND = "legend"  # legacy: a legend table with a `td.status-1.free` « libre » cell
    BUSY = "busy"  # several h2, a newsletter form and its submit around the booking form
    ENGLISH = "english"  # legacy: the English wording (« Please try later », « Week from »)
    WORDING_2025 = "wording_2025"  # legacy: « Veuillez réessayer ultérieurement. » (2025)
    NO_CALENDAR = "no_calendar"  # legacy: « Il n'y a pas calendrier disponible » (2025)
    MOBILE = "mobile"  # rdv: one closed Quasar expansion item per day
    COLLAPSED = "collapsed"  # rdv: rows beyond the first two behind « Voir plus de créneaux »
    DIALOG = "dialog"  # rdv: a Quasar dialog on top of the page
    # legacy, rdv: the calendar opens on the current week, not on the week of the first slot
    # (the legacy `ezjscore` call's offset 0; RDV's « Prochaine disponibilité le … » button)
    THIS_WEEK = "this_week"


PLATFORM_VARIANTS: dict[Platform, frozenset[Variant]] = {
    "legacy_booking": frozenset(
        {
            Variant.LATE,
            Variant.LEGEND,
            Variant.BUSY,
            Variant.ENGLISH,
            Variant.WORDING_2025,
            Variant.NO_CALENDAR,
            Variant.THIS_WEEK,
        }
    ),
    "rdv_prefecture": frozenset(
        {
            Variant.LATE,
            Variant.MOBILE,
            Variant.COLLAPSED,
            Variant.DIALOG,
            Variant.BUSY,
            Variant.THIS_WEEK,
        }
    ),
    "eappointment": frozenset({Variant.LATE, Variant.BUSY}),
    "anef": frozenset(),
}
LATE_MS = 1_500  # within the 0–3 s the issue asks for; probes must not read before it


def late(container: str, html: str, delay_ms: int = LATE_MS) -> str:
    """`html` put into a `<div id=container>` by script, `delay_ms` after `load`."""
    return (
        f'<div id="{container}"></div>\n<script>window.addEventListener("load", function () {{'
        f" setTimeout(function () {{ document.getElementById({json.dumps(container)})"
        f".innerHTML = {json.dumps(html, ensure_ascii=False)}; }}, {delay_ms}); }});</script>"
    )


def fetched(container: str, url: str, delay_ms: int = LATE_MS) -> str:
    """A `<div id=container>` filled by an XHR to `url`, `delay_ms` after `load`."""
    return (
        f'<div id="{container}"></div>\n<script>window.addEventListener("load", function () {{'
        f" setTimeout(function () {{ fetch({json.dumps(url)}, {{method: 'POST'}})"
        ".then(function (r) { return r.text(); }).then(function (h) {"
        f" document.getElementById({json.dumps(container)}).innerHTML = h; }}); }},"
        f" {delay_ms}); }});</script>"
    )


BUSY_LEGACY = """<h2>Actualités</h2>
<form id="newsletter" class="newsletter" action="/Lettre-d-information" method="post">
<label for="newsletterEmail">Recevoir la lettre d'information</label>
<input type="text" id="newsletterEmail" name="email">
<input type="submit" class="Bbutton" value="S'abonner"></form>"""

QUASAR_DIALOG = """<div id="q-portal--dialog--1"><div class="q-dialog fullscreen no-pointer-events">
<div class="q-dialog__backdrop fixed-full" aria-hidden="true"
 style="position:fixed;inset:0;background:rgba(0,0,0,.4);z-index:6000;pointer-events:all"></div>
<div class="q-dialog__inner flex flex-center" role="dialog"
 style="position:fixed;inset:0;z-index:6001;display:flex;align-items:center;
 justify-content:center;pointer-events:none">
<div class="q-card" style="background:#fff;padding:24px;pointer-events:all">
<button type="button" class="q-btn q-btn--outline text-primary"
 onclick="document.getElementById('q-portal--dialog--1').remove()">OK</button>
</div></div></div></div>"""
