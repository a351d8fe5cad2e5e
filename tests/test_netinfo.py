"""The capture environment: resolved IP and the TLS certificate a site presented."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
from pathlib import Path

from aiohttp import web

from watchdog.evidence.network import resolve, tls_fingerprint


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


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
        finally:
            await runner.cleanup()
        return https, plain

    https, plain = asyncio.run(scenario())
    assert https == expected
    assert plain is None


def test_resolve_loopback_and_unknown() -> None:
    assert asyncio.run(resolve("127.0.0.1")) == "127.0.0.1"
    assert asyncio.run(resolve("no-such-host.invalid")) is None
