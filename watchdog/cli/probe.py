"""`watchdog probe TARGET`: one probe now, stored, printed."""

from __future__ import annotations

import asyncio
import json

from watchdog.cli.tables import table
from watchdog.config.loader import Config
from watchdog.domain.errors import TargetNotFound
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import would_export
from watchdog.store import Store


def render_observation(obs: Observation) -> str:
    lines = [
        f"target      {obs.target}",
        f"outcome     {obs.outcome.value} ({obs.detail})",
        f"message     {obs.message or '-'}",
        f"slots       {obs.slots if obs.slots is not None else '-'}",
        f"earliest    {obs.earliest_slot.isoformat() if obs.earliest_slot else '-'}",
        f"final url   {obs.final_url or '-'}",
        f"duration    {obs.duration_s:.2f} s",
        f"observation {obs.id}",
        f"hash        {obs.hash}",
    ]
    if obs.published_next is not None:
        lines.insert(5, f"next pub.   {obs.published_next.isoformat()}")
    return "\n".join(lines)


def render_debug(obs: Observation, target: Target, store: Store) -> str:
    steps = [(s.name, str(s.status or "-"), f"{s.ms} ms", s.url) for s in obs.steps]
    out = ["", "step trail", table(("step", "status", "time", "url"), steps)]
    rows = [(kind, str(store.blobs.path(sha))) for kind, sha in obs.evidence.blobs().items()]
    if obs.evidence.html_sha256:  # names the page as served, which html + html_volatile rebuild
        rows.append(("html_sha256", obs.evidence.html_sha256))
    out += ["", "evidence", table(("kind", "path"), rows) if rows else "(none)"]
    out += ["", "environment", json.dumps(obs.env.model_dump(mode="json"), indent=2)]
    out += ["", "metrics this observation exports", would_export(obs, target)]
    return "\n".join(out)


async def probe_once(config: Config, target_id: str, *, as_json: bool, debug: bool) -> int:
    target = config.target(target_id)
    if target is None:
        known = ", ".join(t.id for t in config.targets) or "none"
        raise TargetNotFound(f"no target {target_id!r} in {config.source} (known: {known})")
    store = await asyncio.to_thread(
        Store.open, config.watchdog.data_dir, config.watchdog.database_url
    )
    runner = Runner(config, store.blobs.put)
    try:
        observation = await runner.probe(target)
        sealed = await asyncio.to_thread(store.append, observation)
    finally:
        await runner.close()
        store.close()
    if as_json:
        print(sealed.model_dump_json())
    else:
        print(render_observation(sealed))
    if debug:
        print(render_debug(sealed, target, store))
    return 1 if sealed.outcome is Outcome.PROBE_ERROR else 0
