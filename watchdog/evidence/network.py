"""What an internet constat records about the network path: resolved IP, TLS certificate."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from urllib.parse import urlsplit


async def resolve(host: str) -> str | None:
    """First address the system resolver gives for `host` (what the browser connected to)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    return str(infos[0][4][0]) if infos else None


async def tls_fingerprint(url: str, timeout: float = 5.0) -> str | None:
    """SHA-256 of the server certificate (DER) for https URLs; None for http or on failure."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    # We record the certificate the site presented, trusted or not: that is the evidence.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 443, ssl=context), timeout
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        return "sha256:" + hashlib.sha256(der).hexdigest() if der else None
    finally:
        writer.close()
