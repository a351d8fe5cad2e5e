"""A vantage's broken network, on loopback: an HTTP forward proxy that drops connections.

A dropped CONNECT is accepted, then its connection dies: the proxy itself works, the network
past it does not (a proxy that does not answer at all is our own component failing, which the
engines already record as `probe_error`).

`DropProxy(drop=None)` drops every connection (the vantage's network is down: its canary
fails too); `DropProxy(drop={port})` drops only the requests to those ports and forwards the
others (the vantage cannot reach one site while its canary answers). Plain http (the
simulator's): absolute-form request lines, or a CONNECT tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class DropProxy:
    def __init__(self, drop: set[int] | None = None) -> None:
        self.drop = drop  # None: every connection
        self.port = 0
        self.dropped = 0
        self.forwarded = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> DropProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        tunnel = method == "CONNECT"  # Playwright's request engine tunnels even plain http
        parts = urlsplit(f"//{target}" if tunnel else target)
        if self.drop is None or parts.port in self.drop or parts.hostname is None:
            self.dropped += 1
            if tunnel:  # the proxy answers; the network past it drops the connection
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            writer.transport.abort()  # no answer at all: the connection just dies
            return
        self.forwarded += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(
            parts.hostname, parts.port or 80
        )
        if tunnel:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            upstream_writer.write(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
