"""The evidence policy: DOM and hashes always kept, screenshots as `screenshots:` says.

The rules on their own (a fake timeline), then through the real runner and simulator on
both engines: what is kept, what is omitted, and that every outcome run starts with one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Sim, target, write_config

from watchdog.config.loader import Config
from watchdog.domain.models import Observation, Outcome, Screenshots
from watchdog.engine.runner import Runner
from watchdog.evidence.policy import EvidenceMemory, page_fingerprint
from watchdog.store import Store

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NO, AV = Outcome.NO_SLOT, Outcome.AVAILABLE


def _timeline(policy: Screenshots, events: list[tuple[float, Outcome, str]]) -> list[bool]:
    """(minutes after T0, outcome, page) → whether each observation gets a screenshot."""
    memory = EvidenceMemory()
    kept = []
    for minutes, outcome, page in events:
        now = T0 + timedelta(minutes=minutes)
        wanted = memory.wants_screenshot("t", policy, outcome, page, now)
        memory.remember("t", outcome, page, now if wanted else None)
        kept.append(wanted)
    return kept


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Screenshots.EVERY, [True, True, True, True, True, True]),
        (Screenshots.ON_CHANGE, [True, False, True, False, True, True]),
        (Screenshots.HOURLY, [True, False, False, True, True, True]),
        (Screenshots.DAILY, [True, False, False, False, True, True]),
    ],
)
def test_screenshot_rules(policy: Screenshots, expected: list[bool]) -> None:
    events = [
        (0, NO, "a"),  # first observation: always
        (20, NO, "a"),  # nothing new
        (40, NO, "b"),  # the page changed, same outcome
        (61, NO, "b"),  # an hour after the first screenshot, nothing new
        (62, AV, "c"),  # a new outcome run starts: always
        (63, NO, "b"),  # and another
    ]
    assert _timeline(policy, events) == expected


def test_a_run_whose_first_screenshot_failed_gets_one_next_time() -> None:
    memory = EvidenceMemory()
    memory.remember("t", NO, "a", None)  # wanted, but the capture failed
    assert memory.wants_screenshot("t", Screenshots.DAILY, NO, "a", T0)
    memory.remember("t", NO, "a", T0)
    assert not memory.wants_screenshot("t", Screenshots.DAILY, NO, "a", T0)


def test_volatile_tokens_do_not_make_a_page_new() -> None:
    page = (
        '<form action="/motive.do;jsessionid={sid}"><input type="hidden" name="csrf_token" '
        'value="{token}"><a href="/auth?state={state}&x=1">Se connecter</a>'
        "<p>session {hexid}</p><p>{text}</p></form>"
    )
    one = page.format(sid="A1B2", token="t0k3n", state="9f" * 16, hexid="ab" * 16, text="Aucun")
    two = page.format(sid="Z9Y8", token="other", state="0e" * 16, hexid="cd" * 16, text="Aucun")
    changed = page.format(sid="Z9Y8", token="other", state="0e" * 16, hexid="cd" * 16, text="3")
    assert page_fingerprint(one) == page_fingerprint(two)
    assert page_fingerprint(one) != page_fingerprint(changed)


def _config(tmp_path: Path, url: str, engine: str, screenshots: str) -> Config:
    fields: dict[str, Any] = {"engine": engine, "screenshots": screenshots}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_config(tmp_path, [{**target("t", "legacy_booking", url), **fields}])


def _observe(sim: Sim, runner: Runner, config: Config, count: int) -> list[Observation]:
    found = config.target("t")
    assert found is not None
    store = Store.open(config.watchdog.data_dir)
    try:
        return [store.append(sim.loop.run(runner.probe(found))) for _ in range(count)]
    finally:
        store.close()


def _shots(observations: list[Observation]) -> list[bool]:
    for obs in observations:
        assert obs.evidence.html, obs  # the DOM is kept whatever the policy
        assert bool(obs.evidence.screenshot) == bool(obs.evidence.framed)
    return [bool(obs.evidence.screenshot) for obs in observations]


@pytest.mark.parametrize("engine", ["browser", "request"])
def test_on_change_keeps_one_screenshot_for_an_unchanged_page(
    sim: Sim, tmp_path: Path, engine: str
) -> None:
    config = _config(tmp_path, sim.entry_url("legacy-no-slot"), engine, "on_change")
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put, sim.host)
    store.close()
    observations = _observe(sim, runner, config, 3)
    assert _shots(observations) == [True, False, False]
    assert {obs.env.screenshots for obs in observations} == {Screenshots.ON_CHANGE}
    # The unchanged page is one blob: only its first copy took space.
    assert len({obs.evidence.html for obs in observations}) == 1


def test_every_keeps_a_screenshot_each_time(sim: Sim, tmp_path: Path) -> None:
    config = _config(tmp_path, sim.entry_url("legacy-no-slot"), "request", "every")
    store = Store.open(config.watchdog.data_dir)
    runner = Runner(config, store.blobs.put, sim.host)
    store.close()
    assert _shots(_observe(sim, runner, config, 2)) == [True, True]


def test_each_outcome_run_starts_with_a_screenshot(sim: Sim, tmp_path: Path) -> None:
    """no_slot, no_slot, available, available, no_slot on one target under `daily`."""
    no_slot = _config(tmp_path / "a", sim.entry_url("legacy-no-slot"), "request", "daily")
    slots = _config(tmp_path / "b", sim.entry_url("legacy-slots"), "request", "daily")
    store = Store.open(no_slot.watchdog.data_dir)
    first = Runner(no_slot, store.blobs.put, sim.host)
    # A reloaded config gets a new runner; it keeps the policy's memory.
    second = Runner(slots, store.blobs.put, sim.host, memory=first.memory)
    store.close()
    observations = [
        *_observe(sim, first, no_slot, 2),
        *_observe(sim, second, slots, 2),
        *_observe(sim, first, no_slot, 1),
    ]
    assert [o.outcome for o in observations] == [NO, NO, AV, AV, NO]
    assert _shots(observations) == [True, False, True, False, True]


def test_a_restart_continues_the_outcome_run(sim: Sim, tmp_path: Path) -> None:
    """Seeded from the store (as `watchdog run` does), a restarted runner takes no new
    screenshot of an unchanged page; without the seed it would start a new run."""
    config = _config(tmp_path, sim.entry_url("legacy-no-slot"), "request", "on_change")
    store = Store.open(config.watchdog.data_dir)
    try:
        assert _shots(_observe(sim, Runner(config, store.blobs.put, sim.host), config, 1)) == [True]
        restarted = Runner(config, store.blobs.put, sim.host)
        restarted.memory.seed(store.last_per_target().values(), store.blobs.get)
        unseeded = Runner(config, store.blobs.put, sim.host)
        assert _shots(_observe(sim, restarted, config, 1)) == [False]
        assert _shots(_observe(sim, unseeded, config, 1)) == [True]
    finally:
        store.close()
