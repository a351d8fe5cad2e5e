"""`observations` and `show`: reading the record without writing to it.

Both open the store read-only (watchdog/store/record.py): they never write, never probe, never
create a data directory. (`probe --dry-run`, which probes without storing, is in
watchdog/cli/probe.py.)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from watchdog.cli.probe import render_observation
from watchdog.cli.progress import Advance, progress
from watchdog.cli.recordargs import instant, outcomes, selection, until
from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config
from watchdog.domain.target import Target
from watchdog.store import Store
from watchdog.store.evidencefiles import export_evidence, open_evidence
from watchdog.store.record import (
    COLUMNS,
    Entry,
    Inspection,
    count,
    evidence_paths,
    inspect,
    observation_fields,
    open_read_only,
    paris,
    select,
)

Handler = Callable[[argparse.Namespace], int]
MESSAGE_WIDTH = 60
PROGRESS_EVERY = 1000


# -- observations -----------------------------------------------------------------------


def cmd_observations(args: argparse.Namespace, config: Config) -> int:
    catalog = {t.id: t for t in config.targets}
    chosen = selection(args, config)
    with open_read_only(config.watchdog.data_dir, config.watchdog.database_url) as store:
        total = count(store, chosen) if sys.stderr.isatty() else None
        with progress("reading observations", total) as advance:
            rows = (
                observation_fields(e, catalog.get(e.observation.target), store.blobs)
                for e in _advancing(select(store, chosen), advance)
            )
            if args.json:
                written, seen = _write_json(rows, sys.stdout)
            elif args.csv:
                written, seen = _write_csv(rows, sys.stdout)
            else:
                written, seen = _write_table(list(rows), sys.stdout)
    print(_summary(written, seen), file=sys.stderr if args.json or args.csv else sys.stdout)
    return 0


def _advancing(entries: Iterator[Entry], advance: Advance) -> Iterator[Entry]:
    done = 0
    for entry in entries:
        yield entry
        done += 1
        if done % PROGRESS_EVERY == 0:
            advance(done)
    advance(done)


def _write_json(rows: Iterable[dict[str, Any]], out: TextIO) -> tuple[int, set[str]]:
    """A JSON array, written row by row (a long record is never held in memory)."""
    done, seen = 0, set[str]()
    out.write("[")
    for row in rows:
        out.write(",\n" if done else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        done += 1
        seen.add(row["target"])
    out.write("\n]\n" if done else "]\n")
    return done, seen


def _write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> tuple[int, set[str]]:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    done, seen = 0, set[str]()
    for row in rows:
        writer.writerow(row)
        done += 1
        seen.add(row["target"])
    return done, seen


def _write_table(rows: list[dict[str, Any]], out: TextIO) -> tuple[int, set[str]]:
    headers = ("Paris time", "UTC", "target", "outcome", "slots", "earliest slot", "message",
               "evidence", "id")  # fmt: skip
    cells = [_cells(row) for row in rows]
    if cells:
        out.write(table(headers, cells) + "\n")
    return len(rows), {row["target"] for row in rows}


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    message = row["message"] or "-"
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    evidence = row["evidence_framed"] or row["evidence_screenshot"] or row["evidence_html"]
    return (
        row["started_paris"][:19].replace("T", " "),
        row["started_utc"][:19].replace("T", " "),
        row["target"],
        f"{row['outcome']} ({row['detail']})",
        "-" if row["slots"] is None else str(row["slots"]),
        row["earliest_slot"] or "-",
        " ".join(message.split()),
        evidence or "-",
        row["id"],
    )


def _summary(done: int, targets: set[str]) -> str:
    return f"{done} observation(s) of {len(targets)} target(s); nothing written"


# -- show -------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    with open_read_only(config.watchdog.data_dir, config.watchdog.database_url) as store:
        found = inspect(store, args.obs_id)
        target = config.target(found.observation.target)
        if args.json:
            print(json.dumps(show_json(found, store), ensure_ascii=False, indent=2))
        else:
            print(render_show(found, target, store))
        if args.export is not None:
            files = export_evidence(found.observation, found.document, store.blobs, args.export)
            print(f"wrote {len(files)} evidence file(s) and SHA256SUMS to {args.export}",
                  file=sys.stderr)  # fmt: skip
        if args.open:
            opened = open_evidence(found.observation, found.document, store.blobs)
            print(f"opened {opened}", file=sys.stderr)
    return 0 if found.ok else 1


def show_json(found: Inspection, store: Store) -> dict[str, Any]:
    obs = found.observation
    return {
        "observation": {**json.loads(found.document), "hash": obs.hash},
        "chain": {
            "target": obs.target,
            "seq": found.seq,
            "length": found.chain_length,
            "previous": found.previous_id,
            "next": found.next_id,
        },
        "evidence_paths": evidence_paths(obs, store.blobs),
        "checks": [{"name": c.name, "ok": c.ok, "note": c.note} for c in found.checks],
        "verified": found.ok,
    }


def render_show(found: Inspection, target: Target | None, store: Store) -> str:
    obs = found.observation
    where = f"{target.department} {target.prefecture} — {target.label}" if target else "-"
    out = [
        render_observation(obs),
        f"journey     {where}",
        f"started     {paris(obs.started_at)} (Paris)  {obs.started_at.isoformat()} (UTC)",
        f"finished    {paris(obs.finished_at)} (Paris)",
        f"http status {obs.http_status if obs.http_status is not None else '-'}",
        f"prev hash   {obs.prev_hash or '-'}",
        f"chain       seq {found.seq} of {found.chain_length} for {obs.target}"
        f" (previous {found.previous_id or '-'}, next {found.next_id or '-'})",
    ]
    out += [f"dialog      {text}" for text in obs.dialogs]
    steps = [(s.name, str(s.status or "-"), f"{s.ms} ms", s.url) for s in obs.steps]
    out += ["", "step trail", table(("step", "status", "time", "url"), steps) if steps else "-"]
    paths = evidence_paths(obs, store.blobs)
    rows = [(kind, sha, paths[kind]) for kind, sha in obs.evidence.blobs().items()]
    out += ["", "evidence", table(("kind", "sha256", "path"), rows) if rows else "(none)"]
    if obs.evidence.html_sha256:
        out.append(f"page as served: sha256 {obs.evidence.html_sha256} (html + html_volatile)")
    out += ["", "environment", json.dumps(obs.env.model_dump(mode="json"), indent=2)]
    verdict = "verified" if found.ok else "NOT VERIFIED"
    out += ["", f"verification: {verdict}"]
    out += [f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.note}" for c in found.checks]
    return "\n".join(out)


# -- registration -----------------------------------------------------------------------


def register(
    sub: Subparsers,
    load: Loader,
    add_config: AddConfig,
) -> None:
    """Add `observations` and `show`."""
    p = add_verb(sub, "observations")
    add_config(p)
    p.add_argument("--target", action="append", help="target id (repeat or comma-separate)")
    p.add_argument("--department", action="append", help="département code, e.g. 93")
    p.add_argument("--from", dest="first", type=instant, help="from this Paris day or instant")
    p.add_argument(
        "--to", dest="last", type=until, help="through this Paris day, or to this instant"
    )
    p.add_argument(
        "--outcome", action="append", type=outcomes, help="outcome, e.g. no_slot (repeatable)"
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON array, one object each")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    p.set_defaults(handler=lambda a: cmd_observations(a, load(a)))

    p = add_verb(sub, "show")
    add_config(p)
    p.add_argument("obs_id", metavar="OBS_ID", help="observation id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="write its evidence as named files (framed.png, page.html…)")  # fmt: skip
    p.add_argument("--open", action="store_true", help="open the framed capture in a viewer")
    p.set_defaults(handler=lambda a: cmd_show(a, load(a)))
