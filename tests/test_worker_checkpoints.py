"""Checkpoints and RFC 3161 timestamps in the scale-out mode, on the test PostgreSQL.

Exactly one worker holds the checkpoint role (a session advisory lock, watchdog/workers/
checkpoints.py): it writes the checkpoints of every chain, whoever appends, and asks the TSA
for the tokens. First the role itself, in process: one holder among two; a checkpoint only
when a chain grew; the holder's session ended (`pg_terminate_backend`, as a dead machine's
would be) → the other takes the role and checkpoints at once, without asking for a token
before `tsa_every`. Then end to end: two `watchdog worker` processes against the simulator and
a local TSA (tests/tsafix.py); a checkpoint and a token appear, `watchdog verify` passes and
reports the token; the holder SIGKILLed → the survivor takes the role and writes a later
checkpoint. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import SIM_NOW
from harness import LoopThread
from polling import wait_until
from test_workers import WATCHDOG, _config, _observations, _scenario, _start_worker, _stop
from tsafix import Authority, LocalTSA

from watchdog.config.loader import Config
from watchdog.domain.models import Observation
from watchdog.metrics.registry import Metrics
from watchdog.simulator.app import entry_path, serve
from watchdog.simulator.scenario import load_scenario
from watchdog.store import Store, timestamps
from watchdog.store import checkpoint as checkpoints
from watchdog.workers.checkpoints import ROLE_LOCK_KEY, CheckpointRole

QUICK = ("c0", "c1", "c2")


def _tokens(data_dir: Path) -> list[Path]:
    return sorted((data_dir / timestamps.DIR).glob("*.tsr"))


def _holders(engine: sa.Engine) -> list[int]:
    """The backends holding the role's advisory lock (a bigint key: two 32-bit halves)."""
    with engine.connect() as conn:
        key = int(conn.execute(sa.select(ROLE_LOCK_KEY)).scalar_one()) & (2**64 - 1)
        found = conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid) "
                "AND objsubid = 1"
            ),
            {"high": key >> 32, "low": key & 0xFFFF_FFFF},
        )
        return [int(pid) for pid in found.scalars()]


def test_one_worker_holds_the_role_and_a_lost_session_passes_it_on(
    tmp_path: Path,
    pg_url: str,
    tsa: LocalTSA,
    authority: Authority,
    make_observation: Callable[..., Observation],
) -> None:
    data = tmp_path / "data"
    every = timestamps.Authority(tsa.url, authority.ca, 10.0, 3600.0, "watchdog-test")
    engine = sa.create_engine(pg_url)
    with Store.open(data, pg_url) as one, Store.open(data, pg_url) as two:
        a = CheckpointRole(one, every, Metrics(), "a")
        b = CheckpointRole(two, every, Metrics(), "b")
        try:
            one.append(make_observation("t1", 0))
            first = a.tick()
            assert first is not None and a.held
            assert b.tick() is None and not b.held  # one holder: b neither writes nor stamps
            assert len(_holders(engine)) == 1
            assert len(_tokens(data)) == 1 and tsa.requests == 1

            # Whoever appends, the holder covers it; nothing new, nothing written.
            two.append(make_observation("t2", 0))
            two.append(make_observation("t1", 1))
            second = a.tick()
            assert second is not None
            assert second.by_target() == {
                h.target: (h.seq, h.hash) for h in checkpoints.current_heads(one)
            }
            assert {t: seq for t, (seq, _) in second.by_target().items()} == {"t1": 2, "t2": 1}
            assert a.tick() is None and b.tick() is None
            assert checkpoints.load(data).checkpoint == second

            # The holder's session ends as a dead machine's would: b takes the role, writes
            # a checkpoint at once, and asks for no token before tsa_every (the last counts).
            [pid] = _holders(engine)
            with engine.connect() as conn:
                conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
            wait_until(lambda: not _holders(engine), 30, "the holder's session ended")
            two.append(make_observation("t2", 1))
            third = b.tick()
            assert third is not None and b.held
            assert third.by_target()["t2"][0] == 2
            assert a.tick() is None and not a.held  # it sees its loss and writes nothing
            assert len(_tokens(data)) == 1 and tsa.requests == 1

            # A clean stop gives the role back with a last checkpoint.
            one.append(make_observation("t1", 2))
            b.stop()
            assert not b.held and checkpoints.load(data).checkpoint == b.last
            assert b.last is not None and b.last.by_target()["t1"][0] == 3
            assert a.tick() is not None and a.held
        finally:
            a.stop()
            b.stop()
            engine.dispose()
    assert checkpoints.load(data).problem is None


@pytest.fixture
def quick_sim(tmp_path: Path) -> Iterator[dict[str, str]]:
    """One simulator (one host) with quick journeys; target id → entry URL."""
    loop = LoopThread()
    targets = [
        {"key": key, "platform": "legacy_booking", "id": 9300 + n,
         "behaviour": [{"state": "no_slot"}]}
        for n, key in enumerate(QUICK)
    ]  # fmt: skip
    scenario = load_scenario(_scenario(tmp_path / "sim.yaml", targets))
    runner, port = loop.run(serve(scenario, "127.0.0.1", 0, clock=lambda: SIM_NOW))
    try:
        yield {key: f"http://127.0.0.1:{port}" + entry_path(scenario.by_key(key)) for key in QUICK}
    finally:
        loop.run(runner.cleanup())
        loop.stop()


def _health(config: Config, name: str) -> dict[str, Any]:
    """A worker's /healthz, found through its Prometheus file_sd entry."""
    assert config.workers.file_sd_dir is not None
    entry = config.workers.file_sd_dir / f"{name}.json"
    if not entry.exists():
        return {}
    [[address]] = [item["targets"] for item in json.loads(entry.read_text())]
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as response:
        found: dict[str, Any] = json.loads(response.read())
        return found


def test_two_workers_checkpoint_and_stamp_once_and_the_role_survives_its_holder(
    tmp_path: Path,
    pg_url: str,
    tsa: LocalTSA,
    authority: Authority,
    quick_sim: dict[str, str],
) -> None:
    section = {"tsa_url": tsa.url, "tsa_ca": str(authority.ca), "tsa_every": "1h"}
    config = _config(tmp_path, pg_url, quick_sim, 4.0, checkpoints=section)
    data = config.watchdog.data_dir
    names = ("w1", "w2")
    workers = {name: _start_worker(config, name, tmp_path / f"{name}.log") for name in names}

    def logs() -> str:
        return "\n".join((tmp_path / f"{n}.log").read_text(errors="replace") for n in names)

    def alive() -> None:
        for proc in workers.values():
            assert proc.poll() is None, logs()

    def roles() -> dict[str, bool]:
        alive()
        return {n: bool(_health(config, n).get("checkpoints", {}).get("role")) for n in workers}

    def covered(since: checkpoints.Checkpoint | None = None) -> checkpoints.Checkpoint | None:
        """The current checkpoint once it names every quick target (and differs from
        `since`): the holder covers what both workers appended."""
        alive()
        found = checkpoints.load(data).checkpoint
        if found is None or found == since or set(found.by_target()) != set(QUICK):
            return None
        return found

    try:
        first = wait_until(covered, 90, "a checkpoint of every chain")
        wait_until(lambda: _tokens(data), 60, "a timestamp token")
        wait_until(lambda: sum(roles().values()) == 1, 30, "one worker reporting the role")
        [holder] = [n for n, held in roles().items() if held]
        assert logs().count("holds the checkpoint role") == 1
        assert tsa.requests == 1  # tsa_every: one token, whatever the checkpoints since

        os.kill(workers[holder].pid, signal.SIGKILL)
        workers.pop(holder).wait(10)
        [survivor] = workers
        wait_until(lambda: roles()[survivor], 60, f"{survivor} taking the role")
        later = wait_until(lambda: covered(first), 60, "a later checkpoint")
        assert later.created_at > first.created_at
        for target, (seq, _) in first.by_target().items():
            assert later.by_target()[target][0] >= seq
    finally:
        _stop(workers)
    assert workers[survivor].returncode == 0, logs()
    assert len(_tokens(data)) == 1 and tsa.requests == 1
    assert len(_observations(config)) >= len(QUICK)

    verify = subprocess.run(
        [WATCHDOG, "verify", "--config", config.source],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "1 valid timestamp(s)" in verify.stdout, verify.stdout
    assert "Throw-away test TSA" in verify.stdout, verify.stdout
