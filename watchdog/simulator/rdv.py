"""RDV-Préfecture: landing → `cgu/` (CaptchEtat) → `creneau/` (docs/readings.md).

`creneau/` needs a session whose captcha was solved less than `session_lifetime` ago, else it
answers 302 to `cgu/?error=errorSessionInvalide`. The sanctioned operator token (header
`X-Operator-Token` or cookie `operator_token`) skips the captcha. Choosing a slot and the steps
after it exist and are flagged in the request log.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from aiohttp import web

from watchdog.simulator import rdv_pages as pages
from watchdog.simulator.chrome import cookie_banner, rdv_page
from watchdog.simulator.faults import apply_fault, html, rate_limited
from watchdog.simulator.log import BookingRoute, request_mode
from watchdog.simulator.media import captcha_png, silent_wav
from watchdog.simulator.scenario import State, Target
from watchdog.simulator.state import Journey, SimState, new_session_id, note, sim_state
from watchdog.simulator.variants import Variant, late

SESSION_COOKIE = "JSESSIONID"
SESSION_PATH = "/rdvpref"
INCAP_COOKIES = ("incap_ses_1553_2467491", "visid_incap_2467491")
BASE = "/rdvpref/reservation/demarche/{id:\\d+}"
_DEMARCHE = r"/rdvpref/reservation/demarche/\d+"
BOOKING_ROUTES = (
    BookingRoute(re.compile(_DEMARCHE + r"/_choisirCreneau$"), "rdv slot selection"),
    BookingRoute(re.compile(_DEMARCHE + r"/informations/?$"), "rdv personal data step"),
    BookingRoute(re.compile(_DEMARCHE + r"/_confirmerReservation$"), "rdv reservation"),
    BookingRoute(re.compile(_DEMARCHE + r"/confirmation/?$"), "rdv reservation confirmed"),
)


def entry_path(target: Target) -> str:
    return f"/rdvpref/reservation/demarche/{target.id}/"


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(BASE, _add_slash)
    router.add_get(BASE + "/", landing)
    router.add_get(BASE + "/cgu", _add_slash)
    router.add_get(BASE + "/cgu/", cgu)
    router.add_post(BASE + "/_validerCaptcha", validate_captcha)
    router.add_get(BASE + "/creneau", _add_slash)
    router.add_get(BASE + "/creneau/", creneau)
    router.add_route("*", BASE + "/_choisirCreneau", booking_step)
    router.add_route("*", BASE + "/informations/", booking_step)
    router.add_route("*", BASE + "/_confirmerReservation", booking_step)
    router.add_route("*", BASE + "/confirmation/", booking_step)
    router.add_get("/rdvpref/login/", login)
    router.add_get(pages.PISTE_PATH, piste)


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


async def _add_slash(request: web.Request) -> web.Response:
    return redirect(
        request.path + "/" + (f"?{request.query_string}" if request.query_string else "")
    )


class _Visit:
    """The target, session and journey of one request."""

    def __init__(self, request: web.Request, step: str) -> None:
        self.request, self.step = request, step
        self.state: SimState = sim_state(request)
        target = self.state.scenario.find("rdv_prefecture", request.match_info["id"])
        if target is None:
            raise web.HTTPNotFound()
        self.target: Target = target
        self.base = f"/rdvpref/reservation/demarche/{target.id}"
        self.sid = request.cookies.get(SESSION_COOKIE)
        self.journey = self.state.journey(self.sid, target)
        self.started = False
        self.operator = request_mode(request, self.state.scenario.operator_token) == "operator"
        note(request, target, step)

    def start(self) -> Journey:
        self.sid = self.sid or "VM-01-48-02-003~" + new_session_id(24)
        self.journey = self.state.start_journey(self.sid, self.target)
        self.started = True
        return self.journey

    async def gate(self) -> web.StreamResponse | None:
        """Rate limit, then the journey's fault if due at this step."""
        limited = rate_limited(self.request, self.state, self.target)
        if limited is not None or self.journey is None:
            return limited
        return await apply_fault(
            self.request, self.state, self.journey, self.step, started=self.started
        )

    def page(self, title: str, content: str, scripts: str = "") -> web.Response:
        banner = cookie_banner(self.target.cookie_banner or "none", self.request)
        response = html(rdv_page(title=title, content=content, banner=banner, scripts=scripts))
        return self.cookies(response)

    def cookies(self, response: web.Response) -> web.Response:
        if self.sid and self.request.cookies.get(SESSION_COOKIE) != self.sid:
            response.set_cookie(SESSION_COOKIE, self.sid, path=SESSION_PATH, httponly=True)
        for name in INCAP_COOKIES:
            if name not in self.request.cookies:
                response.set_cookie(name, secrets.token_urlsafe(24), path="/", httponly=True)
        return response

    def session_invalid(self) -> web.Response:
        return self.cookies(redirect(f"{self.base}/cgu/?error=errorSessionInvalide"))

    @property
    def label(self) -> str:
        return self.target.label or "Demande de titre de séjour"


async def landing(request: web.Request) -> web.StreamResponse:
    visit = _Visit(request, "landing")
    visit.start()
    if (answer := await visit.gate()) is not None:
        return answer
    site = visit.target.site_name or "Préfecture"
    content = pages.landing(visit.label, site, visit.base)
    if Variant.LATE in visit.target.variants:  # the front end renders the page after `load`
        content = late("rdv-demarche", content)
    return visit.page(visit.label, content)


async def cgu(request: web.Request) -> web.StreamResponse:
    visit = _Visit(request, "cgu")
    if visit.journey is None:
        visit.start()
    if (answer := await visit.gate()) is not None:
        return answer
    error = request.query.get("error")
    if visit.operator and error is None:
        return visit.cookies(redirect(f"{visit.base}/creneau/"))
    view = pages.CaptchaView(
        label=visit.label,
        base=visit.base,
        endpoint=f"{request.scheme}://{request.host}{pages.PISTE_PATH}",
        token=secrets.token_hex(16),
        captcha_id=secrets.token_hex(16),
        error=error,
    )
    content = pages.captcha(view)
    if Variant.LATE in visit.target.variants:  # the front end renders the gate after `load`
        content = late("rdv-cgu", content)
    return visit.page("Constituez votre dossier", content, pages.STRIP_ERROR_JS)


async def validate_captcha(request: web.Request) -> web.StreamResponse:
    visit = _Visit(request, "captcha")
    if (answer := await visit.gate()) is not None:
        return answer
    if visit.journey is None:
        return visit.session_invalid()
    form = await request.post()
    given = form.get("captchaUsercode")
    expected = visit.state.scenario.captcha_answer
    if isinstance(given, str) and given.strip().upper() == expected.upper():
        visit.journey.captcha_ok_at = visit.state.now()
        return visit.cookies(redirect(f"{visit.base}/creneau/"))
    return visit.cookies(redirect(f"{visit.base}/cgu/?error=invalidCaptcha"))


async def creneau(request: web.Request) -> web.StreamResponse:
    visit = _Visit(request, "creneau")
    if visit.journey is None and visit.operator:
        visit.start()
    if (answer := await visit.gate()) is not None:
        return answer
    journey = visit.journey
    if journey is None or not _session_valid(visit, journey):
        return visit.session_invalid()
    state, now = visit.state, visit.state.now()
    rule = journey.draw.rule
    view = pages.SlotView(
        label=visit.label,
        base=visit.base,
        today=now.date(),
        now=now,
        availability=state.availability(journey),
        variant=journey.draw.variant or ("last_week" if rule and rule.publish else "week"),
        agenda_id=int(visit.target.id) * 10 + 1,
        presentation=frozenset(visit.target.variants),
    )
    return visit.page("Choisissez votre créneau", pages.slots(view))


def _session_valid(visit: _Visit, journey: Journey) -> bool:
    if journey.draw.state is State.SESSION_EXPIRED:
        return False
    if visit.operator:
        return True
    if journey.captcha_ok_at is None:
        return False
    lifetime = timedelta(seconds=visit.target.session_lifetime)
    return visit.state.now() - journey.captcha_ok_at <= lifetime


async def booking_step(request: web.Request) -> web.StreamResponse:
    """Slot choice and everything after it: served so a bad probe is caught, always flagged."""
    visit = _Visit(request, "booking")
    if visit.journey is None:
        return visit.session_invalid()
    path = request.path
    if path.endswith("/_choisirCreneau"):
        return redirect(f"{visit.base}/informations/")
    if path.endswith("/_confirmerReservation"):
        return redirect(f"{visit.base}/confirmation/")
    if path.endswith("/informations/"):
        return visit.page("Vos informations", pages.informations(visit.base))
    return visit.page("Demande enregistrée", pages.confirmation())


async def login(request: web.Request) -> web.Response:
    banner = cookie_banner("simple", request)
    return html(rdv_page(title="Gérer mes rendez-vous", content=pages.login(), banner=banner))


async def piste(request: web.Request) -> web.Response:
    """The fake CaptchEtat endpoint (api.piste.gouv.fr in real life)."""
    kind = request.query.get("get")
    captcha_id = request.query.get("t") or secrets.token_hex(16)
    if kind == "html":
        return web.Response(text=pages.botdetect(captcha_id), content_type="text/html")
    if kind == "image":
        return web.Response(body=captcha_png(captcha_id), content_type="image/png")
    if kind == "sound":
        return web.Response(body=silent_wav(), content_type="audio/wav")
    if kind == "validation-result":
        expected = sim_state(request).scenario.captcha_answer.upper()
        ok = request.query.get("i", "").strip().upper() == expected
        return web.json_response(ok)
    if kind in ("script-include", "p"):
        return web.Response(text="/* BotDetect CAPTCHA */", content_type="text/javascript")
    raise web.HTTPBadRequest(text="unknown captcha request")
