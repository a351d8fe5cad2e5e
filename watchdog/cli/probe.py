"""`watchdog probe TARGET`: one probe now, stored, printed; with `--dry-run`, not stored.

A dry run opens no store: its evidence is hashed, not kept, and nothing joins a chain.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys

from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.domain.errors import TargetNotFound
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.engine.browser import BrowserHost
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
    runner = Runner(config, store.blobs.put, full_traces=True)
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


# -- probe --dry-run --------------------------------------------------------------------


def _hash_only(data: bytes, _kind: str) -> str:
    """A blob sink that keeps nothing: the evidence is named, not stored."""
    return hashlib.sha256(data).hexdigest()


async def dry_run(
    config: Config,
    target_id: str,
    *,
    as_json: bool,
    debug: bool = False,
    host: BrowserHost | None = None,
) -> Observation:
    """Probe once and print the observation; no store is opened, no evidence kept."""
    target = config.target(target_id)
    if target is None:
        known = ", ".join(t.id for t in config.targets) or "none"
        raise TargetNotFound(f"no target {target_id!r} in {config.source} (known: {known})")
    runner = Runner(config, _hash_only, host, full_traces=True)
    try:
        obs = await runner.probe(target)
    finally:
        if host is None:
            await runner.close()
    if as_json:
        print(obs.model_dump_json())
    else:
        print(render_observation(obs))
    if debug:
        print(render_dry_debug(obs, target))
    print("dry run: nothing stored, no evidence kept, no chain extended", file=sys.stderr)
    return obs


def render_dry_debug(obs: Observation, target: Target) -> str:
    """`probe --debug` for a dry run: the evidence is named by its hashes, kept nowhere."""
    steps = [(s.name, str(s.status or "-"), f"{s.ms} ms", s.url) for s in obs.steps]
    out = ["", "step trail", table(("step", "status", "time", "url"), steps) if steps else "-"]
    rows = [(kind, sha) for kind, sha in obs.evidence.blobs().items()]
    out += ["", "evidence (dry run: not kept)"]
    out.append(table(("kind", "sha256"), rows) if rows else "(none)")
    out += ["", "environment", json.dumps(obs.env.model_dump(mode="json"), indent=2)]
    out += ["", "metrics this observation exports", would_export(obs, target)]
    return "\n".join(out)


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_probe(args: argparse.Namespace) -> int:
        config = load(args)
        if not args.dry_run:
            return asyncio.run(probe_once(config, args.target, as_json=args.json, debug=args.debug))
        obs = asyncio.run(dry_run(config, args.target, as_json=args.json, debug=args.debug))
        return 1 if obs.outcome is Outcome.PROBE_ERROR else 0

    p = add_verb(sub, "probe")
    add_config(p)
    p.add_argument("target", help="target id (see `watchdog targets`)")
    p.add_argument("--json", action="store_true", help="print the observation as one JSON object")
    p.add_argument("--debug", action="store_true", help="step trail, evidence paths, metrics")
    p.add_argument("--dry-run", action="store_true",
                   help="probe and print, store nothing (no evidence, no chain)")  # fmt: skip
    p.set_defaults(handler=cmd_probe)
