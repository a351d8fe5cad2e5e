"""A stored document read back, and the evidence blobs it references: one rule for `verify`
and retention."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from watchdog.domain.models import NOT_BLOBS


def evidence_of(doc: dict[str, Any] | None) -> Iterable[tuple[str, str]]:
    """(sha, kind) of each evidence blob a hashed document references: its `evidence`, the
    captures of the pages an audit found in breach (`audit.pages[].screenshot|framed`), and
    the pages a substitute channel check read (`substitute.pages[].sha256`)."""
    evidence = doc.get("evidence") if doc else None
    if not isinstance(evidence, dict):
        return []
    found = [
        (str(sha), kind)
        for kind, sha in sorted(evidence.items())
        if sha is not None and kind not in NOT_BLOBS
    ]
    audit = doc.get("audit") if doc else None
    pages = audit.get("pages") if isinstance(audit, dict) else None
    for index, page in enumerate(pages if isinstance(pages, list) else []):
        where = f"audit page {index + 1}"
        found += _shas(page, where)
        violations = page.get("violations") if isinstance(page, dict) else None
        for v in violations if isinstance(violations, list) else []:
            rule = v.get("rule") if isinstance(v, dict) else None
            shots = v.get("shots") if isinstance(v, dict) else None
            for shot in shots if isinstance(shots, list) else []:
                found += _shas(shot, f"{where} {rule} element")
    check = doc.get("substitute") if doc else None
    checked = check.get("pages") if isinstance(check, dict) else None
    for index, page in enumerate(checked if isinstance(checked, list) else []):
        sha = page.get("sha256") if isinstance(page, dict) else None
        if sha is not None:  # a page a substitute channel check read, as served
            found.append((str(sha), f"substitute page {index + 1} html"))
    return found


def _shas(refs: object, where: str) -> list[tuple[str, str]]:
    """The screenshot and framed SHA-256 an audit's page or element names, if any."""
    if not isinstance(refs, dict):
        return []
    return [(str(refs[kind]), f"{where} {kind}") for kind in ("screenshot", "framed")
            if refs.get(kind) is not None]  # fmt: skip


def parse_document(text: Any) -> dict[str, Any] | None:
    """A stored document as a dict, or None when it is not a JSON object."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
