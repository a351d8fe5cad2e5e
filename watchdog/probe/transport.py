"""The request engine's HTTP client, behind one small seam (issue 20).

`RequestSession` (watchdog/probe/requesting.py) drives the journey: redirects hop by hop with
the allowed-hosts check, forms, charset, the step trail, subresources. What it asks of a
client is `Transport.fetch`: one request, no redirect followed, its answer as a `Reply`. Two
clients stand behind it, chosen by `browser.request_client`:

- `AiohttpTransport`: aiohttp in the watchdog's own process, a new session (a new cookie
  jar) per probe. No driver process to talk to: most of a probe's CPU was that talk.
- `PlaywrightTransport`: Playwright's `APIRequestContext` (Node.js, in the driver process),
  a new context per probe: the request engine as it was before issue 20.

Both send the same request: our User-Agent, Accept and Accept-Language, the operator's
sanctioned header/cookie for the target host only (`RequestSession._headers`, the jar's
host-only cookie), through `watchdog.proxy` when one is set, TLS certificates verified.
Their failures are read by the one table (watchdog/probe/outcomes.py) into the same
outcomes: a refused connection is `network_error`/`connection_refused` from either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import cache
from http.cookies import SimpleCookie
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp.connector import Connection
from yarl import URL

if TYPE_CHECKING:
    from playwright.async_api import APIRequestContext, APIResponse

READ_CHUNK = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


class Reply(Protocol):
    """One answer, its body not yet read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...  # names in any case: .get("location") works

    async def body(self, limit: int) -> bytes:
        """The body, or its first `limit + 1` bytes when it is longer (enough to refuse it)."""
        ...

    async def server_ip(self) -> str | None: ...

    async def dispose(self) -> None: ...


class Transport(Protocol):
    """One probe's HTTP client: its own cookie jar, never following a redirect itself."""

    async def fetch(
        self, url: str, method: str, data: str | None, headers: dict[str, str], timeout_ms: float
    ) -> Reply: ...

    async def close(self) -> None: ...


class _Answer:
    """What both clients' responses give alike: the status and the headers."""

    _response: APIResponse | aiohttp.ClientResponse

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers


class _PlaywrightReply(_Answer):
    def __init__(self, response: APIResponse) -> None:
        self._response: APIResponse = response

    async def body(self, limit: int) -> bytes:
        return await self._response.body()  # read whole by the driver; the caller measures it

    async def server_ip(self) -> str | None:
        address = await self._response.server_addr()
        return address["ipAddress"] if address else None

    async def dispose(self) -> None:
        await self._response.dispose()


class PlaywrightTransport:
    """Playwright's `APIRequestContext`: one context per probe, requests made by the driver."""

    def __init__(self, context: APIRequestContext) -> None:
        self.context = context

    async def fetch(
        self, url: str, method: str, data: str | None, headers: dict[str, str], timeout_ms: float
    ) -> Reply:
        response = await self.context.fetch(
            url, method=method, data=data, headers=headers, max_redirects=0, timeout=timeout_ms
        )
        return _PlaywrightReply(response)

    async def close(self) -> None:
        await self.context.dispose()


class _PeerConnector(aiohttp.TCPConnector):
    """A connector that notes the address of the connection each request is sent on (a
    small answer's connection is back in the pool before the response object is returned)."""

    peer: str | None = None

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        transport = connection.transport
        address = transport.get_extra_info("peername") if transport is not None else None
        self.peer = str(address[0]) if address else None
        return connection


class _AiohttpReply(_Answer):
    def __init__(self, response: aiohttp.ClientResponse, ip: str | None) -> None:
        self._response: aiohttp.ClientResponse = response
        self._ip = ip  # the peer's (the proxy's, behind one: as the driver reports it)

    async def body(self, limit: int) -> bytes:
        chunks, size = [], 0
        while size <= limit:
            chunk = await self._response.content.read(READ_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    async def server_ip(self) -> str | None:
        return self._ip

    async def dispose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection serves the next request
        else:
            self._response.close()  # a redirect's or an oversized body: never read past need


class AiohttpTransport:
    """aiohttp in our own process: a new session (a new cookie jar) per probe.

    `cookies` are the operator's, set host-only for `cookie_url`'s host (as the Playwright
    context's storage state does); `headers` go with every request (User-Agent, Accept,
    Accept-Language); `proxy` is an http:// or https:// proxy URL."""

    def __init__(
        self,
        headers: Mapping[str, str],
        cookies: Mapping[str, str] | None = None,
        cookie_url: str = "",
        proxy: str | None = None,
    ) -> None:
        jar = aiohttp.CookieJar(unsafe=True)  # unsafe: a host given as an IP address too
        if cookies:
            sanctioned: SimpleCookie = SimpleCookie()
            for name, value in cookies.items():
                sanctioned[name] = value
                sanctioned[name]["path"] = "/"  # no domain attribute: this host only
            jar.update_cookies(sanctioned, URL(cookie_url).origin())
        self.proxy = proxy
        self.connector = _PeerConnector(ssl=True, limit=0)
        self.session = aiohttp.ClientSession(
            headers=dict(headers),
            cookie_jar=jar,
            connector=self.connector,
            trust_env=False,  # the network is `watchdog.proxy`, never the environment's
            auto_decompress=True,
            # Node's (Playwright's) header limit, 16 KB, not aiohttp's 8 KB: a site's long
            # cookie must not read as a broken answer on one client only.
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
        )

    async def fetch(
        self, url: str, method: str, data: str | None, headers: dict[str, str], timeout_ms: float
    ) -> Reply:
        response = await self.session.request(
            method,
            url,
            data=data.encode() if data is not None else None,
            headers=headers,
            allow_redirects=False,
            proxy=self.proxy,
            timeout=aiohttp.ClientTimeout(total=timeout_ms / 1000),
        )
        return _AiohttpReply(response, self.connector.peer)

    async def close(self) -> None:
        await self.session.close()
        await asyncio.sleep(0)  # let the connector's transports close (aiohttp's advice)


@cache
def client_name(client: str) -> str:
    """What `env.http_client` records: the client's package and its installed version."""
    return f"{client} {version(client)}"
