"""The single table that maps exceptions to outcomes (docs/design.md §8), for both engines.

`outcome_of` is the one way an exception becomes an outcome: the browser engine and the
request engine (watchdog/engine/runner.py, watchdog/engine/requests.py) both call it, so a new
kind of exception is added here, in `MAPPERS` or the marker tables, and nowhere else.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from watchdog.domain.errors import ProbeError, SiteFault
from watchdog.domain.models import Outcome
from watchdog.probe.session import not_actionable

# Chromium network error codes, by what they say about the site (not about us).
_NETWORK_CODES = {
    "ERR_CONNECTION_RESET": "connection_reset",
    "ERR_CONNECTION_CLOSED": "connection_closed",
    "ERR_EMPTY_RESPONSE": "empty_response",
    "ERR_CONNECTION_REFUSED": "connection_refused",
    "ERR_NAME_NOT_RESOLVED": "dns_failure",
    "ERR_NAME_RESOLUTION_FAILED": "dns_failure",
    "ERR_ADDRESS_UNREACHABLE": "address_unreachable",
    "ERR_CONNECTION_TIMED_OUT": "connect_timeout",
    "ERR_SSL_PROTOCOL_ERROR": "tls_error",
    "ERR_CERT_": "tls_certificate",
    "ERR_HTTP2_PROTOCOL_ERROR": "protocol_error",
    "ERR_INVALID_RESPONSE": "invalid_response",
    "ERR_FAILED": "request_failed",
    "ERR_TIMED_OUT": "timed_out",
}
# The same failures as the request engine (Playwright's APIRequestContext, Node.js) words them.
_NODE_CODES = {
    "ECONNRESET": "connection_reset",
    "socket hang up": "connection_closed",
    "ECONNREFUSED": "connection_refused",
    "ENOTFOUND": "dns_failure",
    "EAI_AGAIN": "dns_failure",
    "EHOSTUNREACH": "address_unreachable",
    "ENETUNREACH": "address_unreachable",
    "ETIMEDOUT": "connect_timeout",
    "EPROTO": "tls_error",
    "CERT_": "tls_certificate",
    "certificate": "tls_certificate",
    "HPE_": "invalid_response",
}
# The same failures as the request engine's aiohttp client (watchdog/probe/transport.py) raises
# them: by the system's error number, where the connection failed with one.
_ERRNOS = {
    errno.ECONNREFUSED: "connection_refused",
    errno.ECONNRESET: "connection_reset",
    errno.EPIPE: "connection_reset",
    errno.EHOSTUNREACH: "address_unreachable",
    errno.ENETUNREACH: "address_unreachable",
    errno.ETIMEDOUT: "connect_timeout",
}
# What the site did, as Chromium and Playwright word it: not a page we could read, its doing.
_SITE_FAULTS = {
    "net::ERR_TOO_MANY_REDIRECTS": "redirect_loop",
    "Download is starting": "download",
    "Page crashed": "page_crashed",
    "Target crashed": "page_crashed",
}
_BROWSER_GONE = ("has been closed", "Target closed", "Browser closed", "browser has disconnected")


@dataclass(frozen=True)
class Mapped:
    outcome: Outcome
    detail: str
    message: str
    browser_gone: bool = False


def _network(exc: PlaywrightError) -> Mapped | None:
    text = str(exc)
    for code, detail in _NETWORK_CODES.items():
        if f"net::{code}" in text:
            return Mapped(Outcome.NETWORK_ERROR, detail, f"net::{code}")
    if text.startswith("APIRequestContext."):
        first = _first_line(exc)
        for code, detail in _NODE_CODES.items():
            if code in first:
                return Mapped(Outcome.NETWORK_ERROR, detail, first.split(": ", 1)[-1])
    return None


def _browser_gone(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _BROWSER_GONE)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _map_playwright(exc: PlaywrightError) -> Mapped:
    if "net::ERR_BLOCKED_BY_CLIENT" in str(exc):
        # Only our router blocks: a navigation or redirect outside allowed_hosts.
        return Mapped(Outcome.PROBE_ERROR, "host_not_allowed", "navigation outside allowed_hosts")
    for marker, detail in _SITE_FAULTS.items():
        if marker in str(exc) and not _browser_gone(exc):
            return Mapped(Outcome.SITE_ERROR, detail, _first_line(exc))
    network = _network(exc)
    if network is not None:
        return network
    if any(marker in str(exc) for marker in _BROWSER_GONE):
        return Mapped(Outcome.PROBE_ERROR, "browser_crashed", _first_line(exc), browser_gone=True)
    return Mapped(Outcome.PROBE_ERROR, "playwright_error", _first_line(exc))


def _aiohttp_network(exc: aiohttp.ClientError) -> Mapped | None:
    """The `_NODE_CODES` reading of an aiohttp failure (same outcome, same detail)."""
    detail: str | None = None
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = "tls_certificate"
    elif isinstance(exc, aiohttp.ClientSSLError):
        detail = "tls_error"
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        detail = "dns_failure"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        detail = "connection_reset"  # closed before an answer: Node's « socket hang up » (reset)
    elif isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, socket.gaierror
    ):
        detail = "dns_failure"
    elif isinstance(exc, aiohttp.ClientOSError):
        detail = _ERRNOS.get(exc.errno or 0)
    elif isinstance(exc, aiohttp.ClientPayloadError):
        detail = "connection_reset"  # the body was cut short
    elif isinstance(exc, aiohttp.ClientResponseError) and exc.status == 400:
        detail = "invalid_response"  # no HTTP answer aiohttp could parse (Node: HPE_…)
    if detail is None:
        return None
    return Mapped(Outcome.NETWORK_ERROR, detail, _first_line(exc))


def _map_aiohttp(exc: BaseException) -> Mapped:
    network = _aiohttp_network(exc) if isinstance(exc, aiohttp.ClientError) else None
    return network or _unknown(exc)


MAPPERS: tuple[tuple[type[BaseException], Callable[[BaseException], Mapped]], ...] = (
    (TimeoutError, lambda e: Mapped(Outcome.TIMEOUT, "deadline", "no answer before the deadline")),
    (PlaywrightTimeout, lambda e: _map_timeout(e)),
    (SiteFault, lambda e: Mapped(Outcome.SITE_ERROR, getattr(e, "detail", "site_fault"), str(e))),
    (
        ProbeError,
        lambda e: Mapped(Outcome.PROBE_ERROR, getattr(e, "detail", "probe_error"), str(e)),
    ),
    (
        PlaywrightError,
        lambda e: _map_playwright(e) if isinstance(e, PlaywrightError) else _unknown(e),
    ),
    (aiohttp.ClientError, _map_aiohttp),
    (Exception, lambda e: _unknown(e)),
)


# Playwright calls that wait on the site (a page load, a navigation, content appearing) versus
# calls that act on an element: when an action times out, the site has answered and we could
# not click, check or fill (an overlay, a missing or hidden element). That is our fault.
_ACTIONS = re.compile(
    r"^(Locator|Page|Frame|ElementHandle)\.(click|dblclick|check|uncheck|set_checked|fill|"
    r"select_option|press|type|hover|tap|focus|set_input_files|dispatch_event)\b"
)


def _map_timeout(exc: BaseException) -> Mapped:
    text = str(exc)
    if _ACTIONS.match(text):
        detail = not_actionable(text)
        return Mapped(Outcome.PROBE_ERROR, detail, _first_line(exc))
    return Mapped(Outcome.TIMEOUT, "action_timeout", _first_line(exc))


def _unknown(exc: BaseException) -> Mapped:
    return Mapped(Outcome.PROBE_ERROR, f"exception_{type(exc).__name__}", _first_line(exc))


def _by_type(exc: BaseException) -> Mapped:
    """The outcome an exception stands for, from `MAPPERS`; unknown exceptions are our fault."""
    for kind, mapper in MAPPERS:
        if isinstance(exc, kind):
            return mapper(exc)
    return _unknown(exc)


class PageEvents(Protocol):
    """What a browser page did while its probe ran (watchdog/probe/session.py's ProbeSession)."""

    @property
    def downloads(self) -> Sequence[str]: ...  # files the site sent instead of pages

    @property
    def crashed(self) -> bool: ...  # the page crashed its renderer

    @property
    def refused(self) -> Sequence[str]: ...  # navigations refused off `allowed_hosts`


def outcome_of(exc: BaseException, page: PageEvents | None = None) -> Mapped:
    """The outcome `exc` stands for, the same for both engines; unknown exceptions are ours.

    With `page` (the browser engine, once a page exists), what the page did while the probe
    failed comes first: a file the site sent instead of a page, or a renderer the page
    crashed, is the site's doing; a page that went off `allowed_hosts` by itself (script,
    meta refresh) was refused by us. The request engine has no page: nothing to add."""
    mapped = _by_type(exc)
    if page is None or mapped.browser_gone:
        return mapped
    if page.refused and mapped.detail != "host_not_allowed":
        host = (urlsplit(page.refused[-1]).hostname or "").lower()
        return Mapped(Outcome.PROBE_ERROR, "host_not_allowed", f"redirect to {host!r} refused")
    if page.downloads:
        return Mapped(Outcome.SITE_ERROR, "download", f"the site sent a file: {page.downloads[0]}")
    if page.crashed:
        return Mapped(Outcome.SITE_ERROR, "page_crashed", "the page crashed its renderer")
    return mapped


# An engine that ended with neither a reading nor an exception: a bug of ours.
NO_RESULT = _unknown(RuntimeError("no result"))
