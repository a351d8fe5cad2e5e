"""ANEF portal (docs/readings.md): an Angular shell, its status API, a Keycloak login wall.

ANEF books nothing; the watchdog only asks whether the portal works. A target with an empty
`id` is served at `/particuliers/`; a target with id X at `/anef/X/particuliers/`, so one
scenario can hold one ANEF target per state.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

from aiohttp import web

from watchdog.simulator.chrome import ANEF_TITLE, anef_maintenance, anef_shell, esc
from watchdog.simulator.faults import SIM_MARK, apply_fault, html, nginx_page, rate_limited
from watchdog.simulator.log import BookingRoute, request_mode
from watchdog.simulator.scenario import State, Target
from watchdog.simulator.state import Journey, SimState, new_session_id, note, sim_state

SESSION_COOKIE = "XSRF-TOKEN"
REALM = "/auth/realms/anef-usagers"
BOOKING_ROUTES = (
    BookingRoute(
        re.compile(r"/auth/realms/anef-usagers/login-actions/"),
        "ANEF login attempt",
        frozenset({"POST"}),
    ),
)


def prefix(target: Target) -> str:
    return f"/anef/{target.id}" if target.id else ""


def entry_path(target: Target) -> str:
    return f"{prefix(target)}/particuliers/#/"


def add_routes(app: web.Application) -> None:
    for mount in ("", "/anef/{anef_id:[a-z0-9-]+}"):
        router = app.router
        router.add_get(mount + "/particuliers", home)
        router.add_get(mount + "/particuliers/", home)
        router.add_get(mount + "/particuliers/index.html", home)
        router.add_get(mount + "/api/anf/status", status)
        router.add_get(mount + "/api/anf/dossier-stepper", dossier_stepper)
        router.add_get(mount + REALM + "/protocol/openid-connect/auth", login_page)
        router.add_post(mount + REALM + "/login-actions/authenticate", login_attempt)


def _target(request: web.Request) -> tuple[SimState, Target]:
    state = sim_state(request)
    target = state.scenario.find("anef", request.match_info.get("anef_id", ""))
    if target is None:
        raise web.HTTPNotFound()
    return state, target


def login_url(request: web.Request, target: Target) -> str:
    """The OpenID Connect authorize request the portal sends anonymous visitors to."""
    back = f"{request.scheme}://{request.host}{prefix(target)}/particuliers/#"
    return (
        f"{prefix(target)}{REALM}/protocol/openid-connect/auth?client_id=anef-usagers"
        f"&redirect_uri={quote(back, safe='')}&state={secrets.token_hex(16)}"
        f"&response_mode=fragment&response_type=code&scope=openid"
        f"&nonce={secrets.token_hex(16)}&theme=portail-anef"
    )


async def _journey(
    request: web.Request, state: SimState, target: Target, step: str, *, fresh: bool
) -> tuple[Journey, web.StreamResponse | None]:
    """The journey of this browser (a fresh draw on the home page), and the fault due now."""
    sid = request.cookies.get(SESSION_COOKIE)
    journey = None if fresh else state.journey(sid, target)
    started = journey is None
    if journey is None:
        journey = state.start_journey(sid or new_session_id(), target)
    return journey, await apply_fault(request, state, journey, step, started=started)


async def home(request: web.Request) -> web.StreamResponse:
    state, target = _target(request)
    note(request, target, "home")
    if (limited := rate_limited(request, state, target)) is not None:
        return limited
    journey, fault = await _journey(request, state, target, "home", fresh=True)
    if fault is not None:
        return fault
    response = _home_response(request, target, journey)
    if request.cookies.get(SESSION_COOKIE) != journey.sid:
        response.set_cookie(SESSION_COOKIE, journey.sid, path="/")
    return response


def _home_response(request: web.Request, target: Target, journey: Journey) -> web.Response:
    draw = journey.draw
    status = draw.rule.status if draw.rule else None
    if draw.state is State.MAINTENANCE:
        return html(anef_maintenance(), status or 503)
    if draw.state is State.ERROR and draw.variant != "spa":
        return nginx_page(500) if status in (None, 500) else html(_error_page(), status or 200)
    if draw.state is State.LOGIN_WALL:
        return web.Response(status=302, headers={"Location": login_url(request, target)})
    mount = prefix(target)
    shell = anef_shell(
        base_href=f"{mount}/particuliers/", api_base=mount, login_url=login_url(request, target)
    )
    return html(shell)


async def status(request: web.Request) -> web.StreamResponse:
    """What the shell asks before rendering: 200 when up, else the error the state implies."""
    state, target = _target(request)
    note(request, target, "api")
    if (limited := rate_limited(request, state, target)) is not None:
        return limited
    journey, fault = await _journey(request, state, target, "api", fresh=False)
    if fault is not None:
        return fault
    answers = {
        State.UP: (200, {"status": "UP"}),
        State.ERROR: (500, {"status": 500, "error": "Internal Server Error"}),
        State.MAINTENANCE: (503, {"status": 503, "error": "Service Unavailable"}),
        State.LOGIN_WALL: (401, {"status": 401, "error": "Unauthorized"}),
    }
    code, body = answers.get(journey.draw.state, (200, {"status": "UP"}))
    return web.json_response(body, status=code)


async def dossier_stepper(request: web.Request) -> web.Response:
    """Needs a logged-in session, which the watchdog never has; the operator token stands in."""
    state, target = _target(request)
    note(request, target, "api")
    if request_mode(request, state.scenario.operator_token) != "operator":
        return web.json_response({"status": 401, "error": "Unauthorized"}, status=401)
    return web.json_response({"dossiers": [], "etapes": []})


async def login_page(request: web.Request) -> web.Response:
    _, target = _target(request)
    action = f"{prefix(target)}{REALM}/login-actions/authenticate?client_id=anef-usagers"
    return html(_keycloak(action, error=None))


async def login_attempt(request: web.Request) -> web.Response:
    _, target = _target(request)
    action = f"{prefix(target)}{REALM}/login-actions/authenticate?client_id=anef-usagers"
    return html(_keycloak(action, error="Nom d'utilisateur ou mot de passe invalide."))


def _error_page() -> str:
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>ANEF - Erreur</title></head><body>
{SIM_MARK}
<h1>Erreur technique</h1>
<p>Une erreur technique est survenue. Veuillez réessayer ultérieurement.</p>
</body></html>
"""


def _keycloak(action: str, error: str | None) -> str:
    alert = ""
    if error:
        alert = f'<div class="alert-error"><span class="kc-feedback-text">{esc(error)}</span></div>'
    return f"""<!DOCTYPE html>
<html class="login-pf" lang="fr"><head><meta charset="utf-8">
<title>Se connecter à ANEF</title></head>
<body class="login-pf-page">
{SIM_MARK}
<div id="kc-header"><div id="kc-header-wrapper">{ANEF_TITLE}</div></div>
<div class="card-pf">
<header class="login-pf-header"><h1 id="kc-page-title">Se connecter</h1></header>
<div id="kc-content"><div id="kc-content-wrapper">
{alert}
<form id="kc-form-login" action="{action}" method="post">
<div class="form-group"><label for="username" class="control-label">Identifiant</label>
<input id="username" class="form-control" name="username" type="text" autocomplete="off"></div>
<div class="form-group"><label for="password" class="control-label">Mot de passe</label>
<input id="password" class="form-control" name="password" type="password"></div>
<div id="kc-form-buttons" class="form-group"><input class="btn btn-primary btn-block btn-lg"
 name="login" id="kc-login" type="submit" value="Se connecter"></div>
</form>
<div id="kc-social-providers"><a id="social-franceconnect" href="#">S'identifier avec
 FranceConnect</a></div>
<div id="kc-registration"><span>Nouvel utilisateur ? <a href="#">Créer mon compte</a></span></div>
</div></div></div>
</body></html>
"""
