"""The capture environment: resolved IP and the TLS certificate a site presented (its
fingerprint, and its expiry for the metrics); the phases of a page load from the browser's
Navigation Timing."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from watchdog.evidence.network import (
    navigation_phases,
    not_after,
    resolve,
    tls_certificate,
    tls_fingerprint,
)


def _self_signed(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert), *extra],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def openssl_end_date(cert: Path) -> datetime:
    """notAfter as openssl itself prints it (`notAfter=Dec  9 09:30:00 2026 GMT`)."""
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(cert)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    text = " ".join(out.strip().removeprefix("notAfter=").split())
    return datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


@pytest.mark.parametrize("extra", [(), ("-not_after", "20510101000000Z")], ids=["utc", "gen"])
def test_not_after_reads_the_expiry_openssl_reads(tmp_path: Path, extra: tuple[str, ...]) -> None:
    """UTCTime (until 2049) and GeneralizedTime (from 2050) expiries (RFC 5280 §4.1.2.5)."""
    if (
        extra
        and b"-not_after"
        not in subprocess.run(["openssl", "req", "-help"], capture_output=True).stderr
    ):
        extra = ("-days", "9000")  # an older openssl: 2051 by duration instead
    cert, _ = _self_signed(tmp_path, *extra)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert not_after(der) == openssl_end_date(cert)
    assert not_after(der[:40]) is None  # truncated: unreadable, never a wrong date
    assert not_after(b"") is None


def test_tls_fingerprint_is_the_served_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    expected = "sha256:" + hashlib.sha256(der).hexdigest()

    async def scenario() -> tuple[str | None, str | None]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        runner = web.AppRunner(web.Application())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        try:
            https = await tls_fingerprint(f"https://127.0.0.1:{port}/booking/create/1/0")
            plain = await tls_fingerprint(f"http://127.0.0.1:{port}/")
            certificate = await tls_certificate(f"https://127.0.0.1:{port}/")
        finally:
            await runner.cleanup()
        assert certificate is not None and certificate.fingerprint == https
        assert certificate.not_after == openssl_end_date(cert)
        return https, plain

    https, plain = asyncio.run(scenario())
    assert https == expected
    assert plain is None


# A PerformanceNavigationTiming entry as Chromium's toJSON() gives it (milliseconds).
NAVIGATION = {
    "name": "https://www.ain.gouv.fr/booking/create/804/0", "entryType": "navigation",
    "startTime": 0, "domainLookupStart": 2.5, "domainLookupEnd": 12.5, "connectStart": 12.5,
    "secureConnectionStart": 30.0, "connectEnd": 75.0, "requestStart": 75.5,
    "responseStart": 275.5, "responseEnd": 300.0, "loadEventEnd": 1250.0, "type": "navigate",
}  # fmt: skip


def test_navigation_phases_of_an_https_load() -> None:
    assert navigation_phases(NAVIGATION) == {
        "dns": 0.01, "connect": 0.0175, "tls": 0.045, "first_byte": 0.2, "load": 1.25,
    }  # fmt: skip


def test_phases_the_entry_cannot_give_are_left_out() -> None:
    plain = NAVIGATION | {"name": "http://127.0.0.1:8765/", "secureConnectionStart": 0}
    assert navigation_phases(plain)["connect"] == 0.0625  # all of it is TCP
    assert "tls" not in navigation_phases(plain)
    assert "load" not in navigation_phases(NAVIGATION | {"loadEventEnd": 0})  # still loading
    assert navigation_phases(NAVIGATION | {"name": "chrome-error://chromewebdata/"}) == {}
    assert navigation_phases(None) == {}
    assert navigation_phases({"name": "https://x.gouv.fr/"}) == {}  # fields missing


def test_resolve_loopback_and_unknown() -> None:
    assert asyncio.run(resolve("127.0.0.1")) == "127.0.0.1"
    assert asyncio.run(resolve("no-such-host.invalid")) is None
