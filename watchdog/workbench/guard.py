"""What every answer of the workbench goes through: the token, the Host check, the headers.

`Guard` wraps the whole ASGI application (outside Starlette's own error handling, so even a
500 carries the headers):

- **Headers**: a strict Content-Security-Policy (`default-src 'self'`, no script at all, no
  inline style, no frame but its own), `nosniff`, no referrer, no framing by other sites,
  no caching of the record's pages.
- **Host**: on a loopback bind, only requests naming a loopback host are served (a page
  elsewhere cannot reach the workbench through DNS rebinding).
- **Token**: when the workbench has one (always on a non-loopback bind), a request without
  it gets 401. It is given once as `?token=…` (answered by a redirect that sets an HttpOnly,
  SameSite=Strict cookie and drops it from the address), or as `Authorization: Bearer …`.
  It never appears in a page.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "watchdog_workbench"
CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; "
    "img-src 'self'; frame-src 'self'; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cache-control": "no-store",
}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ErrorPage = Callable[[Request, int, str], Response]


def host_name(header: str) -> str:
    """The host of a Host header, without its port (`[::1]:8780` → `[::1]`)."""
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """The ASGI wrapper described above."""

    def __init__(self, app: ASGIApp, token: str | None, loopback: bool, error: ErrorPage):
        self.app = app
        self.token = token
        self.loopback = loopback
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        request = Request(scope)
        refused = self._refusal(request)
        if refused is not None:
            await refused(scope, receive, send_guarded)
            return
        await self.app(scope, receive, send_guarded)

    def _refusal(self, request: Request) -> Response | None:
        if self.loopback and host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
            return self.error(request, 400, "this workbench answers on its loopback address only")
        if self.token is None:
            return None
        given = request.query_params.get("token")
        if given is not None and _same(given, self.token):
            return _enter(request, self.token)
        bearer = request.headers.get("authorization", "")
        cookie = request.cookies.get(COOKIE, "")
        if _same(cookie, self.token) or _same(bearer.removeprefix("Bearer "), self.token):
            return None
        return self.error(
            request, 401, "a token is required: open the address `watchdog serve` printed"
        )


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def _enter(request: Request, token: str) -> Response:
    """The address without its token, and the cookie that carries it from now on."""
    rest = [(k, v) for k, v in parse_qsl(request.url.query) if k != "token"]
    target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response
