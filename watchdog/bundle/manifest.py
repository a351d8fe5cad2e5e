"""manifest.json as the verifier reads it: every field typed and bounded, or a clear refusal.

The manifest comes with the bundle, so it may be crafted: a string where a number belongs, a
number with a million digits, a list nested ten thousand deep. It is parsed by pydantic's
JSON parser (which bounds nesting) into strict models, and the first problem is named by its
place in the document (`chains[0].first_seq: …`). Unknown keys are ignored: a later format may
add some; `format` says which columns the CSV has.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from . import layout

MAX_SEQ = 2**53 - 1  # what a JSON number holds exactly
MAX_SIZE = 2**63 - 1  # what a zip64 entry may declare
MAX_TEXT = 4096

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class Span(_Strict):
    """One target's exported stretch of chain (export.ChainSpan as written)."""

    target: Text
    first_seq: Annotated[int, Field(ge=1, le=MAX_SEQ)]
    last_seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    count: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    anchor_prev_hash: Sha256 | None
    head_hash: Sha256 | None


class Listed(_Strict):
    path: Text
    sha256: Sha256
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)]


class Manifest(_Strict):
    format: Literal[
        "prefecture-watchdog-bundle/3",
        "prefecture-watchdog-bundle/2",
        "prefecture-watchdog-bundle/1",
    ]
    chains: list[Span]
    files: list[Listed]
    missing_evidence: list[Sha256] = []

    @property
    def columns(self) -> tuple[str, ...]:
        return layout.COLUMNS_BY_FORMAT[self.format]


def parse_manifest(raw: bytes) -> Manifest | str:
    """The manifest, or one line saying why it is refused."""
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        return describe(exc)


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, by its place in the document."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    where = where.lstrip(".") or "the document"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if first["type"] == "json_invalid":
        return f"not valid JSON: {first['msg']}{more}"
    return f"{where}: {first['msg']}{more}"
