"""The scheduler's state file: what `watchdog run` is doing, for `watchdog status` to read.

`watchdog run` rewrites `data_dir/scheduler-state.json` every few seconds and on exit
(atomically: temp file, fsync, rename). It carries next-due times and back-off per target
and host; a restarted `watchdog run` takes the back-off levels back from it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from watchdog.daemon.scheduler import Counters, Snapshot, to_datetime
from watchdog.domain.models import Outcome
from watchdog.store.atomic import write_atomically

STATE_FILE = "scheduler-state.json"
FORMAT = 1


class TargetState(BaseModel):
    host: str
    next_due: datetime
    in_flight: bool
    runs: int
    last_outcome: Outcome | None
    backoff_level: int


class HostState(BaseModel):
    level: int
    multiplier: float
    active: int
    concurrent: int
    requests_per_minute: float
    last_failure: Outcome | None
    failing_since: datetime | None


class StateFile(BaseModel):
    format: int = FORMAT
    written_at: datetime
    pid: int
    running: bool
    config: str
    started_at: datetime
    probes_started: int
    observations_recorded: int
    probes_abandoned: int
    failures: int
    targets: dict[str, TargetState]
    hosts: dict[str, HostState]

    def backoff(self) -> dict[str, int]:
        """Back-off level per host, for a restarted scheduler."""
        return {key: host.level for key, host in self.hosts.items() if host.level}


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def build_state(
    snapshot: Snapshot,
    counters: Counters,
    *,
    running: bool,
    config: str,
    started_at: datetime,
) -> StateFile:
    targets = {
        t.id: TargetState(
            host=t.host,
            next_due=to_datetime(t.due),
            in_flight=t.in_flight,
            runs=t.runs,
            last_outcome=t.last_outcome,
            backoff_level=t.backoff_level,
        )
        for t in snapshot.targets
    }
    hosts = {
        h.host: HostState(
            level=h.level,
            multiplier=h.multiplier,
            active=h.active,
            concurrent=h.concurrent,
            requests_per_minute=h.requests_per_minute,
            last_failure=h.last_failure,
            failing_since=to_datetime(h.failing_since) if h.failing_since is not None else None,
        )
        for h in snapshot.hosts
    }
    return StateFile(
        written_at=to_datetime(snapshot.taken_at),
        pid=os.getpid(),
        running=running,
        config=config,
        started_at=started_at,
        probes_started=counters.started,
        observations_recorded=counters.recorded,
        probes_abandoned=counters.abandoned,
        failures=counters.failed,
        targets=targets,
        hosts=hosts,
    )


def write_state(path: Path, state: StateFile) -> None:
    """Replace `path` atomically: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(state.model_dump(mode="json"), indent=1, sort_keys=True).encode()
    write_atomically(path, data, prefix=".state-")


def read_state(path: Path) -> StateFile | None:
    """The state file, or None when absent or unreadable (status then relies on the store)."""
    try:
        return StateFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
