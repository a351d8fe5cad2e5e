"""The access log: who exported what evidence, when (issue 19, item 2's access log).

`access-log.jsonl` in the data directory gets one line per report, dossier, bundle or open-
data export written from the record, by the CLI or downloaded from the workbench, and one per
period `watchdog retention apply` pruned: who (the OS user; for the workbench behind a token,
« workbench », as its one token has no name), when (UTC), the action, the period and
targets, and each output file with its SHA-256 and size (and, for a bundle, the fingerprint
it prints; for a pruned period, its summary's digest). Each line is the RFC 8785 canonical JSON
of its entry, `prev_hash` (the SHA-256 of the line before) and `seq` inside: the log is a
hash chain like the observations', appended under an exclusive lock and fsynced, never
rewritten. `watchdog verify` recomputes it.

What it protects against, honestly: an entry changed, removed from the middle or reordered
breaks the chain; the last entries removed with nothing after them do not (the checkpoint
does not cover this log), and whoever can write the data directory can rewrite it whole. It
records what this software exported, not what anyone copied from the data directory.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from watchdog import __version__
from watchdog.domain.errors import WatchdogError
from watchdog.store.chain import canonical_json, format_instant, sha256_hex

FILE: Final = "access-log.jsonl"
FORMAT: Final = "prefecture-watchdog-access/1"
ACTIONS = ("report", "dossier", "bundle", "export", "retention")
TAIL = 1 << 20  # the last line is looked for in the file's last MiB
CHUNK = 1 << 20
MAX_LINE = 1 << 20
NOT_AN_ENTRY = "not an access entry"

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, StringConstraints(max_length=4096)]


class AccessLogError(WatchdogError):
    """The access log cannot be appended to."""


class Who(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    kind: Literal["os_user", "token"]
    name: Text
    uid: int | None = None


class Output(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    path: Text
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]


class Entry(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["prefecture-watchdog-access/1"]
    seq: Annotated[int, Field(ge=1)]
    at: Text
    who: Who
    # « retention »: a pruned period (no output; `fingerprint` is its summary's digest)
    action: Literal["report", "dossier", "bundle", "export", "retention"]
    since: Text
    until: Text
    targets: list[Text]
    outputs: list[Output]
    fingerprint: Sha256 | None = None
    channel: Literal["cli", "workbench"] = "cli"
    software: Text
    prev_hash: Sha256 | None


def os_user() -> Who:
    """The user running this process (by uid when it has no name)."""
    uid = os.getuid()
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = f"uid {uid}"
    return Who(kind="os_user", name=name, uid=uid)


def output_of(path: Path) -> Output:
    """An output file with its SHA-256 and size."""
    hasher, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return Output(path=str(path), sha256=hasher.hexdigest(), size=size)


@dataclass(frozen=True)
class Access:
    """One export to log."""

    action: str
    since: datetime
    until: datetime
    targets: Sequence[str]
    outputs: Sequence[Path]
    fingerprint: str | None = None
    who: Who = field(default_factory=os_user)
    channel: Literal["cli", "workbench"] = "cli"


def record(data_dir: Path, access: Access) -> Entry:
    """Append `access` to the data directory's log; AccessLogError when it cannot."""
    path = data_dir / FILE
    try:
        outputs = [output_of(p) for p in access.outputs if p.is_file()]
        with path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # one chain, whoever appends
            seq, prev = _last(handle)
            entry = Entry(
                format=FORMAT,
                seq=seq + 1,
                at=format_instant(datetime.now(UTC)),
                who=access.who,
                action=access.action,  # type: ignore[arg-type]  # checked by the model
                since=format_instant(access.since),
                until=format_instant(access.until),
                targets=sorted(access.targets),
                outputs=outputs,
                fingerprint=access.fingerprint,
                channel=access.channel,
                software=f"prefecture-watchdog {__version__}",
                prev_hash=prev,
            )
            line = canonical_json(entry.model_dump())
            handle.seek(0, os.SEEK_END)
            if handle.tell() and not _ends_with_newline(handle):
                handle.write(b"\n")  # after a torn line: verify names it, the chain goes on
            handle.write(line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except (OSError, ValueError) as exc:  # ValidationError is a ValueError
        raise AccessLogError(f"cannot append to {path}: {exc}") from exc
    return entry


def _ends_with_newline(handle: BinaryIO) -> bool:
    handle.seek(-1, os.SEEK_END)
    return handle.read(1) == b"\n"


def _last(handle: BinaryIO) -> tuple[int, str | None]:
    """(seq, hash) of the last complete entry, (0, None) for an empty log."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return 0, None
    handle.seek(max(0, end - TAIL))
    tail = handle.read()
    for line in reversed(tail.split(b"\n")):
        if not line:
            continue
        try:
            seq = json.loads(line)["seq"]
        except (ValueError, KeyError, TypeError):
            continue  # a torn line: the entry before it is the last one
        if isinstance(seq, int):
            return seq, sha256_hex(line)
    return 0, None


# -- verifying ------------------------------------------------------------------------------


@dataclass
class AccessCheck:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    present: bool = False


def verify(data_dir: Path) -> AccessCheck:
    """Recompute the access log's chain: every line an entry, each naming the one before."""
    check = AccessCheck()
    path = data_dir / FILE
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return check
    except OSError as exc:
        check.problems.append(f"{path} cannot be read: {exc}")
        return check
    check.present = True
    expected_seq, prev = 1, None
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.removesuffix(b"\n")
            problem = _check_line(line, expected_seq, prev)
            if problem is not None:
                check.problems.append(f"{FILE} line {number}: {problem}")
                if len(check.problems) >= 20:
                    check.problems.append("… (not read further)")
                    break
            if problem is not None and problem.startswith(NOT_AN_ENTRY):
                continue  # a torn line: the next entry names the one before it
            check.entries += 1
            expected_seq, prev = expected_seq + 1, sha256_hex(line)
    return check


def _check_line(line: bytes, seq: int, prev: str | None) -> str | None:
    if len(line) > MAX_LINE:
        return f"{NOT_AN_ENTRY}: longer than {MAX_LINE} bytes"
    try:
        entry = Entry.model_validate_json(line)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the line"
        return f"{NOT_AN_ENTRY} ({where}: {first['msg']}; an interrupted write?)"
    if canonical_json(entry.model_dump()) != line:
        return "not in canonical form: it was edited"
    if entry.seq != seq:
        return f"seq {entry.seq} where {seq} was expected: an entry was removed or moved"
    if entry.prev_hash != prev:
        return (
            f"its prev_hash {entry.prev_hash} does not name the entry before ({prev}): an "
            "entry was changed, removed or moved"
        )
    return None
