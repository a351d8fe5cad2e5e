"""Which browser probes keep a Playwright trace, and what it holds (issue 20).

Every probe without operator secrets is traced (actions, console, DOM snapshots and the
network log that comes with them); the trace is kept only for probes that end badly
(`probe_error`, `unrecognized`, `timeout`) and dropped unwritten for the rest. Real Chromium
against the simulator.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from harness import Sim, probe_and_store, target, write_config

from watchdog.domain.models import Observation
from watchdog.store import Store


def _probe(sim: Sim, tmp_path: Path, key: str, **settings: Any) -> Observation:
    config = write_config(tmp_path, [target("t", "legacy_booking", sim.entry_url(key))],
                          **settings)  # fmt: skip
    return probe_and_store(sim, config, "t")


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


def test_an_unrecognized_page_keeps_a_trace_with_dom_and_network(sim: Sim, tmp_path: Path) -> None:
    obs = _probe(sim, tmp_path, "legacy-redesign")
    assert obs.outcome.value == "unrecognized"
    files = _trace_files(tmp_path, obs)
    events = _events(files["trace.trace"])
    kinds = {event["type"] for event in events}
    # The journey's actions, with their parameters and timing: the first page it asked for.
    gotos = [e["params"]["url"] for e in events if e["type"] == "before" and e["method"] == "goto"]
    assert gotos == [obs.steps[0].url] and "after" in kinds
    # The DOM around each action and the network log: the page the journey asked for is in it.
    assert "frame-snapshot" in kinds
    network = _events(files["trace.network"])
    loaded = [e["snapshot"]["request"]["url"] for e in network if e["type"] == "resource-snapshot"]
    assert obs.steps[0].url in loaded
    # The page it ended on is kept beside the trace, as for every probe.
    assert obs.evidence.html and obs.evidence.screenshot and obs.evidence.framed


def test_a_timeout_keeps_its_trace(sim: Sim, tmp_path: Path) -> None:
    obs = _probe(sim, tmp_path, "legacy-hang", browser={"probe_timeout": "3s"})
    assert obs.outcome.value == "timeout"
    events = _events(_trace_files(tmp_path, obs)["trace.trace"])
    assert any(event.get("method") == "goto" for event in events if event["type"] == "before")
