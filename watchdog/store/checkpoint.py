"""Signed checkpoints of the chain heads, so that a removed tail or chain is detected.

A hash chain shows an altered or removed observation in its middle, but not the last ones
removed with the head moved back, nor a whole chain removed: what is left still links up.
A checkpoint records, for every target, the seq and hash of its last observation at one
moment. `watchdog verify` then requires each chain to still hold that observation (same seq,
same hash) and each target named to still exist.

The checkpoint is `checkpoint.json` in the data directory, written atomically (temp file,
fsync, rename) and signed with HMAC-SHA256 under a local key, `checkpoint.key` (32 random
bytes, mode 0600, made with the first checkpoint). The signature is over the RFC 8785
canonical JSON of the body (format, time, heads, key id); its SHA-256, `digest`, is what an
RFC 3161 timestamp covers (watchdog/store/timestamps.py): tokens are files of their own in
`timestamps/`, named by that digest (the `timestamps` field stays empty).

Who writes them: `watchdog run` after each batch of recorded observations (checked every few
seconds) and when it stops; in the scale-out mode, the one worker holding the checkpoint role
(watchdog/workers/checkpoints.py); `watchdog checkpoint` on demand. A new checkpoint must extend the
last one: when a chain no longer holds what the last checkpoint names, none is written (the
old one stays as the evidence) until an operator, having looked, runs `watchdog checkpoint
--force`, which keeps the old file beside the new (and the tokens, in `timestamps-replaced-…`).

What it protects against, honestly: anyone who can change the database but not the data
directory (a PostgreSQL account, a restored backup, a SQL session), or who edits the SQLite
file without knowing of the checkpoint. Someone who can read the key can sign a checkpoint of
their own; an RFC 3161 timestamp (`checkpoints.tsa_url`), or the digest sent elsewhere, is
the answer to that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.store import pruned, timestamps
from watchdog.store.atomic import write_atomically
from watchdog.store.chain import canonical_json, format_instant
from watchdog.store.db import Store
from watchdog.store.schema import chain_heads, observations

log = logging.getLogger(__name__)

FORMAT: Final = "prefecture-watchdog-checkpoint/1"
FILE = "checkpoint.json"
KEY_FILE = "checkpoint.key"
TEMP_PREFIX = ".tmp-checkpoint-"
MAX_FILE = 64 << 20
KEY_BYTES = 32

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CheckpointError(WatchdogError):
    """A checkpoint cannot be written (the store no longer extends the last one, or I/O)."""


class Head(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    target: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    seq: Annotated[int, Field(ge=1, le=2**53 - 1)]
    hash: Sha256


class Checkpoint(BaseModel):
    """The file's content; `signature` and `timestamps` are outside the signed body."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["prefecture-watchdog-checkpoint/1"]
    created_at: Annotated[str, StringConstraints(max_length=64)]
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    heads: list[Head]
    digest: Sha256
    signature: Sha256
    timestamps: list[Any] = []  # unused: tokens are files in timestamps/ (timestamps.py)

    def body(self) -> bytes:
        """The canonical bytes that are signed and whose SHA-256 is `digest`."""
        return _body(self.created_at, self.key_id, self.heads)

    def by_target(self) -> dict[str, tuple[int, str]]:
        return {head.target: (head.seq, head.hash) for head in self.heads}

    def summary(self) -> str:
        return (
            f"checkpoint of {self.created_at} ({len(self.heads)} chain head(s), digest "
            f"{self.digest}, key {self.key_id})"
        )


def _body(created_at: str, key_id: str, heads: list[Head]) -> bytes:
    document = {
        "format": FORMAT,
        "created_at": created_at,
        "key_id": key_id,
        "heads": [head.model_dump() for head in heads],
    }
    return canonical_json(document)


def data_dir_of(store: Store) -> Path:
    """The data directory: the evidence store's parent, on SQLite and PostgreSQL alike."""
    return store.blobs.root.parent


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """What the data directory says about checkpoints."""

    checkpoint: Checkpoint | None = None
    problem: str | None = None  # the file is unreadable, forged or was removed
    note: str | None = None  # said, not a failure (no checkpoint yet, key unreadable)


def parse(raw: bytes) -> Checkpoint | str:
    """A checkpoint from untrusted bytes, or one line saying why it is not one."""
    try:
        checkpoint = Checkpoint.model_validate_json(raw)
    except ValidationError as exc:
        return _first_error(exc)
    if hashlib.sha256(checkpoint.body()).hexdigest() != checkpoint.digest:
        return "its digest is not the SHA-256 of its content"
    return checkpoint


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "the document"
    return f"{where}: {first['msg']}"


def load(data_dir: Path) -> Loaded:
    """The last checkpoint of `data_dir`, its signature checked when the key is readable."""
    path, key_path = data_dir / FILE, data_dir / KEY_FILE
    try:
        raw = _read_capped(path)
    except FileNotFoundError:
        if key_path.is_file():
            return Loaded(problem=f"{path} is missing although {key_path} shows that a "
                          "checkpoint was written: it was removed")  # fmt: skip
        return Loaded(note=NO_CHECKPOINT)
    except OSError as exc:
        return Loaded(problem=f"{path} cannot be read: {exc}")
    found = parse(raw)
    if isinstance(found, str):
        return Loaded(problem=f"{path} is not a valid checkpoint: {found}")
    return _check_signature(found, key_path)


NO_CHECKPOINT = (
    "no checkpoint yet: a removed tail of a chain, or a whole chain removed, cannot be "
    "detected (`watchdog checkpoint` writes one; `watchdog run` keeps it current)"
)


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        raise OSError(f"larger than {MAX_FILE} bytes")
    return raw


def _check_signature(checkpoint: Checkpoint, key_path: Path) -> Loaded:
    try:
        key = _read_key(key_path)
    except OSError as exc:
        note = f"the checkpoint's signature was not checked: {key_path}: {exc.strerror or exc}"
        return Loaded(checkpoint, note=note)
    if key_id(key) != checkpoint.key_id:
        return Loaded(checkpoint, problem=f"the checkpoint is signed with key {checkpoint.key_id}"
                      f", not with this data directory's key {key_id(key)}")  # fmt: skip
    if not hmac.compare_digest(sign(key, checkpoint.body()), checkpoint.signature):
        return Loaded(checkpoint, problem="the checkpoint's signature does not match its content")
    return Loaded(checkpoint)


# -- writing --------------------------------------------------------------------------------


def current_heads(store: Store) -> list[Head]:
    """Every non-empty chain's head, in target order (one consistent read)."""
    stmt = sa.select(chain_heads).where(chain_heads.c.seq > 0).order_by(chain_heads.c.target)
    try:
        return [Head(target=row.target, seq=row.seq, hash=row.hash) for row in store.scan(stmt)]
    except ValidationError as exc:  # a head no append writes: `verify` names it
        reason = exc.errors()[0]["msg"]
        raise CheckpointError(f"not written: a chain head is malformed ({reason})") from exc


def heads_total(store: Store) -> int:
    """The sum of every chain's head seq: it grows with each observation appended anywhere,
    so a writer that sees it unchanged knows no checkpoint is due (StoreError)."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(chain_heads.c.seq), 0))
    return int(next(iter(store.scan(stmt)))[0])


def not_extended(store: Store, previous: Checkpoint) -> list[str]:
    """How the store fails to hold what `previous` names (empty when it extends it)."""
    return not_held(store, previous.by_target())


def not_held(store: Store, wanted: dict[str, tuple[int, str]]) -> list[str]:
    """How the store fails to hold the observation (seq, hash) named for each target."""
    if not wanted:
        return []
    stmt = sa.select(observations.c.target, observations.c.seq, observations.c.hash).where(
        sa.tuple_(observations.c.target, observations.c.seq).in_(
            [(target, seq) for target, (seq, _) in wanted.items()]
        )
    )
    found = {row.target: row.hash for row in store.scan(stmt)}
    summaries = pruned.by_target(pruned.stored(store))
    problems = []
    for target, (seq, digest) in sorted(wanted.items()):
        rows = summaries.get(target, [])
        if target not in found and seq <= pruned.pruned_until(rows)[0]:
            if digest not in pruned.attested(rows).get(seq, set()):
                problems.append(
                    f"{target} seq {seq} was pruned and no summary of the pruned period names "
                    f"the observation {digest}"
                )
        elif target not in found:
            problems.append(f"{target} no longer has seq {seq}")
        elif found[target] != digest:
            problems.append(f"{target} seq {seq} is no longer the observation {digest}")
    return problems


def write(store: Store, data_dir: Path | None = None, *, force: bool = False) -> Checkpoint:
    """Write a new checkpoint of `store`'s heads; CheckpointError when it may not or cannot."""
    folder = data_dir or data_dir_of(store)
    loaded = load(folder)
    if loaded.checkpoint is not None and not force:
        problems = not_extended(store, loaded.checkpoint)
        if problems:
            raise CheckpointError(
                f"not written: the store no longer extends the {loaded.checkpoint.summary()}: "
                f"{'; '.join(problems[:5])}; run `watchdog verify`, then `watchdog checkpoint "
                "--force` once the cause is known"
            )
    if loaded.problem is not None and not force:
        raise CheckpointError(f"not written: {loaded.problem}")
    heads = current_heads(store)
    try:
        return _write(folder, heads, keep_old=force and (folder / FILE).exists())
    except OSError as exc:
        raise CheckpointError(f"cannot write {folder / FILE}: {exc}") from exc


def _write(folder: Path, heads: list[Head], *, keep_old: bool) -> Checkpoint:
    folder.mkdir(parents=True, exist_ok=True)
    key, created = _key(folder / KEY_FILE)
    created_at = format_instant(datetime.now(UTC))
    kid = key_id(key)
    body = _body(created_at, kid, heads)
    checkpoint = Checkpoint(
        format=FORMAT,
        created_at=created_at,
        key_id=kid,
        heads=heads,
        digest=hashlib.sha256(body).hexdigest(),
        signature=sign(key, body),
    )
    if keep_old:
        stamp = created_at.replace(":", "").replace(".", "-")
        os.replace(folder / FILE, folder / f"checkpoint-replaced-{stamp}.json")
        timestamps.set_aside(folder, stamp)
    text = json.dumps(checkpoint.model_dump(), ensure_ascii=False, indent=1) + "\n"
    try:
        write_atomically(folder / FILE, text.encode(), prefix=TEMP_PREFIX)
    except OSError:
        if created:  # no checkpoint was ever written with it: leave no sign that one was
            (folder / KEY_FILE).unlink(missing_ok=True)
        raise
    return checkpoint


def read_key(folder: Path) -> bytes:
    """The data directory's checkpoint key (OSError when absent or unreadable)."""
    return _read_key(folder / KEY_FILE)


def _key(path: Path) -> tuple[bytes, bool]:
    """The key, made (0600, exclusively: two workers agree on one) when there is none yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path), False
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key, True


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise OSError(f"{path} is not a hex key") from exc
    if len(key) != KEY_BYTES:
        raise OSError(f"{path} does not hold a {KEY_BYTES}-byte key")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"prefecture-watchdog checkpoint key\n" + key).hexdigest()[:16]


def sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


# -- the verified mark ----------------------------------------------------------------------
# `watchdog verify` records, when it finds everything sound against a signed checkpoint, that
# this checkpoint was verified: `verified.json`, signed with the same key over a body of its
# own format (so a checkpoint, which the daemon signs every few seconds, can never pass for a
# mark). `watchdog verify --since-checkpoint` starts from it (README « Evidence »).

VERIFIED_FILE = "verified.json"
VERIFIED_FORMAT: Final = "prefecture-watchdog-verified/1"


class VerifiedMark(BaseModel):
    """A checkpoint that a verify found sound, when, and the signature over both."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["prefecture-watchdog-verified/1"]
    verified_at: Annotated[str, StringConstraints(max_length=64)]
    checkpoint: Checkpoint
    signature: Sha256

    def body(self) -> bytes:
        return _mark_body(self.verified_at, self.checkpoint)


def _mark_body(verified_at: str, checkpoint: Checkpoint) -> bytes:
    document = {
        "format": VERIFIED_FORMAT,
        "verified_at": verified_at,
        "checkpoint_digest": checkpoint.digest,
        "key_id": checkpoint.key_id,
    }
    return canonical_json(document)


def write_mark(folder: Path, checkpoint: Checkpoint) -> VerifiedMark:
    """Record that `checkpoint` was verified (OSError when the key or the file cannot be)."""
    key = _read_key(folder / KEY_FILE)
    if key_id(key) != checkpoint.key_id:
        raise OSError(f"the checkpoint is signed with key {checkpoint.key_id}, not this one")
    verified_at = format_instant(datetime.now(UTC))
    mark = VerifiedMark(
        format=VERIFIED_FORMAT,
        verified_at=verified_at,
        checkpoint=checkpoint,
        signature=sign(key, _mark_body(verified_at, checkpoint)),
    )
    text = json.dumps(mark.model_dump(), ensure_ascii=False, indent=1) + "\n"
    write_atomically(folder / VERIFIED_FILE, text.encode(), prefix=TEMP_PREFIX)
    return mark


def load_mark(folder: Path) -> VerifiedMark | str:
    """The verified mark of `folder`, its signatures checked, or one line saying why not."""
    path = folder / VERIFIED_FILE
    try:
        raw = _read_capped(path)
    except FileNotFoundError:
        return f"no verified mark yet ({path}): a full `watchdog verify` writes one"
    except OSError as exc:
        return f"{path} cannot be read: {exc}"
    try:
        mark = VerifiedMark.model_validate_json(raw)
    except ValidationError as exc:
        return f"{path} is not a verified mark: {_first_error(exc)}"
    checked = _check_signature(mark.checkpoint, folder / KEY_FILE)
    if checked.problem or checked.note:
        return f"{path}: {checked.problem or checked.note}"
    if hashlib.sha256(mark.checkpoint.body()).hexdigest() != mark.checkpoint.digest:
        return f"{path}: its checkpoint's digest is not the SHA-256 of its content"
    key = _read_key(folder / KEY_FILE)
    if not hmac.compare_digest(sign(key, mark.body()), mark.signature):
        return f"{path}: its signature does not match its content"
    return mark


# -- the daemon's writer --------------------------------------------------------------------


def stamp(folder: Path, checkpoint: Checkpoint, authority: timestamps.Authority) -> Path:
    """An RFC 3161 token over `checkpoint`'s digest, stored in `folder` (TimestampError)."""
    return timestamps.stamp(folder, checkpoint.body(), authority)


StampResult = Callable[[str], None]  # told "ok" or "failed" after each timestamp request


class Checkpointer:
    """Writes a checkpoint when observations were recorded since the last one (`tick`).

    Called by `watchdog run` from its state loop and once at shutdown. Failures are logged
    once per distinct reason and never stop the daemon. With an `authority`, a checkpoint is
    also timestamped when the last token (or failed request) is `authority.every` old.
    """

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        authority: timestamps.Authority | None = None,
        on_stamp: StampResult | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.authority = authority
        self.on_stamp = on_stamp
        self.written_at: int | None = None  # the recorded count the last checkpoint covers
        self.failure: str | None = None
        self.asked_at = timestamps.last_stamped(data_dir) if authority else None  # epoch s
        self._lock = threading.Lock()

    def tick(self, recorded: int) -> Checkpoint | None:
        with self._lock:
            if recorded == self.written_at:
                return None
            try:
                checkpoint = write(self.store, self.data_dir)
            except (CheckpointError, StoreError) as exc:
                if str(exc) != self.failure:
                    log.error("checkpoint %s", exc)
                self.failure = str(exc)
                return None
            self.written_at, self.failure = recorded, None
            self._stamp(checkpoint)
            return checkpoint

    def _stamp(self, checkpoint: Checkpoint) -> None:
        """Ask for a token when one is due; a failure is logged and waits its turn too."""
        authority = self.authority
        now = time.time()
        if authority is None or (
            self.asked_at is not None and 0 <= now - self.asked_at < authority.every
        ):
            return
        self.asked_at = now
        try:
            path = stamp(self.data_dir, checkpoint, authority)
        except timestamps.TimestampError as exc:
            log.error("timestamp of the checkpoint %s not obtained: %s; the checkpoint is "
                      "written without one, next try in %gs", checkpoint.digest[:16], exc,
                      authority.every)  # fmt: skip
            result = "failed"
        else:
            log.info("timestamped the checkpoint %s: %s", checkpoint.digest[:16], path)
            result = "ok"
        if self.on_stamp is not None:
            self.on_stamp(result)
