"""The variant sweep: every probe over every documented presentation × outcome, both engines.

The simulator shows the same facts the ways the real sites showed them (consent overlays,
content delivered after `load`, legends reading « libre », several `h2`, other forms, the
English and 2025 wordings, mobile markup, collapsed rows, dialogs on top; see
watchdog/simulator/variants.py). Each row of `CASES` is one simulated target; each runs
through the real runner, real Chromium and, where the platform has one, the request engine
(`auto`: the request engine, handing over to the browser what only a renderer can read), on
each of the request engine's HTTP clients (`browser.request_client`: aiohttp, Playwright's).
Every row asserts outcome, detail, message, slots (on RDV-Préfecture each slot read, too), the
earliest slot and `published_next`
as instants with their Europe/Paris offset (and, where given, every alert in order), and that
the simulator saw no booking request. A new variant is one row. One row runs in a browser
whose cookies are off (Chromium's own setting, by DevTools): the runner, probe and simulator
stay the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from conftest import SIM_NOW
from harness import Sim, probe_and_store, simulating, target, write_config

from watchdog.domain.models import AudioCheck, Observation, SlotSeen
from watchdog.engine.runner import Runner
from watchdog.probe.session import ProbeSession
from watchdog.simulator.app import entry_path
from watchdog.simulator.availability import make_slots
from watchdog.simulator.rdv_pages import trh_id
from watchdog.simulator.scenario import Scenario

if TYPE_CHECKING:
    from playwright.async_api import Response

PARIS = ZoneInfo("Europe/Paris")
TODAY = SIM_NOW.astimezone(PARIS).date()
CET = timedelta(hours=1)  # Paris in November and December
TOKEN = "op-secret-token"
OPERATOR = {"captcha": "operator", "operator_headers": {"X-Operator-Token": TOKEN}}
EAPP = {"motives": ["20"]}
NO_SLOT_LEGACY = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
EAPP_MOTIFS = (
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné."
)
EAPP_SERVICE = "Il n'y a pas de rendez-vous disponible pour ce service."
EAPP_POSTCODE = "Veuillez saisir un code postal valide."
EAPP_COOKIES = (
    "Vous devez activer les cookies pour pouvoir utiliser l'application de prise de rendez-vous"
)
# From the postal-code page: a code outside the Val-de-Marne, which its script refuses.
EAPP_OUTSIDE = {"postal_code": "75001", "motives": ["20"]}
SLOTS = {"state": "slots", "slots": 3, "first_slot_in_days": 12}
SLOTS_WIDE = {"state": "slots", "slots": 20, "first_slot_in_days": 7}
# Content after `load` (1.5 s) and a probe that waits less for it: the calendar never came.
IMPATIENT_LEGACY = {"calendar_timeout_s": 0.5}
IMPATIENT_RDV = {**OPERATOR, "render_timeout_s": 0.5}
PUBLISH = {"publish": {"at": ["10:00"], "lifetime": "1m", "slots": 4}}


@dataclass(frozen=True)
class Case:
    key: str
    platform: str
    rule: dict[str, Any]
    outcome: str
    detail: str
    message: str | None = None
    slots: int | None = None
    earliest_in_days: int | None = None  # the earliest slot: that day at 09:00, Paris time
    earliest_at: time = time(9)  # 00:00 where the page gives the day only
    published_next: datetime | None = None
    variants: tuple[str, ...] = ()
    banner: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    engines: tuple[str, ...] = ("browser",)
    consent: str | None = None  # the consent answer the browser's trail must show
    extra: dict[str, Any] = field(default_factory=dict)  # more fields of the scenario target
    postal_page: bool = False  # eappointment: enter at the postal-code page, not `sitekey=`
    entry_tail: str = ""  # appended to the entry path (rdv: `cgu/`, past the landing page)
    cookies_off: bool = False  # a browser whose cookies are off (Chromium's own setting)
    dialogs: tuple[str, ...] | None = None  # every alert() of the journey, in order


BOTH = ("browser", "auto")
GUICHETS = {"plannings": {"14806": "Remise de titre - GUICHET 1", "14807": "GUICHET 2"}}

CASES = [
    # --- legacy booking module --------------------------------------------------------------
    Case("legacy-plain-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", NO_SLOT_LEGACY, engines=BOTH, consent="tarteaucitron:refused"),
    Case("legacy-plain-slots-step3", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, engines=BOTH),
    Case("legacy-plain-slots-step4", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, engines=BOTH, extra={"success_step": 4}),
    Case("legacy-center-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         banner="tarteaucitron_center", engines=BOTH, consent="tarteaucitron:refused",
         extra={"success_step": 4}),
    Case("legacy-center-guichets", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         banner="tarteaucitron_center", engines=BOTH, options={"planning": "14807"},
         consent="tarteaucitron:refused", extra=GUICHETS),
    Case("legacy-late-banner-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", NO_SLOT_LEGACY, banner="tarteaucitron_late", engines=BOTH),
    Case("legacy-paris-banner-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, banner="paris", engines=BOTH, consent="cookies-banner:accepted",
         extra={"success_step": 4}),
    Case("legacy-simple-banner-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, banner="simple", engines=BOTH, consent="cookies-banner:refused"),
    Case("legacy-accepter-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", NO_SLOT_LEGACY, banner="accepter", engines=BOTH,
         consent="accepter-link:accepted"),
    Case("legacy-xhr-calendar-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, variants=("late",), engines=BOTH, extra={"success_step": 4}),
    Case("legacy-xhr-calendar-center", "legacy_booking", SLOTS, "available", "step_4", None, 3,
         12, variants=("late",), banner="tarteaucitron_center", engines=BOTH,
         extra={"success_step": 4}),
    Case("legacy-xhr-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", NO_SLOT_LEGACY, variants=("late",), engines=BOTH),
    Case("legacy-legend-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         variants=("legend",), engines=BOTH),
    Case("legacy-legend-xhr-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         variants=("legend", "late"), engines=BOTH),
    Case("legacy-busy-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         variants=("busy",), engines=BOTH),
    Case("legacy-busy-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", NO_SLOT_LEGACY, variants=("busy",), engines=BOTH),
    Case("legacy-english-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "no_free_slot", "Please try later", variants=("english",), engines=BOTH),
    Case("legacy-english-slots", "legacy_booking", SLOTS, "available", "step_4", None, 3, 12,
         variants=("english",), engines=BOTH),
    Case("legacy-2025-no-slot", "legacy_booking", {"state": "no_slot"}, "no_slot",
         "retry_later", "Veuillez réessayer ultérieurement.", variants=("wording_2025",),
         engines=BOTH, extra={"id_prefix": "/index.php"}),
    Case("legacy-no-calendar", "legacy_booking", {"state": "no_slot"}, "no_slot", "no_calendar",
         "Il n'y a pas calendrier disponible", variants=("no_calendar",), engines=BOTH),
    # The calendar opens on this week, all « complet »; the first slot is 12 days away. The
    # module shows its calendar only when it has slots: not a no-slot page.
    Case("legacy-this-week-full", "legacy_booking", SLOTS, "available", "later_week",
         variants=("this_week",), engines=BOTH),
    Case("legacy-this-week-full-xhr", "legacy_booking", SLOTS, "available", "later_week",
         variants=("this_week", "late"), engines=BOTH),
    # The XHR calendar comes after the probe stopped waiting: no reading, never no_slot.
    Case("legacy-calendar-not-loaded", "legacy_booking", SLOTS, "unrecognized",
         "calendar_not_loaded", variants=("late",), options=IMPATIENT_LEGACY, engines=BOTH),
    # --- RDV-Préfecture (operator mode reaches creneau/; record mode stops at the captcha) ---
    Case("rdv-plain-captcha", "rdv_prefecture", SLOTS, "captcha", "captcha_wall",
         "Pour continuer, recopiez le code de sécurité affiché dans l'image."),
    Case("rdv-late-captcha", "rdv_prefecture", SLOTS, "captcha", "captcha_wall",
         "Pour continuer, recopiez le code de sécurité affiché dans l'image.", variants=("late",)),
    Case("rdv-plain-slots", "rdv_prefecture", SLOTS, "available", "slots", None, 3, 12,
         options=OPERATOR),
    Case("rdv-plain-no-slot-week", "rdv_prefecture", {"state": "no_slot"}, "no_slot",
         "no_slot_week", "Aucun créneau disponible sur cette semaine", 0, options=OPERATOR),
    Case("rdv-plain-no-slot-last-week", "rdv_prefecture",
         {"state": "no_slot", "variant": "last_week"}, "no_slot", "no_slot_last_week",
         "Aucun créneau disponible à partir de cette date.", 0, options=OPERATOR),
    Case("rdv-calendar-hidden", "rdv_prefecture", {"state": "no_slot", "variant": "hidden"},
         "no_slot", "no_calendar", "Veuillez réessayer ultérieurement.", 0, options=OPERATOR),
    Case("rdv-plain-publication", "rdv_prefecture", PUBLISH, "no_slot", "no_slot_last_week",
         "Aucun créneau disponible à partir de cette date.", 0,
         published_next=datetime.combine(TODAY, time(10, 0), PARIS), options=OPERATOR),
    Case("rdv-late-slots", "rdv_prefecture", SLOTS, "available", "slots", None, 3, 12,
         variants=("late",), options=OPERATOR),
    Case("rdv-late-no-slot", "rdv_prefecture", {"state": "no_slot", "variant": "last_week"},
         "no_slot", "no_slot_last_week", "Aucun créneau disponible à partir de cette date.", 0,
         variants=("late",), options=OPERATOR),
    Case("rdv-late-publication", "rdv_prefecture", PUBLISH, "no_slot", "no_slot_last_week",
         "Aucun créneau disponible à partir de cette date.", 0,
         published_next=datetime.combine(TODAY, time(10, 0), PARIS), variants=("late",),
         options=OPERATOR),
    Case("rdv-mobile-slots", "rdv_prefecture", SLOTS, "available", "slots", None, 3, 12,
         variants=("mobile",), options=OPERATOR),
    Case("rdv-mobile-late-slots", "rdv_prefecture", SLOTS_WIDE, "available", "slots", None, 20,
         7, variants=("mobile", "late"), options=OPERATOR),
    Case("rdv-collapsed-slots", "rdv_prefecture", SLOTS_WIDE, "available", "slots", None, 20,
         7, variants=("collapsed",), options=OPERATOR),
    Case("rdv-dialog-slots", "rdv_prefecture", SLOTS, "available", "slots", None, 3, 12,
         variants=("dialog",), options=OPERATOR),
    Case("rdv-busy-no-slot", "rdv_prefecture", {"state": "no_slot"}, "no_slot", "no_slot_week",
         "Aucun créneau disponible sur cette semaine", 0, variants=("busy",), options=OPERATOR),
    # This week is empty, « Prochaine disponibilité le <date> » leads to the first slot.
    Case("rdv-this-week-later", "rdv_prefecture", SLOTS, "available", "later_week", None, None,
         12, earliest_at=time(0), variants=("this_week",), options=OPERATOR),
    Case("rdv-no-slot-day", "rdv_prefecture", {"state": "no_slot", "variant": "day"}, "no_slot",
         "no_slot_day", "Aucun créneau disponible", 0, options=OPERATOR),
    # The chooser is rendered after the probe stopped waiting: `critere` alone is no reading.
    Case("rdv-slots-not-rendered", "rdv_prefecture", {"state": "no_slot"}, "unrecognized",
         "slots_not_rendered", variants=("late",), options=IMPATIENT_RDV, entry_tail="cgu/"),
    # --- eAppointment (from appointment.do?sitekey=…) ---------------------------------------
    Case("eapp-plain-no-slot", "eappointment", {"state": "no_slot"}, "no_slot", "js_alert",
         EAPP_MOTIFS, options=EAPP, engines=BOTH),
    Case("eapp-plain-no-slot-service", "eappointment",
         {"state": "no_slot", "variant": "service"}, "no_slot", "js_alert", EAPP_SERVICE,
         options=EAPP, engines=BOTH),
    Case("eapp-plain-slots", "eappointment", SLOTS, "available", "calendar", None, 3, 12,
         options=EAPP, engines=BOTH),
    Case("eapp-late-alert", "eappointment", {"state": "no_slot"}, "no_slot", "js_alert",
         EAPP_MOTIFS, variants=("late",), options=EAPP, engines=BOTH),
    Case("eapp-busy-slots", "eappointment", SLOTS, "available", "calendar", None, 3, 12,
         variants=("busy",), options=EAPP, engines=BOTH),
    Case("eapp-error-title", "eappointment", {"state": "error", "status": 200}, "site_error",
         "error_page", "Erreur", options=EAPP, engines=BOTH),
    Case("eapp-error-title-500", "eappointment", {"state": "error"}, "site_error", "error_page",
         "Erreur", options=EAPP, engines=BOTH),
    # The postal-code page refuses the code with an alert() and stays where it is: our
    # input was refused (probe_error), read as soon as the alert comes, not at the deadline.
    Case("eapp-postal-code-rejected", "eappointment", {"state": "no_slot"}, "probe_error",
         "postal_code_rejected", EAPP_POSTCODE, options=EAPP_OUTSIDE, engines=BOTH,
         postal_page=True, dialogs=(EAPP_POSTCODE,)),
    # A browser without cookies: the routing page says so, and so does every page after it
    # while it loads (the routing click still waits for its navigation), before the
    # calendar's own no-slot alert. Our browser's fault, never « no slot ».
    Case("eapp-cookies-disabled", "eappointment", {"state": "no_slot"}, "probe_error",
         "cookies_disabled", EAPP_COOKIES, options={"postal_code": "94000", "motives": ["20"]},
         engines=BOTH, postal_page=True, cookies_off=True, extra={"id": "P941"},
         dialogs=(EAPP_COOKIES,) * 3 + (EAPP_MOTIFS,)),
    # --- ANEF (a portal, not a booker: `available` never carries slots) --------------------
    Case("anef-up", "anef", {"state": "up"}, "available", "portal_up", engines=BOTH),
    Case("anef-maintenance", "anef", {"state": "maintenance"}, "maintenance",
         "maintenance_page", "Site en maintenance", engines=BOTH),
    Case("anef-maintenance-200", "anef", {"state": "maintenance", "status": 200}, "maintenance",
         "maintenance_page", "Site en maintenance", engines=BOTH),
    Case("anef-login-wall", "anef", {"state": "login_wall"}, "available", "login_wall",
         engines=BOTH),
    Case("anef-error-spa", "anef", {"state": "error", "variant": "spa"}, "site_error",
         "error_text", "Une erreur est survenue", engines=BOTH),
]  # fmt: skip


def _scenario_target(index: int, case: Case) -> dict[str, Any]:
    extra = {k: v for k, v in case.extra.items() if k != "id_prefix"}
    ident = f"SWEEP{index}" if case.platform == "eappointment" else str(90000 + index)
    body: dict[str, Any] = {"key": case.key, "platform": case.platform, "id": ident}
    body |= {"behaviour": [case.rule], "variants": list(case.variants), **extra}
    if case.banner is not None:
        body["cookie_banner"] = case.banner
    return body


@pytest.fixture(scope="module")
def sweep_sim() -> Iterator[Sim]:
    scenario = Scenario.model_validate(
        {
            "simulated": True,
            "seed": 11,
            "operator_token": TOKEN,
            "targets": [_scenario_target(i, c) for i, c in enumerate(CASES)],
        }
    )
    with simulating(scenario, SIM_NOW) as running:
        yield running


def _entry(sim: Sim, case: Case) -> str:
    found = sim.state.scenario.by_key(case.key)
    if case.postal_page:
        return f"{sim.base}/eAppointmentpref94/element/jsp/specific/pref94.jsp"
    if case.platform == "eappointment":
        return f"{sim.base}/eAppointmentpref94/appointment.do?sitekey={found.id}"
    prefix = str(case.extra.get("id_prefix", ""))
    return sim.base + prefix + entry_path(found) + case.entry_tail


def _assert_reading(obs: Observation, case: Case) -> None:
    assert (obs.outcome.value, obs.detail) == (case.outcome, case.detail), (
        obs.message,
        obs.steps,
    )
    assert obs.message == case.message
    assert obs.slots == case.slots
    if case.earliest_in_days is None:
        assert obs.earliest_slot is None
    else:
        day = TODAY + timedelta(days=case.earliest_in_days)
        expected = datetime.combine(day, case.earliest_at, PARIS)
        assert obs.earliest_slot == expected
        assert obs.earliest_slot.utcoffset() == CET  # the site's Paris wall time, as stored
    assert obs.published_next == case.published_next
    if obs.published_next is not None:
        assert obs.published_next.utcoffset() == CET
    if case.platform == "rdv_prefecture":
        assert obs.slots_seen == _rdv_slots_seen(case)
    if (case.platform, case.detail) == ("rdv_prefecture", "captcha_wall"):
        # What the captcha offers (RGAA 1.5) is read once its markup is there, late or not.
        seen = obs.captcha
        assert seen is not None, obs.steps
        assert (seen.rendered, seen.image, seen.audio, seen.audio_check) == (
            True, True, True, AudioCheck.AUDIO,
        )  # fmt: skip


def _rdv_slots_seen(case: Case) -> list[SlotSeen] | None:
    """Each slot RDV-Préfecture offered, read one by one (issue 19): its `trhId`, its column's
    day (not on the mobile panels, whose day headers are not documented markup), its time.
    A no-slot page reads an empty list; a page that shows no week's slots reads none."""
    if case.outcome == "no_slot":
        return []
    if case.detail != "slots":
        return None
    days = int(case.rule["first_slot_in_days"])
    mobile = "mobile" in case.variants
    return [
        SlotSeen(key=trh_id(s), day=None if mobile else s.date().isoformat(), time=f"{s:%H:%M}")
        for s in make_slots(TODAY, int(case.rule["slots"]), days)
    ]


@dataclass
class CookielessSession(ProbeSession):
    """The probe's page in a browser whose cookies are off: Chromium's own setting, through
    DevTools (`navigator.cookieEnabled` false, no `document.cookie`), before the first page."""

    cookies_turned_off: bool = False

    async def goto(self, url: str, step: str) -> Response | None:
        if not self.cookies_turned_off:
            devtools = await self.page.context.new_cdp_session(self.page)
            await devtools.send("Emulation.setDocumentCookieDisabled", {"disabled": True})
            self.cookies_turned_off = True
        return await super().goto(url, step)


class CookielessRunner(Runner):
    session_class = CookielessSession


CLIENTS = ("aiohttp", "playwright")  # browser.request_client, for the request engine's rows
RUNS = [
    (case, run)
    for case in CASES
    for engine in case.engines
    for run in ([engine] if engine == "browser" else [f"{engine}/{c}" for c in CLIENTS])
]


@pytest.mark.parametrize(("case", "engine"), RUNS, ids=[f"{c.key}-{e}" for c, e in RUNS])
def test_variant_sweep(sweep_sim: Sim, tmp_path: Path, case: Case, engine: str) -> None:
    before = len(sweep_sim.requests())
    engine, _, client = engine.partition("/")
    fields = {"engine": engine}
    # A deadline well under the default: a probe that waits on nothing (an expander pressed
    # over and over, a wait for content already there) ends as a timeout and fails its row.
    config = write_config(
        tmp_path,
        [{**target("t", case.platform, _entry(sweep_sim, case), case.options), **fields}],
        browser={"probe_timeout": "25s", **({"request_client": client} if client else {})},
    )
    obs = probe_and_store(sweep_sim, config, "t", CookielessRunner if case.cookies_off else Runner)
    _assert_reading(obs, case)
    if case.dialogs is not None:
        assert tuple(obs.dialogs) == case.dialogs
    seen = sweep_sim.requests()[before:]
    assert seen and not [r for r in seen if r["flagged"]]
    if case.consent is not None and obs.env.engine.value == "browser":
        assert f"consent:{case.consent}" in [s.name for s in obs.steps], obs.steps


def test_the_sweep_covers_every_variant_and_banner() -> None:
    """Adding a variant or a banner kind to the simulator without a sweep row fails here."""
    from typing import get_args

    from watchdog.simulator.scenario import Target
    from watchdog.simulator.variants import PLATFORM_VARIANTS

    for platform, variants in PLATFORM_VARIANTS.items():
        swept = {v for c in CASES if c.platform == platform for v in c.variants}
        assert variants <= swept, (platform, variants - swept)
    banner_type = Target.model_fields["cookie_banner"].annotation
    kinds = {a for arg in get_args(banner_type) for a in get_args(arg)}
    swept_banners = {c.banner for c in CASES} | {"tarteaucitron", "none"}
    assert kinds <= swept_banners, kinds - swept_banners


def test_every_reading_the_sweep_checks_is_documented() -> None:
    """docs/readings.md names the marker behind every detail the probes produce here."""
    readings = (Path(__file__).resolve().parent.parent / "docs" / "readings.md").read_text()
    missing = sorted({c.detail for c in CASES if f"`{c.detail}`" not in readings})
    assert not missing, f"details without their marker in docs/readings.md: {missing}"
