"""A stored document read back, and the evidence blobs it references: one rule for `verify`
and retention."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from watchdog.domain.models import NOT_BLOBS, nested_blobs


def evidence_of(doc: dict[str, Any] | None) -> Iterable[tuple[str, str]]:
    """(sha, kind) of each evidence blob a hashed document references: its `evidence`, the
    captures of the pages an audit found in breach, an assisted session's captcha frames, the
    pages a substitute channel check read."""
    evidence = doc.get("evidence") if doc else None
    if not isinstance(evidence, dict):
        return []
    found = [
        (str(sha), kind)
        for kind, sha in sorted(evidence.items())
        if sha is not None and kind not in NOT_BLOBS
    ]
    return found + [(sha, where) for sha, _kind, where in nested_blobs(doc)]


def parse_document(text: Any) -> dict[str, Any] | None:
    """A stored document as a dict, or None when it is not a JSON object."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # too deep: forged, never written by us
        return None
    return doc if isinstance(doc, dict) else None
