"""Legacy prefecture booking module: `/booking/create/<id>/<step>` (docs/readings.md).

GET step 0 starts a journey and sets `eZSESSID`; every POST answers 302 to the next step
(Post/Redirect/Get). Step 2 is the no-slot page, step 3 or 4 (`success_step`) the available one.
Steps 4 (POST) and 6+ are booking steps: they exist, and the request log flags them.
"""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from watchdog.simulator import legacy_pages as pages
from watchdog.simulator import variants
from watchdog.simulator.availability import monday_of
from watchdog.simulator.chrome import cookie_banner, legacy_page
from watchdog.simulator.faults import apply_fault, html, rate_limited
from watchdog.simulator.log import BookingRoute
from watchdog.simulator.scenario import State, Target
from watchdog.simulator.state import Journey, SimState, new_session_id, note, sim_state
from watchdog.simulator.variants import Variant

SESSION_COOKIE = "eZSESSID"
PREFIXES = ("", "/index.php")
BOOKING_ROUTES = (
    BookingRoute(
        re.compile(r"/booking/create/\d+/(?:[5-9]|[1-9]\d+)/?$"), "legacy booking step (>= 5)"
    ),
    BookingRoute(
        re.compile(r"/booking/create/\d+/4/?$"), "legacy slot selection", frozenset({"POST"})
    ),
)


def entry_path(target: Target) -> str:
    return f"/booking/create/{target.id}/0"


def add_routes(app: web.Application) -> None:
    for prefix in PREFIXES:
        app.router.add_route("*", prefix + r"/booking/create/{id:\d+}{step:(/\d*)?}", booking)
        app.router.add_route(
            "*", prefix + r"/ezjscore/call/{call:bookingserver::planning::.*}", week
        )


def _week_url(base: str, journey: Journey) -> str:
    prefix = base[: base.index("/booking/create/")]
    planning = journey.planning or "0"
    call = f"bookingserver::planning::assign::{journey.target.id}::{planning}::0"
    return f"{prefix}/ezjscore/call/{call}"


async def week(request: web.Request) -> web.StreamResponse:
    """The `ezjscore` week fragment step 4 fetches after `load` (docs/readings.md)."""
    state = sim_state(request)
    parts = request.match_info["call"].split("::")
    target = state.scenario.find("legacy_booking", parts[3] if len(parts) > 3 else "")
    journey = state.journey(request.cookies.get(SESSION_COOKIE), target) if target else None
    if target is None or journey is None:
        raise web.HTTPNotFound()
    note(request, target, "4")
    slots = state.availability(journey).slots
    if not slots:
        raise web.HTTPNotFound()
    week_html = pages.calendar(slots, Variant.ENGLISH in target.variants, _monday(state, target))
    return web.Response(text=week_html, content_type="text/html")


def _monday(state: SimState, target: Target) -> date | None:
    """The week the calendar opens on: today's (`this_week`), else the first slot's."""
    return monday_of(state.now().date()) if Variant.THIS_WEEK in target.variants else None


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def _label(target: Target) -> str:
    return target.label or "Prise de rendez-vous"


def _site(target: Target) -> str:
    return target.site_name or "Les services de l'État"


async def booking(request: web.Request) -> web.StreamResponse:
    """Every step of every legacy booking."""
    state = sim_state(request)
    target = state.scenario.find("legacy_booking", request.match_info["id"])
    if target is None:
        raise web.HTTPNotFound()
    step = int(request.match_info["step"].strip("/") or "0")
    note(request, target, str(step))
    if (limited := rate_limited(request, state, target)) is not None:
        return limited
    base = request.path[: request.path.index("/booking/create/")] + f"/booking/create/{target.id}"
    sid = request.cookies.get(SESSION_COOKIE)
    journey = state.journey(sid, target)
    started = step == 0 and (request.method == "GET" or journey is None)
    if started:
        sid = sid or new_session_id()
        journey = state.start_journey(sid, target)
    elif journey is None:
        return redirect(f"{base}/0")
    fault = await apply_fault(request, state, journey, str(step), started=started)
    if fault is not None:
        return fault
    response = await _respond(request, state, journey, step, base)
    if started and SESSION_COOKIE not in request.cookies:
        response.set_cookie(SESSION_COOKIE, journey.sid, path="/", httponly=True)
        response.set_cookie("xtvrn", "$412384$", path="/", max_age=3600 * 24 * 30)
    return response


async def _respond(
    request: web.Request, state: SimState, journey: Journey, step: int, base: str
) -> web.Response:
    if journey.draw.state is State.CLOSED:
        return _page(request, journey, pages.notice(_label(journey.target), pages.CLOSED_TEXT))
    if journey.draw.state is State.RETIRED:
        body = pages.notice(_label(journey.target), pages.RETIRED_TEXT)
        status = journey.draw.rule.status_or(200) if journey.draw.rule else 200
        return _page(request, journey, body, status)
    if request.method == "POST":
        return await _post(request, state, journey, step, base)
    return _get(request, state, journey, step, base)


def _result_step(state: SimState, journey: Journey) -> int:
    if state.availability(journey).state is State.SLOTS:
        return journey.target.success_step
    return 2


def _get(
    request: web.Request, state: SimState, journey: Journey, step: int, base: str
) -> web.Response:
    target, label, action = journey.target, _label(journey.target), f"{base}/{step}"
    result = _result_step(state, journey)
    if step == 0:
        return _page(request, journey, pages.step0(label, action))
    if step == 1:
        if len(target.plannings) < 2:
            return redirect(f"{base}/{result}")
        return _page(request, journey, pages.step1(label, action, target.plannings))
    if step == 2:
        return (
            _page(request, journey, pages.step2(label, action, _wording(target)))
            if result == 2
            else redirect(f"{base}/{result}")
        )
    if step in (3, 4) and result == 2:
        return redirect(f"{base}/2")
    if step == 3:
        nature = target.plannings.get(journey.planning or "", label)
        return _page(request, journey, pages.step3(label, action, nature))
    if step == 4:
        slots = state.availability(journey).slots
        if Variant.LATE in target.variants:
            week_html = variants.fetched("calendrier", _week_url(base, journey))
        else:
            english = Variant.ENGLISH in target.variants
            week_html = pages.calendar(slots, english, _monday(state, target))
        legend = Variant.LEGEND in target.variants
        return _page(request, journey, pages.step4(label, action, week_html, legend_table=legend))
    return _page(request, journey, _booking_step(label, action, step, target.id))


def _booking_step(label: str, action: str, step: int, booking_id: str) -> str:
    if step <= 7:
        return pages.captcha_step(label, action, booking_id)
    if step == 8:
        return pages.personal_step(label, action)
    return pages.final_step(label, action)


async def _post(
    request: web.Request, state: SimState, journey: Journey, step: int, base: str
) -> web.Response:
    form = await request.post()
    target, label, action = journey.target, _label(journey.target), f"{base}/{step}"
    if step == 0:
        if form.get("condition") != "on":
            return _page(request, journey, pages.step0(label, action, pages.CONDITION_ERROR))
        if len(target.plannings) >= 2:
            return redirect(f"{base}/1")
        journey.planning = next(iter(target.plannings), None)
        return redirect(f"{base}/{_result_step(state, journey)}")
    if step == 1:
        planning = form.get("planning")
        if not isinstance(planning, str) or planning not in target.plannings:
            body = pages.step1(label, action, target.plannings, pages.PLANNING_ERROR)
            return _page(request, journey, body)
        journey.planning = planning
        return redirect(f"{base}/{_result_step(state, journey)}")
    next_step = {2: 0, 3: 4, 4: 6, 5: 6, 6: 8, 7: 8, 8: 9}.get(step, 0)
    return redirect(f"{base}/{next_step}")


def _wording(target: Target) -> str:
    for variant in (Variant.ENGLISH, Variant.WORDING_2025, Variant.NO_CALENDAR):
        if variant in target.variants:
            return variant.value
    return "classic"


def _page(request: web.Request, journey: Journey, content: str, status: int = 200) -> web.Response:
    target = journey.target
    if Variant.BUSY in target.variants:
        content = variants.BUSY_LEGACY + "\n" + content
    banner = cookie_banner(target.cookie_banner or "tarteaucitron", request)
    title = _label(target)
    return html(
        legacy_page(title=title, site_name=_site(target), content=content, banner=banner), status
    )
