"""The simulator for benchmarks, in its own process so its CPU is not counted as ours.

    python -m bench.simhost --hosts 20      # prints one JSON line: the base URL of each host

Each host is one simulator on its own loopback port (host:port is the politeness key), all
serving the bench scenario: a legacy booking journey of three pages (conditions → guichet
→ result): "no slot" 95 % of the time, a calendar with free cells 5 % (drawn per journey).
It runs until its stdin closes (the parent exits or closes the pipe).

Each host is fronted by a forwarding proxy that makes its pages carry what real sites' pages
carry on every visit (docs/readings.md): a fresh CSRF token in each form and in a
`<meta name="csrf-token">`, and a session id in a link. An unchanged page is then not the
same bytes twice, so "stored KB per unchanged observation" measures the volatile-token split
(watchdog/evidence/volatile.py), not a simulator kinder than the sites.

`--latency-ms N` makes the proxy hold every page (not the static files) N ms before
answering: loopback answers in milliseconds, a real prefecture site does not, and the
browser's wall time is compared with the HTTP floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from aiohttp import web

from watchdog.simulator.scenario import Scenario
from watchdog.simulator.testing import running

BOOKING_ID = 9101
ENTRY_PATH = f"/booking/create/{BOOKING_ID}/0"
SCENARIO: dict[str, Any] = {
    "seed": 7,
    "targets": [
        {
            "key": "bench-legacy",
            "platform": "legacy_booking",
            "id": BOOKING_ID,
            "success_step": 4,
            "plannings": {
                "14673": "Remise d'un titre de séjour - GUICHET 4 B",
                "14806": "Remise d'un titre de séjour - GUICHET 5",
            },
            "behaviour": [
                {"state": "slots", "probability": 0.05, "slots": 4, "first_slot_in_days": 9},
                {"state": "no_slot"},
            ],
        }
    ],
}
PLANNING = "14806"


HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_FORM = re.compile(rb"<form\b[^>]*>", re.I)


def with_tokens(page: bytes) -> bytes:
    """`page` with a fresh CSRF token (each form, a meta tag) and a session id in a link."""
    token = secrets.token_urlsafe(32).encode()
    hidden = b'<input type="hidden" name="csrf_token" value="' + token + b'">'
    page = _FORM.sub(lambda form: form.group(0) + hidden, page)
    page = page.replace(b"</head>", b'<meta name="csrf-token" content="' + token + b'"></head>', 1)
    sid = secrets.token_hex(16).upper().encode()
    link = b'<p class="footer"><a href="/contact;jsessionid=' + sid + b'">Contact</a></p>'
    return page.replace(b"</body>", link + b"</body>", 1)


def delaying_proxy(upstream: str, client: aiohttp.ClientSession, delay: float) -> web.Application:
    """Forward everything to `upstream`, pages after `delay` seconds (redirects not followed),
    HTML pages with volatile tokens added (`with_tokens`)."""

    async def forward(request: web.Request) -> web.Response:
        if delay > 0 and not request.path.startswith("/static/"):
            await asyncio.sleep(delay)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        async with client.request(
            request.method, upstream + request.path_qs, headers=headers,
            data=await request.read(), allow_redirects=False,
        ) as answer:  # fmt: skip
            body = await answer.read()
            if answer.content_type == "text/html" and "content-encoding" not in answer.headers:
                body = with_tokens(body)
            kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS]
            response = web.Response(status=answer.status, body=body)
            for name, value in kept:
                response.headers.add(name, value)
            return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def _proxied(stack: AsyncExitStack, upstream: str, delay: float) -> str:
    client = await stack.enter_async_context(
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
    )
    runner = web.AppRunner(delaying_proxy(upstream, client, delay), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


async def serve(hosts: int, latency_ms: float) -> None:
    scenario = Scenario.model_validate(SCENARIO)
    async with AsyncExitStack() as stack:
        sims = [await stack.enter_async_context(running(scenario)) for _ in range(hosts)]
        urls = [sim.base_url for sim in sims]
        urls = [await _proxied(stack, url, latency_ms / 1000) for url in urls]
        print(json.dumps(urls), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before each page")
    args = parser.parse_args()
    asyncio.run(serve(args.hosts, args.latency_ms))


if __name__ == "__main__":
    main()
