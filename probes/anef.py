"""ANEF portal reachability (the portal's known facts and their sources: docs/platforms.md).

ANEF books nothing: a working portal (its public home, or its login wall) is recorded as
`available` with `slots` null, so it never counts in the no-slot rate.

The request engine reads what the server renders itself (the maintenance page, proxy
errors, the Keycloak login wall); the portal's own pages are built by script in an empty
`<app-root>`, so on those it hands over to the browser (`NeedsBrowser`).

What each reading rests on, fact by fact: docs/readings.md (« anef »). No source documents
how the portal shows its own errors: a rendered page that speaks of an error is left to
the generic rules, never read as a working portal.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from watchdog.domain.errors import NeedsBrowser
from watchdog.domain.models import Outcome
from watchdog.probe.pagetext import visible_lines
from watchdog.probe.requesting import RequestSession
from watchdog.probe.session import Classification, Labels, PageState, PlatformSpec, ProbeSession

# What the rendered single-page app shows once it has booted, whatever its state.
RENDERED = "h1, app-root form, app-root main, #kc-form-login"
_LOGIN_PATHS = ("connexion-inscription", "openid-connect/auth", "/login")
_APP_ROOT = re.compile(r"<app-root\b[^>]*>(.*)</app-root>", re.S | re.I)
_TROUBLE = re.compile(r"erreur|error|indisponible|maintenance", re.I)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    render_timeout_s: float = 15.0


async def probe(session: ProbeSession, options: Options) -> PageState:
    response = await session.goto(session.url, "portal")
    if response is not None and response.status < 400:
        await session.page.locator(RENDERED).first.wait_for(
            state="attached", timeout=options.render_timeout_s * 1000
        )
    return await session.state()


async def request_probe(session: RequestSession, options: Options) -> PageState:
    """The portal as served: a script-built shell is the browser's to read."""
    state = await session.get(session.url, "portal")
    if "<app-root" in state.html and not state.lines:
        raise NeedsBrowser("the portal page is built by script (an empty <app-root>)")
    return state


def classify(state: PageState, options: Options) -> Classification | None:
    heading = next((line for line in state.lines if line == "Site en maintenance"), None)
    if heading is not None:
        return Classification(Outcome.MAINTENANCE, "maintenance_page", heading)
    if any(marker in state.url for marker in _LOGIN_PATHS) and "password" in state.html:
        return Classification(Outcome.AVAILABLE, "login_wall", None)
    if state.status is not None and state.status >= 400:
        return None
    app = _APP_ROOT.search(state.html)
    rendered = visible_lines(app.group(1)) if app is not None else []
    if rendered and not any(_TROUBLE.search(line) for line in rendered):
        # The portal answered and its application rendered: the service is reachable.
        return Classification(Outcome.AVAILABLE, "portal_up", None)
    return None


SPEC = PlatformSpec(
    name="anef",
    labels=Labels(fr="portail ANEF", en="ANEF portal"),
    options=Options,
    probe=probe,
    classify=classify,
    request_probe=request_probe,
    books=False,
)
