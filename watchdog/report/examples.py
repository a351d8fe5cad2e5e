"""Example captures for the constats: framed screenshots, reduced and embedded as data URIs.

The report shows a reduced copy (the HTML must stay light enough to print); its caption
gives the SHA-256 of the framed original, which the evidence bundle holds in full.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass

from PIL import Image

from watchdog.domain.errors import StoreError
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.rates import COUNTED
from watchdog.domain.target import Target
from watchdog.stats import queries
from watchdog.stats.calendar import Period
from watchdog.stats.series import SeriesStats
from watchdog.store.db import Store

MAX_WIDTH = 1000
MAX_HEIGHT = 1300
SEARCH_DEPTH = 500
FRAMED_MARK = '"framed":"'  # a framed capture's hash in the canonical JSON
BARRIERS = tuple(o for o in COUNTED if o not in (Outcome.AVAILABLE, Outcome.NO_SLOT))


@dataclass(frozen=True)
class Example:
    ref: str  # "C1", "C2" … cited in the text and the evidence index
    observation: Observation
    target: Target
    framed_sha: str
    image: str  # data: URI of the reduced copy
    reduced: bool


def latest(store: Store, target: str, period: Period, outcome: Outcome) -> Observation | None:
    """The latest observation of `target` with `outcome` that has a framed capture, among
    the most recent SEARCH_DEPTH ones (captures may be kept only on change)."""
    with closing(store.scan(queries.recent(target, period, outcome, SEARCH_DEPTH))) as rows:
        row = next((r for r in rows if FRAMED_MARK in r.doc), None)
    if row is None:
        return None
    return Observation.model_validate_json(row.doc).model_copy(update={"hash": row.hash})


def pick_examples(
    store: Store,
    targets: Sequence[Target],
    period: Period,
    series: dict[str, SeriesStats],
    limit: int = 6,
) -> list[Example]:
    """No-slot pages of the worst series first, then the commonest barrier, then a slot."""
    by_rate = sorted(targets, key=lambda t: -(series[t.id].no_slot_rate.value or 0.0))
    barrier = _commonest_barrier(series.values())
    wanted = [(t, Outcome.NO_SLOT) for t in by_rate[:2]]
    if barrier is not None:
        wanted += [(t, barrier) for t in by_rate if series[t.id].outcomes[barrier]][:1]
    wanted += [(t, Outcome.NO_SLOT) for t in by_rate[2:]]
    available = Outcome.AVAILABLE
    wanted += [(t, available) for t in by_rate if series[t.id].outcomes[available]][:1]
    found: list[Example] = []
    seen: set[str] = set()
    for target, outcome in wanted:
        if len(found) >= limit:
            break
        obs = latest(store, target.id, period, outcome)
        if obs is None or obs.id in seen or obs.evidence.framed is None:
            continue
        example = _example(store, f"C{len(found) + 1}", obs, target)
        if example is not None:
            seen.add(obs.id)
            found.append(example)
    return found


def _commonest_barrier(series: Iterable[SeriesStats]) -> Outcome | None:
    counts = dict.fromkeys(BARRIERS, 0)
    for stats in series:
        for outcome in BARRIERS:
            counts[outcome] += stats.outcomes[outcome]
    best = max(counts, key=lambda o: counts[o])
    return best if counts[best] else None


def _example(store: Store, ref: str, obs: Observation, target: Target) -> Example | None:
    sha = obs.evidence.framed
    if sha is None:
        return None
    try:
        data = store.blobs.get(sha)
    except StoreError:
        return None  # a missing blob is `watchdog verify`'s finding, not the report's
    image, reduced = reduce_png(data)
    uri = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    return Example(ref, obs, target, sha, uri, reduced)


def reduce_png(
    data: bytes, max_width: int = MAX_WIDTH, max_height: int = MAX_HEIGHT
) -> tuple[bytes, bool]:
    """A copy at most `max_width` wide, cut at `max_height` (the banner is at the top)."""
    with Image.open(io.BytesIO(data)) as image:
        picture = image.convert("RGB")
    reduced = False
    if picture.width > max_width:
        ratio = max_width / picture.width
        picture = picture.resize(
            (max_width, round(picture.height * ratio)), Image.Resampling.LANCZOS
        )
        reduced = True
    if picture.height > max_height:
        picture = picture.crop((0, 0, picture.width, max_height))
        reduced = True
    if not reduced:
        return data, False
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue(), True
