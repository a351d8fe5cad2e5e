"""The signed summary that stands in a chain for a stretch of observations retention pruned.

`watchdog retention apply` (watchdog/store/retention.py) removes the oldest observations of a
chain, seq `first_seq` to `last_seq`, in the transaction that writes one row of
`pruned_segments`: the RFC 8785 canonical JSON of a `Summary` (the hashes at both ends and
the hash the first one linked to, the period, the counts by outcome, the class that pruned
it, and every checkpoint head, timestamped or not, that named an observation of the
stretch), its SHA-256 and its HMAC-SHA256 under the checkpoint key (the key
watchdog/store/checkpoint.py signs checkpoints with).

`watchdog verify` then checks each summary's digest and signature, that a chain's summaries
follow each other from seq 1 (each `first_prev_hash` the previous `last_hash`), and that the
first kept observation links to the last summary's `last_hash`; a checkpoint or timestamp
that names a pruned observation holds when a summary names that very head (`attested`).

What it protects against, honestly, like the checkpoint: anyone who can change the database
but not read the key cannot forge or alter a summary; whoever holds the key can.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from watchdog.store.chain import canonical_json
from watchdog.store.db import Store
from watchdog.store.schema import pruned_segments

FORMAT: Final = "prefecture-watchdog-pruned/1"

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Seq = Annotated[int, Field(ge=1, le=2**53 - 1)]
Text = Annotated[str, StringConstraints(max_length=4096)]


class Covered(BaseModel):
    """A checkpoint head that named an observation of the pruned stretch."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    checkpoint: Sha256  # the checkpoint's digest (its tokens are named by it)
    created_at: Text
    seq: Seq
    hash: Sha256
    timestamped: bool  # an RFC 3161 token of that checkpoint was kept (timestamps/ or aside)


class Summary(BaseModel):
    """What stands in the chain for the observations seq first_seq..last_seq of `target`."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["prefecture-watchdog-pruned/1"]
    target: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    first_seq: Seq
    last_seq: Seq
    first_prev_hash: Sha256 | None
    first_hash: Sha256
    last_hash: Sha256
    first_started_at: Text
    last_started_at: Text
    observations: Seq
    outcomes: dict[Text, Annotated[int, Field(ge=1)]]
    retention: Text  # the class that pruned it, e.g. « rolling 400d »
    cutoff: Text  # observations started before this instant were due
    pruned_at: Text
    covered: list[Covered]
    blobs: Annotated[int, Field(ge=0)]  # evidence blobs that only the stretch referenced
    blob_bytes: Annotated[int, Field(ge=0)]
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]

    def body(self) -> bytes:
        """The canonical bytes that are signed, and whose SHA-256 is the row's digest."""
        return canonical_json(self.model_dump())

    def digest(self) -> str:
        return hashlib.sha256(self.body()).hexdigest()

    def period(self) -> str:
        return f"{self.first_started_at} → {self.last_started_at}"

    def instants(self) -> tuple[datetime, datetime, datetime]:
        """When the first and the last pruned observations started, and when they were pruned."""
        return tuple(  # type: ignore[return-value]
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            for text in (self.first_started_at, self.last_started_at, self.pruned_at)
        )

    def seqs(self) -> str:
        return f"seq {self.first_seq}–{self.last_seq}"

    def attested(self) -> set[tuple[int, str]]:
        """The (seq, hash) this summary vouches for: both ends and every covering head."""
        found = {(self.first_seq, self.first_hash), (self.last_seq, self.last_hash)}
        return found | {(c.seq, c.hash) for c in self.covered}

    def describe(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        stamped = sum(c.timestamped for c in self.covered)
        return (
            f"{self.target} {self.seqs()} ({self.period()}) pruned on {self.pruned_at} under "
            f"« {self.retention} »: {self.observations} observation(s) ({counts}), "
            f"{self.blobs} evidence blob(s) that only it referenced, {len(self.covered)} "
            "checkpoint head(s) "
            f"({stamped} timestamped) named in the summary"
        )


@dataclass(frozen=True)
class Stored:
    """One row of `pruned_segments`: its summary, or why it is not one."""

    target: str
    first_seq: int
    last_seq: int
    text: str
    digest: str
    signature: str
    summary: Summary | None
    problem: str | None


def read(row: sa.Row[Any]) -> Stored:
    """A row checked for shape and digest (the signature is the caller's: it needs the key)."""
    text = row.doc if isinstance(row.doc, str) else ""
    summary: Summary | None = None
    problem: str | None = None
    try:
        summary = Summary.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        problem = f"it is not a summary ({where}: {first['msg']})"
    if summary is not None:
        if hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() != row.digest:
            problem = "its digest is not the SHA-256 of its document"
        elif summary.body() != text.encode():
            problem = "its document is not in canonical form"
        elif (summary.target, summary.first_seq, summary.last_seq) != (
            row.target,
            row.first_seq,
            row.last_seq,
        ):
            problem = "its columns differ from its document"
        elif summary.last_seq < summary.first_seq:
            problem = "it ends before it starts"
    return Stored(
        row.target, row.first_seq, row.last_seq, text, row.digest, row.signature, summary, problem
    )


ALL = sa.select(pruned_segments).order_by(pruned_segments.c.target, pruned_segments.c.first_seq)


def stored(store: Store, where: sa.ColumnElement[bool] | None = None) -> list[Stored]:
    """The summaries (all, or those `where` selects), in target and seq order; none on a store
    of schema version 2 opened read-only (`show`), which has no such table yet."""
    try:
        with store.engine.connect() as conn:
            if not sa.inspect(conn).has_table(pruned_segments.name):
                return []
    except sa.exc.SQLAlchemyError as exc:
        raise store._failure("cannot read the store", exc) from exc
    stmt = ALL if where is None else ALL.where(where)
    return [read(row) for row in store.scan(stmt)]


def by_target(rows: list[Stored]) -> dict[str, list[Stored]]:
    found: dict[str, list[Stored]] = {}
    for stored in rows:
        found.setdefault(stored.target, []).append(stored)
    return found


def pruned_until(rows: list[Stored]) -> tuple[int, str | None]:
    """(last pruned seq, its hash) of one target's summaries in order; (0, None) if none."""
    if not rows:
        return 0, None
    last = rows[-1]
    return last.last_seq, (last.summary.last_hash if last.summary else None)


def attested(rows: list[Stored]) -> dict[int, set[str]]:
    """seq -> hashes that one target's readable summaries vouch for."""
    found: dict[int, set[str]] = {}
    for stored in rows:
        if stored.summary is not None:
            for seq, digest in stored.summary.attested():
                found.setdefault(seq, set()).add(digest)
    return found


def overlapping(rows: list[Stored], since: str, until: str) -> list[Summary]:
    """The readable summaries of `rows` whose period meets [since, until) (canonical UTC
    texts, whose order is time order)."""
    return [
        row.summary
        for row in rows
        if row.summary is not None
        and row.summary.first_started_at < until
        and row.summary.last_started_at >= since
    ]
