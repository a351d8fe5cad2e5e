"""Baseline (b), the HTTP floor: the bench journey as bare HTTP requests, nothing else.

One aiohttp client per worker (cookies cleared between probes), the forms' fields written
in by hand, availability read with a substring test: no parsing, no evidence, no store.
What is left is the time the site itself needs plus the least a client can do.
"""

from __future__ import annotations

import aiohttp

from bench.simhost import PLANNING

NO_SLOT = "Il n'existe plus de plage horaire libre"
CONDITIONS = {"condition": "on", "nextButton": "Effectuer une demande de rendez-vous"}
GUICHET = {"planning": PLANNING, "nextButton": "Etape suivante"}


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def probe(session: aiohttp.ClientSession, url: str) -> str:
    """One journey; returns "no_slot" or "available"."""
    session.cookie_jar.clear()
    async with session.get(url) as response:
        await response.read()
    async with session.post(url, data=CONDITIONS) as response:
        step1 = str(response.url)
        await response.read()
    async with session.post(step1, data=GUICHET) as response:
        text = await response.text()
    return "no_slot" if NO_SLOT in text else "available"
