"""Time limits of a journey (issue 18 item 3, RGAA 4.1 criterion 13.1): those an audit run sees
on the pages it visits, and those the platform's documentation records.

Seen on a page: a `<meta http-equiv="refresh">` with a delay (the page reloads or leaves on a
timer the person cannot stop: not extendable), and a session the site ended, recognised by the
platform's own documented marker in the address a step page came from (for RDV-Préfecture the
redirect to `cgu/?error=errorSessionInvalide`). Documented: watchdog/data/a11y-time-limits.yaml,
copied into every run, marked `seen: false`. Whether a session can be extended is never
guessed: unless a page shows it, it is `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from importlib import resources
from typing import Any

import yaml

from watchdog.domain.models import Extendable, Observation, SessionEnd, Step, TimeLimit

TABLE = "a11y-time-limits.yaml"
# The content of every meta refresh of the page, as the page carries it.
META_REFRESH_JS = """() => Array.from(document.querySelectorAll('meta[http-equiv]'))
  .filter(m => (m.getAttribute('http-equiv') || '').toLowerCase() === 'refresh')
  .map(m => m.getAttribute('content') || '')"""
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Documented:
    limit: TimeLimit
    ended_by: str | None  # the marker that the session ended, in a step's address


def parse(data: bytes) -> dict[str, list[Documented]]:
    raw = yaml.safe_load(data)
    table: dict[str, list[Documented]] = {}
    for platform, entries in (raw.get("platforms") or {}).items():
        table[str(platform)] = [_documented(dict(e)) for e in entries or []]
    return table


def _documented(entry: dict[str, Any]) -> Documented:
    ended_by = entry.pop("ended_by", None)
    limit = TimeLimit(seen=False, extendable=Extendable.UNKNOWN, **entry)
    return Documented(limit, str(ended_by) if ended_by is not None else None)


@cache
def documented() -> dict[str, list[Documented]]:
    return parse(resources.files("watchdog").joinpath("data", TABLE).read_bytes())


def refresh_limit(step: str, contents: Iterable[str]) -> TimeLimit | None:
    """The first meta refresh with a delay (a delay of 0 is a redirect, not a time limit)."""
    for content in contents:
        found = _DELAY.match(content)
        if found is not None and float(found.group(1)) > 0:
            return TimeLimit(
                kind="refresh",
                seen=True,
                step=step,
                seconds=float(found.group(1)),
                extendable=Extendable.NO,  # a meta refresh offers the person no control
                shown_as=f'<meta http-equiv="refresh" content="{content[:200]}">',
            )
    return None


def limits_of(platform: str, steps: Iterable[Step], seen: Iterable[TimeLimit]) -> list[TimeLimit]:
    """Every time limit of one run: those seen on its pages, a documented session end met in
    its trail (then seen, on that step), and the documented ones it did not meet."""
    found = list(seen)
    trail = list(steps)
    for doc in documented().get(platform, []):
        step = next((s for s in trail if doc.ended_by and doc.ended_by in s.url), None)
        if step is None:
            found.append(doc.limit)
        else:
            found.append(doc.limit.model_copy(update={"seen": True, "step": step.name}))
    return found


def with_session_end(observation: Observation, end: SessionEnd | None) -> Observation:
    """An audit with its platform's documented session limit (one whose marker the site
    shows) marked seen in the last assisted session the site ended (`end`): how long it was
    still open, and by when it had ended, after the person's answer. Unchanged otherwise."""
    audit = observation.audit
    if audit is None or end is None:
        return observation
    limits = []
    for limit in audit.time_limits:
        if limit.kind == "session" and limit.shown_as and _marker(limit.shown_as):
            limit = limit.model_copy(update={
                "seen": True, "session": end.session, "lasted_s": end.lasted_s,
                "ended_s": end.ended_s,
                "ended_at": end.ended_at.astimezone(UTC).isoformat(),
            })  # fmt: skip
        limits.append(limit)
    updated = audit.model_copy(update={"time_limits": limits})
    return observation.model_copy(update={"audit": updated})


def _marker(shown_as: str) -> bool:
    """Whether `shown_as` is a marker a step's address can carry (documented `ended_by`)."""
    return any(
        doc.ended_by is not None and doc.limit.shown_as == shown_as
        for docs in documented().values()
        for doc in docs
    )
