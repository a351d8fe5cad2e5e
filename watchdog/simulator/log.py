"""Request log of the simulator, with the booking-flag detector.

Every request is recorded without personal values or secrets: form fields by name only, except
the few non-personal ones that tell which step was taken. A request is FLAGGED when a real site
would take it as an attempt to book: a step past availability, personal data, a reservation
confirmation or a captcha answer given outside operator/assisted mode. An observe-only watchdog
must never produce a flagged entry; tests assert on it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from aiohttp import web

# Values are kept only for these fields (query or form): they carry no personal data.
SAFE_VALUES = frozenset(
    {
        "condition",
        "planning",
        "nextButton",
        "finishButton",
        "selectedMotiveKeyList",
        "sitekey",
        "mobile",
        "preselectservice",
        "get",
        "c",
        "t",
        "error",
        "CP",
        "client_id",
        "theme",
        "response_mode",
    }
)
# Fields a booking form asks for: sending any of them is booking, whatever the value.
PERSONAL_FIELDS = frozenset(
    {
        "firstname",
        "lastname",
        "email",
        "emailcheck",
        "number_agdref",
        "end_date_validity",
        "post_code",
        "eZHumanCAPTCHACode",
        "userCiv",
        "userLastName",
        "userFirstName",
        "userZip",
        "userEmail",
        "userPhone",
        "imgc",
        "nom",
        "prenom",
        "telephone",
        "dateNaissance",
        "numeroEtranger",
        "username",
        "password",
    }
)
CONFIRM_TEXTS = ("Confirmer", "Valider et terminer")
SECRET_HEADERS = frozenset({"x-operator-token", "authorization"})
KEPT_HEADERS = ("user-agent", "referer", "x-watchdog-assisted", *sorted(SECRET_HEADERS))
SESSION_COOKIES = ("eZSESSID", "JSESSIONID", "XSRF-TOKEN")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class BookingRoute:
    """A route that only a booking attempt requests (declared by each platform module)."""

    pattern: re.Pattern[str]
    reason: str
    methods: frozenset[str] = frozenset({"GET", "POST"})

    def matches(self, request: web.BaseRequest) -> bool:
        return request.method in self.methods and bool(self.pattern.search(request.path))


@dataclass
class LogEntry:
    """One request as the simulator saw it."""

    time: str
    method: str
    path: str
    query: dict[str, str | None]
    client: str
    session: str | None
    fields: dict[str, list[str] | None]
    headers: dict[str, str]
    mode: str | None = None
    target: str | None = None
    step: str | None = None
    status: int | None = None
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def flag(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.flagged = True

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class RequestLog:
    """In-memory request log, optionally mirrored to a JSONL file."""

    def __init__(self, path: str | Path | None = None, *, echo_flags: bool = False) -> None:
        self.entries: list[LogEntry] = []
        self.path = Path(path) if path is not None else None
        self.echo_flags = echo_flags  # print flagged requests on stderr (`watchdog simulate`)

    def add(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def commit(self, entry: LogEntry) -> None:
        """Persist a finished entry to the JSONL mirror; shout when it is flagged."""
        if entry.flagged and self.echo_flags:
            print(
                f"FLAGGED {entry.method} {entry.path}: {'; '.join(entry.reasons)}", file=sys.stderr
            )
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")

    def clear(self) -> None:
        self.entries.clear()

    @property
    def flagged(self) -> list[LogEntry]:
        return [e for e in self.entries if e.flagged]


def session_ref(session_id: str) -> str:
    """A stable short reference to a session id, so logs never hold the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


def _redact(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str] | None]:
    kept: dict[str, list[str] | None] = {}
    for name, value in pairs:
        if name in SAFE_VALUES:
            values = kept.get(name) or []
            kept[name] = [*values, value]
        else:
            kept.setdefault(name, None)
    return kept


def _headers(request: web.BaseRequest) -> dict[str, str]:
    kept = {}
    for name in KEPT_HEADERS:
        if name in request.headers:
            kept[name] = REDACTED if name in SECRET_HEADERS else request.headers[name]
    if request.cookies:
        kept["cookie"] = "; ".join(sorted(request.cookies))
    return kept


def _session(request: web.BaseRequest) -> str | None:
    m = re.search(r";jsessionid=([^/?;]+)", request.path)
    if m:
        return session_ref(m.group(1))
    for name in SESSION_COOKIES:
        if name in request.cookies:
            return session_ref(request.cookies[name])
    return None


def request_mode(request: web.BaseRequest, operator_token: str | None) -> str | None:
    """`operator` when the sanctioned token is presented, `assisted` for a person's session."""
    if operator_token:
        presented = request.headers.get("X-Operator-Token") or request.cookies.get("operator_token")
        if presented == operator_token:
            return "operator"
    if request.headers.get("X-Watchdog-Assisted") == "1":
        return "assisted"
    return None


async def open_entry(
    request: web.BaseRequest, now: datetime, operator_token: str | None
) -> tuple[LogEntry, list[tuple[str, str]]]:
    """A log entry for `request`, plus its raw form pairs for flag detection only."""
    pairs: list[tuple[str, str]] = []
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        pairs = [(k, v) for k, v in form.items() if isinstance(v, str)]
    entry = LogEntry(
        time=now.isoformat(),
        method=request.method,
        path=re.sub(r";jsessionid=[^/?;]+", ";jsessionid=" + REDACTED, request.path),
        query={k: (v[0] if v else None) for k, v in _redact(request.query.items()).items()},
        client=request.remote or "-",
        session=_session(request),
        fields=_redact(pairs),
        headers=_headers(request),
        mode=request_mode(request, operator_token),
    )
    return entry, pairs


def detect_booking(
    entry: LogEntry,
    request: web.BaseRequest,
    pairs: list[tuple[str, str]],
    routes: Iterable[BookingRoute],
) -> None:
    """Flag `entry` for every reason a real site would take `request` as a booking attempt."""
    for route in routes:
        if route.matches(request):
            entry.flag(route.reason)
    personal = sorted({name for name, _ in pairs} & PERSONAL_FIELDS)
    if personal:
        entry.flag("personal data fields: " + ", ".join(personal))
    if any(text in value for _, value in pairs for text in CONFIRM_TEXTS):
        entry.flag("reservation confirmation")
    _captcha(entry, request)


def _captcha(entry: LogEntry, request: web.BaseRequest) -> None:
    answered = request.path.endswith("/_validerCaptcha") or (
        request.query.get("get") == "validation-result" and "i" in request.query
    )
    if not answered:
        return
    if entry.mode in ("operator", "assisted"):
        entry.notes.append(f"captcha answer in {entry.mode} mode")
    else:
        entry.flag("captcha answer submitted outside operator or assisted mode")


def flag_summary(entries: Iterable[LogEntry]) -> list[str]:
    """One line per flagged entry, for humans."""
    return [f"{e.method} {e.path}: {'; '.join(e.reasons)}" for e in entries if e.flagged]
