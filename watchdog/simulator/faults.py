"""Fault injection shared by every simulated platform.

A fault replaces one response of a journey: the first one when the rule has no `at_step`,
otherwise every request to that step. Pages copy the reverse-proxy pages bots met in the wild.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from watchdog.domain.models import Platform
from watchdog.simulator.scenario import Fault, Rule, Target
from watchdog.simulator.state import LOG_ENTRY, Journey, SimState

SIM_MARK = "<!-- simulated by prefecture-watchdog -->"
REASONS = {
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
NGINX_STATUS = {Fault.HTTP_502: 502, Fault.HTTP_503: 503, Fault.HTTP_504: 504}
_POLL_S = 0.05


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def nginx_page(status: int) -> web.Response:
    """The stock nginx error page, padding comments included (they defeat browser error pages)."""
    title = f"{status} {REASONS[status]}"
    padding = "<!-- a padding to disable MSIE and Chrome friendly error page -->\n" * 6
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        f"</body>\r\n</html>\r\n{padding}{SIM_MARK}\n"
    )
    return html(body, status)


def overloaded_page(status: int) -> web.Response:
    body = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Service surchargé</title>
<style>body{{font-family:Arial,sans-serif;margin:4em auto;max-width:40em;color:#333}}</style>
</head><body>{SIM_MARK}
<h1>Service surchargé</h1>
<p>Le service est momentanément surchargé en raison d'un nombre important de connexions.</p>
<p>Merci de bien vouloir réessayer dans quelques instants.</p>
</body></html>
"""
    return html(body, status)


def redesign_page(platform: Platform) -> web.Response:
    """A modern layout with none of the known ids, classes or messages: a probe must not guess."""
    app = {
        "legacy_booking": "demarches",
        "rdv_prefecture": "agenda",
        "eappointment": "accueil",
        "anef": "usagers",
    }.get(platform, "portail")
    body = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Portail {app}</title>
<style>
body{{margin:0;font-family:system-ui,sans-serif;background:#f4f6fb}}
.Shell_top__x81{{background:#1b1b35;color:#fff;padding:1rem 2rem}}
.Grid_grid__k2{{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem;padding:2rem}}
.Tile_tile__p0{{background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 4px #0002}}
</style></head><body>{SIM_MARK}
<div id="root"><div class="App_app__3xK9q" data-reactroot="">
<header class="Shell_top__x81"><span class="Brand_name__7f">Portail {app}</span>
<nav class="Shell_nav__q1"><a href="#aide">Aide</a> <a href="#compte">Mon espace</a></nav></header>
<main class="Page_main__k2">
<h1 class="Title_h1__a8">Nouveau portail de rendez-vous</h1>
<p class="Lead_lead__v3">Notre service évolue. Choisissez un parcours pour commencer.</p>
<div class="Grid_grid__k2">
<section class="Tile_tile__p0"><h2>Titres et documents</h2><p>Parcours guidé.</p>
<button class="Button_primary__q9" type="button">Commencer</button></section>
<section class="Tile_tile__p0"><h2>Suivi</h2><p>Retrouvez vos demandes.</p>
<button class="Button_ghost__m2" type="button">Ouvrir</button></section>
<section class="Tile_tile__p0"><h2>Informations</h2><p>Questions fréquentes.</p>
<button class="Button_ghost__m2" type="button">Lire</button></section>
</div></main></div></div>
</body></html>
"""
    return html(body)


def due(rule: Rule, step: str, started: bool) -> bool:
    """A fault without `at_step` hits the journey's first request; otherwise its step."""
    return step == rule.at_step if rule.at_step is not None else started


async def apply_fault(
    request: web.Request, state: SimState, journey: Journey, step: str, *, started: bool
) -> web.StreamResponse | None:
    """The fault response for this request, or None to serve the page (after a delay if slow)."""
    rule, fault = journey.draw.rule, journey.draw.fault
    if rule is None or fault is None or not due(rule, step, started):
        return None
    entry = request.get(LOG_ENTRY)
    if entry is not None:
        entry.notes.append(f"fault {fault.value}")
    if fault is Fault.SLOW:
        await asyncio.sleep(rule.delay)
        return None
    if fault is Fault.HANG:
        return await hang(request, state)
    if fault is Fault.RESET:
        return reset(request)
    return fault_page(fault, rule, journey.target.platform)


def fault_page(fault: Fault, rule: Rule, platform: Platform) -> web.Response:
    if fault in NGINX_STATUS:
        return nginx_page(NGINX_STATUS[fault])
    if fault is Fault.OVERLOADED:
        return overloaded_page(rule.status_or(503))
    if fault is Fault.BLOCKED:
        return nginx_page(rule.status_or(403))
    return redesign_page(platform)


async def hang(request: web.Request, state: SimState) -> web.Response:
    """Answer nothing until the client gives up, the server stops or `hang_max` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.scenario.hang_max
    while loop.time() < deadline and not state.stopping.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(_POLL_S)
    return nginx_page(504)


def reset(request: web.Request) -> web.Response:
    """Drop the TCP connection with a RST and no response at all."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)  # never written: the connection is gone


def rate_limited(request: web.Request, state: SimState, target: Target) -> web.Response | None:
    """403 once the target's per-client budget for the window is spent."""
    client = request.remote or "-"
    if state.limiter.allow(target, client, state.clock().timestamp()):
        return None
    entry = request.get(LOG_ENTRY)
    if entry is not None:
        entry.target = target.key
        entry.notes.append("rate limited")
    return nginx_page(403)
