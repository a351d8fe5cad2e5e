"""What an internet constat records about the network path: resolved IP, TLS certificate;
and what an SRE reads from the same facts: the certificate's expiry, the phases of a page
load (the browser's Navigation Timing)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# The phases of one page load, in seconds, from a PerformanceNavigationTiming entry
# (https://www.w3.org/TR/navigation-timing-2/). `connect` is TCP alone; `tls` the handshake
# (https only); `first_byte` from the request sent to the first byte of the answer; `load` from
# the start of the navigation to the end of the load event.
PHASES = ("dns", "connect", "tls", "first_byte", "load")
NAVIGATION_JS = (
    "() => { const e = performance.getEntriesByType('navigation')[0];"
    " return e ? e.toJSON() : null; }"
)


@dataclass(frozen=True)
class Certificate:
    """The certificate a server presented: its fingerprint and its expiry (notAfter)."""

    fingerprint: str
    not_after: datetime | None


@dataclass(frozen=True)
class NetworkFacts:
    """What one probe measured of the network, for the metrics (never part of the record)."""

    host: str
    certificate_not_after: datetime | None = None
    phases: Mapping[str, float] = field(default_factory=dict)


async def resolve(host: str) -> str | None:
    """First address the system resolver gives for `host` (what the browser connected to)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    return str(infos[0][4][0]) if infos else None


async def tls_fingerprint(url: str, timeout: float = 5.0) -> str | None:
    """SHA-256 of the server certificate (DER) for https URLs; None for http or on failure."""
    certificate = await tls_certificate(url, timeout)
    return certificate.fingerprint if certificate is not None else None


async def tls_certificate(url: str, timeout: float = 5.0) -> Certificate | None:
    """The server certificate for https URLs (fingerprint of its DER and expiry); None for
    http or on failure."""
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
    finally:
        writer.close()
    if not der:
        return None
    return Certificate("sha256:" + hashlib.sha256(der).hexdigest(), not_after(der))


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, at, at + length


def not_after(der: bytes) -> datetime | None:
    """The notAfter time of an X.509 certificate (DER), or None if it cannot be read.

    Certificate = SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … } (RFC 5280 §4.1);
    the certificate is not trusted here, only read (the standard library reads the fields of
    verified certificates only)."""
    try:
        _, cert, _ = _tlv(der, 0)
        _, at, _ = _tlv(der, cert)  # tbsCertificate
        tag, _, end = _tlv(der, at)
        if tag == 0xA0:  # explicit version
            at = end
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, at = _tlv(der, at)
        _, validity, _ = _tlv(der, at)
        _, _, after_start = _tlv(der, validity)  # notBefore
        tag, start, end = _tlv(der, after_start)
        text = der[start:end].decode("ascii")
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    formats = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}  # UTCTime, GeneralizedTime
    if tag not in formats:
        return None
    try:
        return datetime.strptime(text, formats[tag]).replace(tzinfo=UTC)
    except ValueError:
        return None


def navigation_phases(entry: Any) -> dict[str, float]:
    """PHASES of a PerformanceNavigationTiming entry (its toJSON()), in seconds; a phase the
    entry cannot give (TLS over http, a load that has not ended, a non-web page) is left out.
    A connection the browser reused reads 0 for dns and connect, as it measured."""
    if not isinstance(entry, dict) or not str(entry.get("name", "")).startswith("http"):
        return {}
    try:
        t = {k: float(v) for k, v in entry.items() if isinstance(v, int | float)}
        secure = t.get("secureConnectionStart", 0.0)
        spans = {
            "dns": (t["domainLookupStart"], t["domainLookupEnd"]),
            "connect": (t["connectStart"], secure if secure > 0 else t["connectEnd"]),
            "tls": (secure, t["connectEnd"]) if secure > 0 else None,
            "first_byte": (t["requestStart"], t["responseStart"]),
            "load": (t["startTime"], t["loadEventEnd"]) if t["loadEventEnd"] > 0 else None,
        }
    except KeyError:
        return {}
    return {
        phase: round((span[1] - span[0]) / 1000, 6)
        for phase, span in spans.items()
        if span is not None and span[1] >= span[0] and (phase == "dns" or span[1] > 0)
    }
