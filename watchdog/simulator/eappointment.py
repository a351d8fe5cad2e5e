"""eAppointment (Java/JSP), Val-de-Marne: postal code → motive → calendar (docs/readings.md).

The first GET of `appointment.do?sitekey=…` creates the session and answers 302 to the same URL
with `;jsessionid=<id>` as a path parameter; every route accepts that parameter or the cookie.
"No slot" is a JavaScript `alert()` fired on load. Picking an hour and "4/4" are flagged.
"""

from __future__ import annotations

import re

from aiohttp import web

from watchdog.simulator import eappointment_pages as pages
from watchdog.simulator.chrome import eapp_page
from watchdog.simulator.faults import apply_fault, html, rate_limited
from watchdog.simulator.log import BookingRoute
from watchdog.simulator.media import captcha_png
from watchdog.simulator.scenario import State, Target
from watchdog.simulator.state import Journey, SimState, new_session_id, note, sim_state
from watchdog.simulator.variants import LATE_MS, Variant

CONTEXT = "/eAppointmentpref94"
SESSION_COOKIE = "JSESSIONID"
ENTRY = "element/jsp/specific/pref94.jsp"
CALENDAR = "element/jsp/appointment.jsp"
USER_INFO = "element/jsp/userInfo.jsp"
CONFIRMATION = "element/jsp/confirmation.jsp"
_JSESSIONID = re.compile(r";jsessionid=([^/?;]*)")
BOOKING_ROUTES = (
    BookingRoute(re.compile(r"/eAppointmentpref94/hour\.do"), "eappointment slot selection"),
    BookingRoute(re.compile(r"/eAppointmentpref94/element/jsp/userInfo\.jsp"), "eappointment 4/4"),
    BookingRoute(re.compile(r"/eAppointmentpref94/save\.do"), "eappointment reservation"),
    BookingRoute(
        re.compile(r"/eAppointmentpref94/element/jsp/confirmation\.jsp"), "eappointment done"
    ),
)


def entry_path(target: Target) -> str:
    return f"{CONTEXT}/{ENTRY}"


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", CONTEXT + "/{tail:.*}", dispatch)


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def url(name: str, sid: str, query: str = "") -> str:
    return f"{CONTEXT}/{name};jsessionid={sid}" + (f"?{query}" if query else "")


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Route on the path without its `;jsessionid=` parameter, as a servlet container does."""
    name = _JSESSIONID.sub("", request.match_info["tail"])
    if name == ENTRY:
        content, script = pages.entry()
        return html(eapp_page(title="Choix du lieu", content=content, scripts=script))
    if name == "captcha.png":
        return web.Response(body=captcha_png("eapp", 120, 40), content_type="image/png")
    if name == "appointment.do" and request.method == "GET":
        return await appointment(request)
    session = _Session.find(request)
    if session is None:
        return redirect(f"{CONTEXT}/{ENTRY}")
    handlers = {
        ("motive.do", "POST"): session.choose_motives,
        (CALENDAR, "GET"): session.calendar,
        ("hour.do", "POST"): session.booking_redirect,
        (USER_INFO, "GET"): session.booking_page,
        ("save.do", "POST"): session.booking_redirect,
        (CONFIRMATION, "GET"): session.booking_page,
    }
    handler = handlers.get((name, request.method))
    if handler is None:
        raise web.HTTPNotFound()
    return await handler()


BUSY_EAPP = """<h2>Actualités</h2>
<form class="newsletter" action="/newsletter" method="post"><label for="nl">Lettre
d'information</label><input type="text" id="nl" name="email">
<input type="submit" class="btn btn-primary" value="S'abonner"></form>
"""


def _error(status: int = 200) -> web.Response:
    # The product's error pages say « Erreur » in their title (docs/readings.md).
    return html(eapp_page(title="eAppointment - Erreur", content=pages.error_page()), status)


async def appointment(request: web.Request) -> web.StreamResponse:
    """`appointment.do?sitekey=…`: start a journey, or show the motives of the current one."""
    state = sim_state(request)
    target = state.scenario.find("eappointment", request.query.get("sitekey", ""))
    if target is None:
        return _error()
    note(request, target, "start")
    if (limited := rate_limited(request, state, target)) is not None:
        return limited
    match = _JSESSIONID.search(request.path)
    journey = state.journey(match.group(1), target) if match else None
    if journey is None:
        journey = state.start_journey(new_session_id(), target)
        fault = await apply_fault(request, state, journey, "start", started=True)
        if fault is not None:
            return fault
        response = redirect(url("appointment.do", journey.sid, request.query_string))
        response.set_cookie(SESSION_COOKIE, journey.sid, path=CONTEXT, httponly=True)
        return response
    return await _Session(request, state, journey).motive_page()


class _Session:
    """A request inside an existing eAppointment session."""

    def __init__(self, request: web.Request, state: SimState, journey: Journey) -> None:
        self.request, self.state, self.journey = request, state, journey
        self.target = journey.target
        self.site = pages.site_name(self.target.id, self.target.site_name)

    @classmethod
    def find(cls, request: web.Request) -> _Session | None:
        state = sim_state(request)
        match = _JSESSIONID.search(request.path)
        sid = match.group(1) if match else request.cookies.get(SESSION_COOKIE)
        for target in state.scenario.targets:
            journey = state.journey(sid, target) if target.platform == "eappointment" else None
            if journey is not None:
                return cls(request, state, journey)
        return None

    async def gate(self, step: str) -> web.StreamResponse | None:
        note(self.request, self.target, step)
        limited = rate_limited(self.request, self.state, self.target)
        if limited is not None:
            return limited
        return await apply_fault(self.request, self.state, self.journey, step, started=False)

    def page(self, title: str, content: str, scripts: str = "") -> web.Response:
        if Variant.BUSY in self.target.variants:
            content = BUSY_EAPP + content
        return html(eapp_page(title=title, content=content, scripts=scripts))

    async def motive_page(self, error: str | None = None) -> web.StreamResponse:
        if (answer := await self.gate("motive")) is not None:
            return answer
        action = url("motive.do", self.journey.sid)
        return self.page("Choix du motif", pages.motive(self.site, action, error))

    async def choose_motives(self) -> web.StreamResponse:
        form = await self.request.post()
        chosen = tuple(v for v in form.getall("selectedMotiveKeyList", []) if isinstance(v, str))
        if not chosen or not set(chosen) <= set(pages.MOTIVES):
            return await self.motive_page(pages.MOTIVE_ERROR)
        self.journey.motives = chosen
        return redirect(url(CALENDAR, self.journey.sid))

    async def calendar(self) -> web.StreamResponse:
        if (answer := await self.gate("calendar")) is not None:
            return answer
        if not self.journey.motives:
            return redirect(url("appointment.do", self.journey.sid, f"sitekey={self.target.id}"))
        draw = self.journey.draw
        if draw.state is State.ERROR:
            return _error(draw.rule.status_or(500) if draw.rule else 500)
        avail = self.state.availability(self.journey)
        alert = None if avail.slots else pages.NO_SLOT_ALERTS[draw.variant or "motifs"]
        view = pages.CalendarView(
            site=self.site,
            action=url("hour.do", self.journey.sid),
            motives=self.journey.motives,
            slots=avail.slots,
            today=self.state.now().date(),
            alert=alert,
            alert_delay_ms=LATE_MS if Variant.LATE in self.target.variants else 0,
        )
        content, scripts = pages.calendar_page(view)
        return self.page("Lieu, date et heure", content, scripts)

    async def booking_redirect(self) -> web.StreamResponse:
        name = USER_INFO if "hour.do" in self.request.path else CONFIRMATION
        return redirect(url(name, self.journey.sid))

    async def booking_page(self) -> web.StreamResponse:
        if USER_INFO in self.request.path:
            return self.page(
                "Informations personnelles", pages.user_info(url("save.do", self.journey.sid))
            )
        return self.page("Confirmation", pages.confirmation())
