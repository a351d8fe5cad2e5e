"""`watchdog status`: per target the last outcome and time, the next due time and back-off.

Last outcomes come from the store (the truth); next-due times and back-off from the state
file that `watchdog run` keeps. Without a running watchdog the next due time is estimated
from the last observation (last start + interval), marked with "~".
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from watchdog.cli.tables import table
from watchdog.config.loader import Config
from watchdog.daemon.state import StateFile, read_state, state_path
from watchdog.domain.models import Observation
from watchdog.store import BlobStore
from watchdog.store.record import NothingRecorded, evidence_paths, open_read_only

STALE_AFTER = timedelta(seconds=30)  # the daemon rewrites its state every few seconds


@dataclass(frozen=True)
class TargetRow:
    target: str
    host: str
    last_outcome: str | None
    last_detail: str | None
    last_time: datetime | None
    next_due: datetime | None
    next_due_estimated: bool
    in_flight: bool
    backoff_level: int
    backoff_multiplier: float
    tags: list[str]
    last_id: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # kind -> path, last observation


@dataclass(frozen=True)
class StatusReport:
    daemon: str  # running | stopped | stale | never-run
    pid: int | None
    state_written_at: datetime | None
    rows: list[TargetRow]

    def to_json(self) -> dict[str, Any]:
        return {
            "daemon": self.daemon,
            "pid": self.pid,
            "state_written_at": _iso(self.state_written_at),
            "targets": [
                {**asdict(r), "last_time": _iso(r.last_time), "next_due": _iso(r.next_due)}
                for r in self.rows
            ],
        }


def collect(config: Config, now: datetime | None = None) -> StatusReport:
    """Read the store (read-only; none yet: nothing observed) and the state file."""
    now = now or datetime.now(UTC)
    state = read_state(state_path(config.watchdog.data_dir))
    try:
        store = open_read_only(config.watchdog.data_dir, config.watchdog.database_url)
    except NothingRecorded:
        last: dict[str, Observation] = {}
        blobs = None
    else:
        with store:
            last, blobs = store.last_per_target(), store.blobs
    rows = [
        _row(config, target_id, last.get(target_id), state, blobs) for target_id in _ids(config)
    ]
    return StatusReport(
        daemon=_daemon_state(state, now),
        pid=state.pid if state is not None else None,
        state_written_at=state.written_at if state is not None else None,
        rows=rows,
    )


def _ids(config: Config) -> list[str]:
    return [t.id for t in config.targets if t.enabled]


def _row(
    config: Config,
    target_id: str,
    obs: Observation | None,
    state: StateFile | None,
    blobs: BlobStore | None,
) -> TargetRow:
    target = config.target(target_id)
    assert target is not None
    live = state.targets.get(target_id) if state is not None else None
    host = state.hosts.get(target.netloc) if state is not None else None
    next_due, estimated = (live.next_due, False) if live is not None else (None, True)
    if live is None and obs is not None:
        next_due = obs.started_at + target.interval
    return TargetRow(
        target=target_id,
        host=target.netloc,
        last_outcome=obs.outcome.value if obs is not None else None,
        last_detail=obs.detail if obs is not None else None,
        last_time=obs.finished_at if obs is not None else None,
        next_due=next_due,
        next_due_estimated=estimated,
        in_flight=bool(live and live.in_flight and state and state.running),
        backoff_level=host.level if host is not None else 0,
        backoff_multiplier=host.multiplier if host is not None else 1.0,
        tags=list(obs.tags) if obs is not None else [],
        last_id=obs.id if obs is not None else None,
        evidence=evidence_paths(obs, blobs) if obs is not None and blobs is not None else {},
    )


def _daemon_state(state: StateFile | None, now: datetime) -> str:
    if state is None:
        return "never-run"
    if not state.running:
        return "stopped"
    if now - state.written_at > STALE_AFTER or not _alive(state.pid):
        return "stale"
    return "running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(report: StatusReport, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    head = f"watchdog run: {report.daemon}"
    if report.pid is not None and report.state_written_at is not None:
        head += f" (pid {report.pid}, state written {_ago(report.state_written_at, now)})"
    headers = ("target", "last outcome", "last time (UTC)", "next due (UTC)", "back-off", "host")
    rows = [_cells(r, now) for r in report.rows]
    body = table(headers, rows) if rows else "(no targets)"
    return f"{head}\n{body}{_evidence(report.rows)}"


EVIDENCE_SHOWN = ("framed", "screenshot", "html", "trace")


def _evidence(rows: list[TargetRow]) -> str:
    """Where the last observation's evidence is (`watchdog show ID --export DIR` names it)."""
    cells = [
        (row.target, kind, row.evidence[kind])
        for row in rows
        for kind in EVIDENCE_SHOWN
        if kind in row.evidence
    ]
    if not cells:
        return ""
    return "\n\nevidence of the last observations\n" + table(("target", "kind", "path"), cells)


def _cells(row: TargetRow, now: datetime) -> tuple[str, ...]:
    outcome = "-" if row.last_outcome is None else f"{row.last_outcome} ({row.last_detail})"
    if row.tags:
        outcome += f" [{', '.join(row.tags)}]"
    if row.in_flight:
        due = "probing now"
    elif row.next_due is None:
        due = "-"
    else:
        due = ("~" if row.next_due_estimated else "") + _when(row.next_due, now)
    backoff = (
        "-"
        if row.backoff_level == 0
        else f"x{row.backoff_multiplier:g} (level {row.backoff_level})"
    )
    last = _when(row.last_time, now) if row.last_time is not None else "-"
    return (row.target, outcome, last, due, backoff, row.host)


def _when(instant: datetime, now: datetime) -> str:
    stamp = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} ({_relative(instant, now)})"


def _relative(instant: datetime, now: datetime) -> str:
    seconds = (instant - now).total_seconds()
    span = _span(abs(seconds))
    return f"in {span}" if seconds >= 0 else f"{span} ago"


def _ago(instant: datetime, now: datetime) -> str:
    return f"{_span(abs((now - instant).total_seconds()))} ago"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
