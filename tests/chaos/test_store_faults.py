"""Store faults, with real databases and a real `watchdog run` (issue 13, item 4).

A lock held by another connection (SQLite BEGIN IMMEDIATE, a PostgreSQL table lock) past the
lock wait: the write is retried and committed once the lock goes, nothing lost, the chain
verifies. A lock held past the retry budget: the observation is dropped, counted and named.
A full disk (the daemon's RLIMIT_FSIZE lowered from outside: writes past 4 KiB fail as on a
full volume, even for root): /healthz answers 503, the counters rise, and both heal once the
space is back. Every wait is a poll against a deadline.
"""

from __future__ import annotations

import hashlib
import json
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from polling import wait_until
from simproc import simulator_process

from watchdog.domain.errors import StoreError, StoreUnavailable
from watchdog.domain.models import Observation
from watchdog.store import BlobStore, Store
from watchdog.store.connect import SQLITE_FILE
from watchdog.store.verify import verify_store
from watchdog.store.writes import WriteHealth, WriteKind, WriteRetry

REPO = Path(__file__).resolve().parents[2]
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
MakeObs = Callable[..., Observation]
# Short waits so that a lock of a second or two goes through every branch.
QUICK = WriteRetry(budget_s=30.0, first_delay_s=0.05, max_delay_s=0.2, lock_wait_s=0.3)
PROBE_DEADLINE = 90  # a probe takes 2 s on an idle machine, up to 20 s on a loaded runner


# -- the store alone, on both backends -------------------------------------------------------


@contextmanager
def locked(data_dir: Path, database_url: str | None) -> Iterator[None]:
    """Another connection holds the write lock (SQLite) or the heads' table lock (PostgreSQL)."""
    if database_url is None:
        other = sqlite3.connect(data_dir / SQLITE_FILE, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("LOCK TABLE chain_heads IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def failing_error(store: Store) -> str | None:
    failing = store.health.snapshot().failing
    return failing[0].error if failing else None


def lock_message(database_url: str | None) -> str:
    """What the driver says when the lock wait runs out."""
    return "database is locked" if database_url is None else "canceling statement due to lock"


def test_a_lock_held_past_the_lock_wait_is_retried_and_nothing_is_lost(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    with Store.open(data_dir, database_url, retry=QUICK) as store, ThreadPoolExecutor(1) as pool:
        before = [store.append(make_observation(n=n)) for n in range(3)]
        with locked(data_dir, database_url):
            pending: Future[Observation] = pool.submit(store.append, make_observation(n=3))
            # The writer meets the lock, says so, and keeps trying while it is held.
            wait_until(lambda: failing_error(store), 10, "the lock in the store's health")
            assert lock_message(database_url) in (failing_error(store) or "")
            wait_until(
                lambda: store.health.snapshot().errors[WriteKind.OBSERVATION] >= 2, 10, "a retry"
            )
            assert not pending.done() and not store.health.snapshot().writable
        committed = pending.result(timeout=10)
        health = store.health.snapshot()
        assert health.writable and health.failing == () and health.dropped == 0
        assert committed.prev_hash == before[-1].hash
        assert store.count() == 4 and store.last_for_target("paris-a") == committed
        assert verify_store(store).ok


def test_a_lock_held_past_the_budget_drops_the_observation_counted_and_named(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    short = WriteRetry(budget_s=1.0, first_delay_s=0.05, max_delay_s=0.2, lock_wait_s=0.2)
    with Store.open(data_dir, database_url, retry=short) as store:
        kept = store.append(make_observation(n=0))
        lost = make_observation(n=1)
        with locked(data_dir, database_url), pytest.raises(StoreUnavailable) as raised:
            store.append(lost)
        message = str(raised.value)
        assert lock_message(database_url) in message and f"dropped: {lost.id}" in message
        assert "still failing after" in message
        health = store.health.snapshot()
        assert health.dropped == 1 and not health.writable
        assert health.errors[WriteKind.OBSERVATION] >= 2
        # The lock is gone: the next write goes through and the health heals.
        after = store.append(make_observation(n=2))
        assert after.prev_hash == kept.hash
        assert store.health.snapshot().writable and store.health.snapshot().dropped == 1
        assert store.count() == 2 and store.get(lost.id) is None
        assert verify_store(store).ok


def test_an_error_that_cannot_heal_is_not_retried_but_still_counted(
    data_dir: Path, database_url: str | None, make_observation: MakeObs
) -> None:
    with Store.open(data_dir, database_url, retry=QUICK) as store:
        kept = store.append(make_observation(n=0))
        started = time.monotonic()
        with pytest.raises(StoreError, match=f"dropped: {kept.id}"):
            store.append(make_observation(n=1).model_copy(update={"id": kept.id}))
        assert time.monotonic() - started < QUICK.budget_s / 2  # one attempt, no back-off
        health = store.health.snapshot()
        assert health.errors[WriteKind.OBSERVATION] == 1 and health.dropped == 1
        assert health.failing[0].attempts == 1


def test_shutdown_cuts_a_waiting_write_short(data_dir: Path, make_observation: MakeObs) -> None:
    with Store.open(data_dir, retry=QUICK) as store, ThreadPoolExecutor(1) as pool:
        with locked(data_dir, None):
            pending = pool.submit(store.append, make_observation(n=0))
            wait_until(lambda: failing_error(store), 10, "the lock in the store's health")
            store.stop_retrying()
            with pytest.raises(StoreUnavailable, match="dropped"):
                pending.result(timeout=5)  # well within QUICK.budget_s
        assert store.health.snapshot().dropped == 1 and store.count() == 0


def test_evidence_that_cannot_be_written_is_counted_and_heals_once_evidence_is_kept(
    tmp_path: Path,
) -> None:
    health = WriteHealth()
    blobs = BlobStore(tmp_path / "evidence", health)
    page = blobs.put(b"<html>no slot</html>", "html")
    shot = b"screenshot " * 100
    fan_out = blobs.path(hashlib.sha256(shot).hexdigest()).parent.parent
    assert not fan_out.exists()
    fan_out.write_bytes(b"a file where the blob's directory goes")  # mkdir fails, even for root
    with pytest.raises(StoreError, match="cannot write screenshot evidence blob"):
        blobs.put(shot, "screenshot")
    snapshot = health.snapshot()
    assert not snapshot.writable and snapshot.errors[WriteKind.EVIDENCE] == 1
    assert snapshot.failing[0].kind is WriteKind.EVIDENCE
    # The next probe's page is the same page: kept already, nothing of it is lost.
    assert blobs.put(b"<html>no slot</html>", "html") == page
    assert health.snapshot().writable
    fan_out.unlink()
    assert blobs.verify(blobs.put(shot, "screenshot"))
    assert health.snapshot().errors == {WriteKind.OBSERVATION: 0, WriteKind.EVIDENCE: 1}


# -- `watchdog run` ------------------------------------------------------------------------

SCENARIO = {
    "simulated": True,
    "seed": 5,
    "targets": [{"key": "quiet", "platform": "legacy_booking", "id": 9001,
                 "behaviour": [{"state": "no_slot"}]}],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> tuple[int, bytes] | None:
    """Status and body, 5xx included; None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return None


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with simulator_process(tmp_path_factory.mktemp("sim"), SCENARIO) as port:
        yield f"http://127.0.0.1:{port}"


class Daemon:
    """`watchdog run` whose output goes to a pipe: a full disk must not silence its log."""

    def __init__(self, folder: Path, base: str) -> None:
        self.data_dir = folder / "data"
        self.port = free_port()
        self.config = folder / "watchdog.yaml"
        self.lines: list[str] = []
        targets = [
            {"id": f"quiet-{i}", "department": "01", "prefecture": "Ain",
             "procedure": "premiere_demande", "label": f"Cas {i}", "platform": "legacy_booking",
             "url": f"{base}/booking/create/9001/0", "interval": "2s"}
            for i in range(2)
        ]  # fmt: skip
        body = {
            "watchdog": {"data_dir": str(self.data_dir), "min_interval": "1s", "simulated": True,
                         "allowed_hosts": ["127.0.0.1"]},
            "browser": {"probe_timeout": "30s"},
            "politeness": {"per_host": {"requests_per_minute": 120, "concurrent": 2}},
            "listen": {"port": self.port},
            "targets": targets,
        }  # fmt: skip
        self.config.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
        self.proc = subprocess.Popen(
            [WATCHDOG, "run", "--config", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(lambda: self.health(), 30, "/healthz")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def health(self) -> tuple[int, dict[str, Any]] | None:
        answer = fetch(f"http://127.0.0.1:{self.port}/healthz")
        return (answer[0], json.loads(answer[1])) if answer is not None else None

    def metric(self, line_start: str) -> float:
        answer = fetch(f"http://127.0.0.1:{self.port}/metrics")
        assert answer is not None and answer[0] == 200
        for line in answer[1].decode().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{line_start} not exported")

    def recorded(self) -> int:
        found = self.health()
        return int(found[1]["observations_recorded"]) if found is not None else 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(PROBE_DEADLINE) == 0
        self._reader.join(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def unhealthy(self, kind: WriteKind) -> dict[str, Any] | None:
        found = self.health()
        if found is None or found[0] != 503:
            return None
        failing = [f for f in found[1]["store"]["failing"] if f["kind"] == kind.value]
        return found[1] if failing else None

    def healthy(self) -> dict[str, Any] | None:
        found = self.health()
        return found[1] if found is not None and found[0] == 200 else None


@pytest.fixture
def daemon(tmp_path: Path, simulator: str) -> Iterator[Callable[[], Daemon]]:
    started: list[Daemon] = []

    def start() -> Daemon:
        started.append(Daemon(tmp_path, simulator))
        return started[-1]

    yield start
    for d in started:
        d.kill()


def test_daemon_waits_out_a_locked_database_and_loses_nothing(
    daemon: Callable[[], Daemon],
) -> None:
    d = daemon()
    wait_until(lambda: d.recorded() >= 2, PROBE_DEADLINE, "observations before the lock")
    with locked(d.data_dir, None):
        # Writes wait 5 s for the lock, then /healthz and the metrics say so; they retry.
        body = wait_until(lambda: d.unhealthy(WriteKind.OBSERVATION), 30, "503 on /healthz")
        assert body["status"] == "unhealthy" and not body["store"]["writable"]
        assert "database is locked" in body["store"]["failing"][0]["error"]
        assert d.metric('watchdog_store_write_errors_total{kind="observation"}') >= 1
        assert d.metric("watchdog_store_writable") == 0
        waiting = body["observations_recorded"]
    # Released: the waiting observations are committed, the health heals by itself.
    body = wait_until(d.healthy, 30, "200 on /healthz")
    assert body["status"] == "ok" and body["store"]["failing"] == []
    wait_until(lambda: d.recorded() > waiting + 1, PROBE_DEADLINE, "writes after the lock")
    assert d.metric("watchdog_store_writable") == 1
    nothing_lost(d)
    assert "observation writes failing: " in d.log() and "succeed again after" in d.log()


def nothing_lost(d: Daemon) -> None:
    """Every probe's observation is in a verifying store: none failed, none dropped."""
    found = d.health()
    assert found is not None
    assert found[1]["failures"] == 0 and found[1]["store"]["observations_dropped"] == 0
    d.stop()
    with Store.open(d.data_dir) as store:
        assert f"stopped: {store.count()} observations recorded, 0 probes abandoned" in d.log()
        report = verify_store(store)
        assert report.ok, report
    assert "dropped" not in d.log()


def test_daemon_on_a_full_disk_turns_unhealthy_then_heals(daemon: Callable[[], Daemon]) -> None:
    d = daemon()
    wait_until(lambda: d.recorded() >= 2, PROBE_DEADLINE, "observations before the disk fills")
    hard = resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)[1]
    # No file of the daemon may grow past 4 KiB: the WAL, evidence blobs, the state file.
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (4096, hard))
    try:
        body = wait_until(lambda: d.unhealthy(WriteKind.EVIDENCE), 60, "503 on /healthz")
        assert body["status"] == "unhealthy" and not body["store"]["writable"]
        assert "File too large" in body["store"]["failing"][0]["error"]
        # Every probe meanwhile is either retried until there is room or dropped and counted.
        wait_until(lambda: (d.health() or (0, {}))[1].get("failures", 0) >= 2, 60, "2 probes")
        assert d.metric('watchdog_store_write_errors_total{kind="evidence"}') >= 1
        assert d.metric("watchdog_observations_dropped_total") >= 1
        # Between two probes a de-duplicated page may read as kept: the gauge is polled.
        wait_until(lambda: d.metric("watchdog_store_writable") == 0, 30, "writable 0")
        stuck = d.recorded()
    finally:
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
    body = wait_until(d.healthy, 60, "200 on /healthz once there is room again")
    assert body["status"] == "ok" and body["store"]["failing"] == []
    wait_until(lambda: d.recorded() > stuck + 1, PROBE_DEADLINE, "writes after the disk full")
    assert d.metric("watchdog_store_writable") == 1
    found = d.health()
    assert found is not None
    # Nothing vanished silently: each lost observation is a counted drop and a log line.
    dropped, failures = found[1]["store"]["observations_dropped"], found[1]["failures"]
    assert dropped == failures >= 1
    d.stop()
    log = d.log()
    assert log.count("the observation is dropped") + log.count("; dropped: ") == dropped
    assert "evidence writes failing: " in log and "evidence writes succeed again" in log
    with Store.open(d.data_dir) as store:
        assert f"stopped: {store.count()} observations recorded, 0 probes abandoned" in log
        report = verify_store(store)
        assert report.ok, report
