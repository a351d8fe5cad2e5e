"""Which browser probes keep a Playwright trace, and what it holds (issue 20).

Every probe without operator secrets is traced: its actions and the console always, the DOM
snapshots and the network log that comes with them once its target is in trouble (its
previous probe's trace was kept), and always for a one-off probe a person runs. The trace
is kept only for probes that end badly (`probe_error`, `unrecognized`, `timeout`) and
dropped unwritten for the rest. Real Chromium against the simulator.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from harness import Sim, probe_and_store, target, write_config

from watchdog.domain.models import Observation, Outcome
from watchdog.engine.runner import Runner, trace_snapshots
from watchdog.evidence.policy import EvidenceMemory
from watchdog.store import Store


def _probe(sim: Sim, tmp_path: Path, key: str, **settings: Any) -> Observation:
    config = write_config(tmp_path, [target("t", "legacy_booking", sim.entry_url(key))],
                          **settings)  # fmt: skip
    return probe_and_store(sim, config, "t")


def _probes(sim: Sim, tmp_path: Path, key: str, count: int, **runner: Any) -> list[Observation]:
    """`count` probes of one target by one runner, as the daemon runs them, stored."""
    config = write_config(tmp_path, [target("t", "legacy_booking", sim.entry_url(key))])
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir, config.watchdog.database_url)
    try:
        probe = Runner(config, store.blobs.put, sim.host, **runner)
        return [store.append(sim.loop.run(probe.probe(found))) for _ in range(count)]
    finally:
        store.close()


def _trace_files(tmp_path: Path, obs: Observation) -> dict[str, bytes]:
    assert obs.evidence.trace is not None
    store = Store.open(tmp_path / "data")
    try:
        blob = store.blobs.get(obs.evidence.trace)
    finally:
        store.close()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _events(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def test_a_probe_that_ends_normally_keeps_no_trace(sim: Sim, tmp_path: Path) -> None:
    obs = _probe(sim, tmp_path, "legacy-no-slot")
    assert obs.outcome.value == "no_slot"
    assert obs.evidence.trace is None
    # The evidence its reading points at stays: the page as served, its capture, framed.
    assert obs.evidence.html and obs.evidence.screenshot and obs.evidence.framed


def _kinds(files: dict[str, bytes]) -> set[str]:
    return {event["type"] for event in _events(files["trace.trace"])}


def _loaded(files: dict[str, bytes]) -> list[str]:
    network = _events(files.get("trace.network", b""))
    return [e["snapshot"]["request"]["url"] for e in network if e["type"] == "resource-snapshot"]


def test_an_unrecognized_page_keeps_its_actions_then_the_full_trace(
    sim: Sim, tmp_path: Path
) -> None:
    first, second = _probes(sim, tmp_path, "legacy-redesign", 2)
    assert first.outcome.value == second.outcome.value == "unrecognized"
    # The first probe of a fault: the journey's actions, with their parameters and timing
    # (the first page it asked for), without the snapshots nobody asked for yet.
    files = _trace_files(tmp_path, first)
    events = _events(files["trace.trace"])
    gotos = [e["params"]["url"] for e in events if e["type"] == "before" and e["method"] == "goto"]
    assert gotos == [first.steps[0].url] and "after" in _kinds(files)
    assert "frame-snapshot" not in _kinds(files) and not _loaded(files)
    # The next probe of the target in trouble: the DOM around each action and the network
    # log too, where the page the journey asked for is.
    files = _trace_files(tmp_path, second)
    assert "frame-snapshot" in _kinds(files)
    assert second.steps[0].url in _loaded(files)
    # The page each ended on is kept beside the trace, as for every probe.
    for obs in (first, second):
        assert obs.evidence.html and obs.evidence.screenshot and obs.evidence.framed


def test_a_one_off_probe_keeps_the_full_trace_at_once(sim: Sim, tmp_path: Path) -> None:
    (obs,) = _probes(sim, tmp_path, "legacy-redesign", 1, full_traces=True)
    assert obs.outcome.value == "unrecognized"
    files = _trace_files(tmp_path, obs)
    assert "frame-snapshot" in _kinds(files) and obs.steps[0].url in _loaded(files)


def test_snapshots_start_after_a_kept_trace_and_stop_after_a_good_end() -> None:
    memory, recorded = EvidenceMemory(), []
    timeline = [
        Outcome.NO_SLOT,
        Outcome.PROBE_ERROR,  # kept: the next probe records everything
        Outcome.TIMEOUT,  # kept again
        Outcome.AVAILABLE,  # a good end: the next probe is back to its actions
        Outcome.UNRECOGNIZED,
        Outcome.CAPTCHA,
    ]
    for outcome in timeline:
        recorded.append(trace_snapshots(memory.last_outcome("t")))
        memory.remember("t", outcome, None, None)
    assert recorded == [False, False, True, True, False, True]


def test_a_restart_keeps_a_target_in_trouble(sim: Sim, tmp_path: Path) -> None:
    """The daemon seeds the policy's memory from each target's last stored observation."""
    (obs,) = _probes(sim, tmp_path, "legacy-redesign", 1)
    store = Store.open(tmp_path / "data")
    try:
        memory = EvidenceMemory()
        memory.seed([obs], store.blobs.get)
    finally:
        store.close()
    assert memory.last_outcome("t") is Outcome.UNRECOGNIZED
    assert trace_snapshots(memory.last_outcome("t")) and not trace_snapshots(None)


def test_a_timeout_keeps_its_trace(sim: Sim, tmp_path: Path) -> None:
    obs = _probe(sim, tmp_path, "legacy-hang", browser={"probe_timeout": "3s"})
    assert obs.outcome.value == "timeout"
    events = _events(_trace_files(tmp_path, obs)["trace.trace"])
    assert any(event.get("method") == "goto" for event in events if event["type"] == "before")
