"""Apprise URLs carry tokens: show them masked, and scrub them from every log record.

`display()` keeps the scheme and a real host name only (`json://127.0.0.1:8080/…`): Apprise's
own privacy URLs keep a webhook's path, which is where many services put their token.
`REDACTOR` knows every secret fragment of every URL the configuration holds; its filter sits
on the loggers that could quote a URL (ours, Apprise's, urllib3's) and replaces each with ***.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"
LOGGER = "watchdog.notify"  # every module of the package logs here (the filter is per logger)
FILTERED_LOGGERS = (LOGGER, "apprise", "urllib3.connectionpool", "requests", "aiohttp.access")
MIN_FRAGMENT = 6  # shorter path or query parts are words, not tokens
HOSTNAME = re.compile(r"^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)$", re.IGNORECASE)


def _split(url: str) -> tuple[str, str, str, str, str, str, str]:
    """scheme, user, password, host, port, path, query (empty strings when absent)."""
    scheme, _, rest = url.partition("://")
    parts = urlsplit("http://" + rest)
    try:
        port = str(parts.port or "")
    except ValueError:
        port = ""
    return (
        scheme.lower(),
        parts.username or "",
        parts.password or "",
        parts.hostname or "",
        port,
        parts.path,
        parts.query + ("#" + parts.fragment if parts.fragment else ""),
    )


def _is_host(host: str) -> bool:
    if HOSTNAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def display(url: str) -> str:
    """The URL with everything that may be a secret replaced by …: safe to print."""
    scheme, user, password, host, port, path, query = _split(url)
    shown = host if _is_host(host) else "…"
    if port and shown != "…":
        shown += f":{port}"
    if user or password:
        shown = f"…@{shown}"
    tail = "/…" if path.strip("/") or query else ""
    return f"{scheme}://{shown}{tail}"


def fragments(url: str) -> set[str]:
    """The parts of `url` that may be secrets, as written and percent-decoded."""
    _, user, password, host, _, path, query = _split(url)
    found = {user, password} if len(user + password) else set()
    if not _is_host(host):
        found.add(host)
    if path.strip("/"):
        found.add(path.rstrip("/"))
        found.update(p for p in path.split("/") if len(p) >= MIN_FRAGMENT)
    found.update(v for _, v in parse_qsl(query.split("#")[0]) if len(v) >= MIN_FRAGMENT)
    if "#" in query:
        found.add(query.split("#", 1)[1])
    variants = {unquote(f) for f in found} | {quote(unquote(f), safe="") for f in found}
    return {f for f in found | variants if len(f) >= 3}


class Redactor(logging.Filter):
    """Replaces every registered secret in log records (and in any text given to `redact`)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, url: str) -> None:
        """Learn the secret fragments of an Apprise URL."""
        for fragment in fragments(url):
            self.add(fragment)

    def add(self, secret: str) -> None:
        if len(secret) >= 3:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)  # longest first
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


REDACTOR = Redactor()


def install() -> None:
    """Put the redactor on every logger that could quote a URL (idempotent)."""
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)


def usable_url(url: str) -> str | None:
    """None when Apprise understands `url`, else a reason that does not quote it."""
    install()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        return "not an Apprise URL (expected scheme://…)"
    import apprise  # here: loading Apprise's plugins costs a second, and most configs have no route

    if apprise.Apprise.instantiate(url) is None:
        return f"not a URL the installed Apprise can use (scheme {scheme!r})"
    return None


install()
