"""RFC 3161 timestamps of the checkpoints: time that a third party vouches for.

A checkpoint (watchdog/store/checkpoint.py) is signed with our own key and dated by our own
clock. With `checkpoints.tsa_url` set, its `digest` (the SHA-256 of its canonical body) is
sent to that time-stamping authority (TSA), which signs the digest and its own time: the
token proves that the checkpoint, hence every observation its chain heads end, existed at
that time. Only the digest leaves the machine.

Requests go through rfc3161-client (the TimeStampReq, the reply's parsing and its CMS
signature check), one request per checkpoint stamped, never retried at once, within
`tsa_timeout`. `watchdog run` checkpoints every few seconds while it records, so it asks for
at most one token per `tsa_every` (the last token's file time counts across restarts, and so
does a failure); `watchdog checkpoint` asks for one each time. A TSA that fails costs the
checkpoint nothing: it is written first, and the failure is logged.

Files, in `timestamps/` of the data directory, named by the checkpoint's digest:
`<digest>.json` is the checkpoint's canonical body (its SHA-256 is the digest: the file is
content-addressed, and lists the chain heads), `<digest>.tsr` the TSA's reply (DER), which
`openssl ts -verify -data <digest>.json -in <digest>.tsr -CAfile <CA>` checks on its own.
Both are written atomically, the reply last. A token that does not verify against
`tsa_ca` when it arrives is not kept.

`verify` checks each token (the TSA's signature up to a certificate of `tsa_ca`, the message
imprint against the checkpoint's digest, the time), that the store still holds each head the
token names, and says which observations each token is the first to cover.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from watchdog.config.schema import Config
from watchdog.domain.errors import WatchdogError
from watchdog.store.atomic import write_atomically
from watchdog.store.chain import format_instant

log = logging.getLogger(__name__)

DIR: Final = "timestamps"
TEMP_PREFIX: Final = ".tmp-timestamp-"
MAX_REPLY: Final = 1 << 20  # a reply is a few kB; a TSA that sends more is refused
MAX_BODY: Final = 16 << 20
MAX_CA_FILE: Final = 1 << 20
CLOCK_SLACK: Final = timedelta(minutes=5)  # a token dated later than this ahead is refused
SHA256_OID: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
REPLY_TYPE: Final = "application/timestamp-reply"

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class TimestampError(WatchdogError):
    """No token was obtained (the TSA is unreachable, refused, or sent something unusable)."""


# -- the authority ------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    """Where tokens come from and what they must chain to (`checkpoints` in the config)."""

    url: str
    ca: Path
    timeout: float
    every: float
    user_agent: str

    @classmethod
    def of(cls, config: Config) -> Authority | None:
        settings = config.checkpoints
        if settings.tsa_url is None or settings.tsa_ca is None:
            return None
        return cls(
            url=settings.tsa_url,
            ca=settings.tsa_ca,
            timeout=settings.tsa_timeout.total_seconds(),
            every=settings.tsa_every.total_seconds(),
            user_agent=config.watchdog.user_agent,
        )


def load_certificates(raw: bytes, where: str) -> list[x509.Certificate]:
    """The certificates of a PEM file; ValueError naming `where` when there are none."""
    try:
        found = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise ValueError(f"{where} holds no readable PEM certificate ({exc})") from exc
    return found


def read_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates of the PEM file at `path`; TimestampError when it is unusable."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CA_FILE + 1)
    except OSError as exc:
        raise TimestampError(f"cannot read tsa_ca {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CA_FILE:
        raise TimestampError(f"tsa_ca {path} is larger than {MAX_CA_FILE} bytes")
    try:
        return load_certificates(raw, f"tsa_ca {path}")
    except ValueError as exc:
        raise TimestampError(str(exc)) from exc


# -- asking for a token ---------------------------------------------------------------------


def request(authority: Authority, body: bytes) -> bytes:
    """The TSA's reply (DER) over SHA-256(`body`), verified; TimestampError otherwise."""
    roots = read_certificates(authority.ca)
    query = TimestampRequestBuilder().data(body).hash_algorithm(HashAlgorithm.SHA256).build()
    raw = _post(authority, query.as_bytes())
    try:
        reply = decode_timestamp_response(raw)
    except ValueError as exc:
        raise TimestampError(f"the TSA's answer is not a timestamp reply ({_first(exc)})") from exc
    if reply.status != PKIStatus.GRANTED:
        said = "; ".join(reply.status_string) or "no reason given"
        raise TimestampError(f"the TSA did not grant the request (status {reply.status}: {said})")
    if reply.tst_info.nonce != query.nonce:
        raise TimestampError("the TSA's reply does not carry the request's nonce")
    problem = _check_reply(reply, hashlib.sha256(body).digest(), roots)
    if problem is not None:
        raise TimestampError(f"the TSA's token does not verify against tsa_ca: {problem}")
    return raw


def _post(authority: Authority, query: bytes) -> bytes:
    headers = {
        "Content-Type": "application/timestamp-query",
        "Accept": REPLY_TYPE,
        "User-Agent": authority.user_agent,
    }
    sent = urllib.request.Request(authority.url, data=query, headers=headers, method="POST")
    deadline = time.monotonic() + authority.timeout
    try:
        with urllib.request.urlopen(sent, timeout=authority.timeout) as answer:
            kind = answer.headers.get_content_type()
            if kind != REPLY_TYPE:
                raise TimestampError(f"the TSA answered {kind}, not {REPLY_TYPE}")
            return _read_bounded(answer, deadline, authority.timeout)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the TSA answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason if not isinstance(exc.reason, OSError) else _first(exc.reason)
        raise TimestampError(f"cannot reach the TSA {authority.url}: {reason}") from exc
    except TimeoutError as exc:
        raise TimestampError(f"no answer from the TSA within {authority.timeout:g}s") from exc
    except OSError as exc:
        raise TimestampError(f"the exchange with the TSA failed: {_first(exc)}") from exc


def _read_bounded(answer: http.client.HTTPResponse, deadline: float, timeout: float) -> bytes:
    """The body, at most MAX_REPLY bytes, within the deadline (a slow drip is cut)."""
    read = answer.read
    chunks: list[bytes] = []
    size = 0
    while chunk := read(16 << 10):
        size += len(chunk)
        if size > MAX_REPLY:
            raise TimestampError(f"the TSA's answer is larger than {MAX_REPLY} bytes")
        if time.monotonic() > deadline:
            raise TimestampError(f"no complete answer from the TSA within {timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)


def stamp(folder: Path, body: bytes, authority: Authority) -> Path:
    """Ask for a token over `body` (a checkpoint's canonical body) and store it beside.

    Returns the reply's path; TimestampError when no token was obtained or stored."""
    reply = request(authority, body)
    digest = hashlib.sha256(body).hexdigest()
    where = folder / DIR
    try:
        where.mkdir(parents=True, exist_ok=True)
        write_atomically(where / f"{digest}.json", body, prefix=TEMP_PREFIX)
        write_atomically(where / f"{digest}.tsr", reply, prefix=TEMP_PREFIX)
    except OSError as exc:
        raise TimestampError(f"cannot store the token in {where}: {exc}") from exc
    return where / f"{digest}.tsr"


def last_stamped(folder: Path) -> float | None:
    """The modification time (epoch seconds) of the newest token, if any."""
    try:
        times = [p.stat().st_mtime for p in (folder / DIR).glob("*.tsr")]
    except OSError:
        return None
    return max(times, default=None)


def set_aside(folder: Path, stamp_text: str) -> None:
    """Move the tokens out of the way (`checkpoint --force`): kept, no longer checked."""
    where = folder / DIR
    if where.is_dir() and any(where.iterdir()):
        os.replace(where, folder / f"{DIR}-replaced-{stamp_text}")


# -- checking a token -----------------------------------------------------------------------


class _Head(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    target: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    seq: int
    hash: Sha256


class StampedBody(BaseModel):
    """A checkpoint's canonical body, as stored beside its token."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["prefecture-watchdog-checkpoint/1"]
    created_at: Annotated[str, StringConstraints(max_length=64)]
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    heads: list[_Head]


@dataclass(frozen=True)
class Token:
    """One token, checked: `problem` is None when it holds."""

    name: str  # the digest its files are named by
    created_at: str = ""
    heads: tuple[tuple[str, int, str], ...] = ()  # (target, seq, hash)
    gen_time: datetime | None = None
    tsa: str = ""
    serial: int | None = None
    problem: str | None = None
    note: str | None = None


def check_token(
    name: str, body: bytes | None, reply: bytes | None, roots: list[x509.Certificate]
) -> Token:
    """Check one token against its checkpoint body and the trusted `roots`."""
    if body is None:
        return Token(name, problem=f"the checkpoint body {name}.json is missing")
    if reply is None:  # the body is written first: an interrupted write leaves it alone
        return Token(name, note=f"{name}.json has no token beside it (an interrupted request "
                     "or a token removed): not counted as a timestamp")  # fmt: skip
    digest = hashlib.sha256(body).hexdigest()
    if digest != name:
        return Token(name, problem=f"{name}.json does not hash to its name (SHA-256 {digest})")
    parsed = _parse_body(body)
    if isinstance(parsed, str):
        return Token(name, problem=f"{name}.json is not a checkpoint body: {parsed}")
    heads = tuple((h.target, h.seq, h.hash) for h in parsed.heads)
    base = Token(name, created_at=parsed.created_at, heads=heads)
    # The reply may be crafted: whatever the parser raises on it (ValueError, KeyError from a
    # garbled name, InvalidVersion from a garbled certificate…) is a verdict on the file.
    try:
        return _check_parsed(base, reply, parsed.created_at, roots)
    except Exception as exc:
        return _with(base, problem=f"{name}.tsr holds no readable token ({_first(exc)})")


def _check_parsed(
    base: Token, reply: bytes, created_at: str, roots: list[x509.Certificate]
) -> Token:
    name = base.name
    try:
        response = decode_timestamp_response(reply)
    except ValueError as exc:
        return _with(base, problem=f"{name}.tsr is not a timestamp reply ({_first(exc)})")
    if response.status != PKIStatus.GRANTED:
        return _with(base, problem=f"{name}.tsr is not a granted token (status {response.status})")
    info = response.tst_info
    base = _with(base, gen_time=info.gen_time, serial=info.serial_number, tsa=_signer(response))
    problem = _check_reply(response, bytes.fromhex(name), roots)
    if problem is not None:
        return _with(base, problem=f"{name}.tsr: {problem}")
    found = _check_time(info.gen_time, created_at)
    return _with(base, **{key: f"{name}.tsr: {text}" for key, text in found.items()})


def _with(token: Token, **changes: object) -> Token:
    return replace(token, **changes)  # type: ignore[arg-type]


def _parse_body(body: bytes) -> StampedBody | str:
    if len(body) > MAX_BODY:
        return f"larger than {MAX_BODY} bytes"
    try:
        return StampedBody.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        return f"{where}: {first['msg']}"


def _check_reply(
    response: TimeStampResponse, digest: bytes, roots: list[x509.Certificate]
) -> str | None:
    """Why `response` is not a valid token over `digest` chaining to `roots` (None: it is)."""
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm != SHA256_OID:
        return f"its message imprint is not a SHA-256 ({imprint.hash_algorithm.dotted_string})"
    if imprint.message != digest:
        return (
            f"its message imprint {imprint.message.hex()} is not the checkpoint's digest "
            f"{digest.hex()}: this token covers something else"
        )
    if not roots:
        return "no TSA certificate to check it against"
    builder = VerifierBuilder(roots=list(roots))
    if not response.signed_data.certificates:
        signer = [c for c in roots if _stamps(c)]
        if len(signer) == 1:
            builder = builder.tsa_certificate(signer[0])
    try:
        builder.build().verify(response, digest)
    except (VerificationError, ValueError) as exc:
        return f"its signature does not verify against the TSA certificates ({_first(exc)})"
    return None


def _stamps(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.TIME_STAMPING in usage


def _signer(response: TimeStampResponse) -> str:
    """The signing certificate's subject, when the token carries it."""
    try:
        signer = next(iter(response.signed_data.signer_infos))
        for der in response.signed_data.certificates:
            cert = x509.load_der_x509_certificate(der)
            if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
                return cert.subject.rfc4514_string()
        return signer.issuer.rfc4514_string() + " (issuer)"
    except Exception:  # a display name only: a garbled certificate is judged elsewhere
        return "unknown"


def _check_time(gen_time: datetime, created_at: str) -> dict[str, str]:
    if gen_time > datetime.now(UTC) + CLOCK_SLACK:
        return {"problem": f"its time {format_instant(gen_time)} is in the future"}
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return {"problem": f"the checkpoint's time {created_at!r} is not an instant"}
    if gen_time < created - CLOCK_SLACK:
        return {
            "note": f"the TSA's time {format_instant(gen_time)} is before the checkpoint's own "
            f"{created_at}: the local clock was ahead"
        }
    return {}


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


# -- what each token covers -----------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """The observations of one chain that a token is the first to cover: seq first..last."""

    target: str
    first: int
    last: int


def ordered(tokens: Iterable[Token]) -> list[Token]:
    """Tokens in the order they were obtained (by TSA time, then checkpoint time)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(tokens, key=lambda t: (t.gen_time or floor, t.created_at, t.name))


def spans(tokens: list[Token]) -> dict[str, list[Span]]:
    """For each token (in `ordered` order), the observations it is the first to cover."""
    covered: dict[str, int] = {}
    found: dict[str, list[Span]] = {}
    for token in tokens:
        found[token.name] = []
        for target, seq, _ in token.heads:
            start = covered.get(target, 0) + 1
            if seq >= start:
                found[token.name].append(Span(target, start, seq))
            covered[target] = max(seq, covered.get(target, 0))
    return found


Describe = Callable[[str, int], str | None]  # (target, seq) -> when it was observed


def describe(token: Token, covered: list[Span], when: Describe | None = None) -> str:
    """One line: the token, its TSA and time, and what it is the first to cover."""
    gen = format_instant(token.gen_time) if token.gen_time else "?"
    head = (
        f"Timestamp {gen} by {token.tsa} (serial {token.serial}) of the checkpoint of "
        f"{token.created_at} ({token.name[:16]}…)"
    )
    if not covered:
        return f"{head}: no observation not already covered by an earlier timestamp"
    parts = []
    for span in covered:
        seqs = f"seq {span.first}" if span.first == span.last else f"seq {span.first}–{span.last}"
        times = ""
        if when is not None:
            start, end = when(span.target, span.first), when(span.target, span.last)
            if start and end:
                times = f" ({start} → {end})" if span.first != span.last else f" ({start})"
        parts.append(f"{span.target} {seqs}{times}")
    return f"{head}: covers {', '.join(parts)}"


# -- the data directory's tokens -------------------------------------------------------------


@dataclass
class Checked:
    """What `check_folder` found: one Token per reply, and problems beyond them."""

    tokens: list[Token] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    roots_note: str | None = None


def token_dirs(folder: Path) -> list[Path]:
    """`folder/timestamps` and the folders `checkpoint --force` set aside (`set_aside`),
    oldest first: every token the data directory keeps, checked or not."""
    aside = sorted(p for p in folder.glob(f"{DIR}-replaced-*") if p.is_dir())
    return [*aside, folder / DIR]


def names_in(folder: Path) -> list[str]:
    """The digests that have a reply or a body in `folder/timestamps`."""
    return names_under(folder / DIR)


def names_under(where: Path) -> list[str]:
    """The digests that have a reply or a body in the token folder `where`."""
    if not where.is_dir():
        return []
    found = {
        p.stem
        for p in where.iterdir()
        if p.suffix in (".tsr", ".json") and not p.name.startswith(TEMP_PREFIX)
    }
    return sorted(found)


def check_folder(folder: Path, ca: Path | None) -> Checked:
    """Check every token of `folder` against the certificates of `ca`."""
    checked = Checked()
    names = names_in(folder)
    if not names:
        return checked
    roots: list[x509.Certificate] = []
    if ca is None:
        checked.roots_note = (
            f"{len(names)} timestamp(s) not checked: the configuration names no checkpoints.tsa_ca"
        )
        return checked
    try:
        roots = read_certificates(ca)
    except TimestampError as exc:
        checked.problems.append(f"the timestamps cannot be checked: {exc}")
        return checked
    checked.tokens = load_folder(folder, roots)
    return checked


def load_folder(folder: Path, roots: list[x509.Certificate]) -> list[Token]:
    """Every token of `folder`, checked against `roots` (none: each says so), in order."""
    where = folder / DIR
    tokens = []
    for name in names_in(folder):
        body = _read(where / f"{name}.json", MAX_BODY)
        reply = _read(where / f"{name}.tsr", MAX_REPLY)
        tokens.append(check_token(name, body, reply, roots))
    return ordered(tokens)


def _read(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except OSError:
        return None


def fingerprint(certs: list[x509.Certificate]) -> str:
    """Each certificate's subject and SHA-256 fingerprint, for a reader to compare."""
    return "; ".join(_described(c) for c in certs)


def _described(cert: x509.Certificate) -> str:
    sha = cert.fingerprint(hashes.SHA256()).hex()
    try:
        return f"{cert.subject.rfc4514_string()} (SHA-256 {sha})"
    except Exception:  # a crafted certificate's garbled name: the fingerprint still says
        return f"a certificate with an unreadable subject (SHA-256 {sha})"
