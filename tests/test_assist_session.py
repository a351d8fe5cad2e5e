"""An assisted session under a fake clock (issue 16): its pace, its end, and its record.

In one process: the simulator (its clock is the fake one, so the site's session expires in
simulated time), the runner with real headless Chromium, the assist desk and its workbench
pages, and a real store. A person (a second Chromium page) answers the captcha on the desk;
the desk then reads `creneau/` at the journey's interval and within the host's politeness
budget (the scheduler's own bucket, on the same fake clock) until the simulated site ends the
session. Time moves only when every read is done and the reading task sleeps on the clock,
so the instants checked are exact. The session's record is then checked: what it holds,
`verify` (and its tampering cases), a bundle and its offline check, the statistics.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fakeclock import FakeClock
from playwright.async_api import async_playwright
from polling import until

from watchdog.assist.desk import AssistedSession, Desk, Status, read_interval
from watchdog.assist.record import session_record
from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.config.loader import load_config
from watchdog.daemon.scheduler import Scheduler
from watchdog.domain.models import Observation, Outcome, assist_chain
from watchdog.domain.target import Target
from watchdog.engine.browser import find_chromium
from watchdog.engine.runner import Runner
from watchdog.metrics.registry import Metrics
from watchdog.simulator.media import captcha_png
from watchdog.simulator.scenario import Scenario
from watchdog.simulator.testing import running
from watchdog.stats import Period, compute
from watchdog.store import Store, record
from watchdog.store.schema import observations
from watchdog.store.verify import verify_store
from watchdog.workbench.server import bind_socket, binding, server

ANSWER = "TEST1234"
TOKEN = "assist-session-token-0123456789"
LIFETIME_S = 300  # the site keeps a solved session this long (simulated)
INTERVAL_S = 30  # the journey's interval
PER_MINUTE = 1  # the host's budget: one start a minute
KEY = "assist-pace"
WAIT_S = 60  # real seconds for one page load or one answer to settle


class TrackedClock(FakeClock):
    """The fake clock, knowing which task sleeps on it."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.waiting: dict[asyncio.Task[Any], asyncio.Future[None]] = {}

    async def sleep_until(self, when: float) -> None:
        if when <= self.now():
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        if task is not None:
            self.waiting[task] = future
        heapq.heappush(self._sleepers, (when, next(self._seq), future))
        await future

    def asleep(self, task: asyncio.Task[Any]) -> bool:
        future = self.waiting.get(task)
        return future is not None and not future.done()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now() + seconds)

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def wake_next(self) -> None:
        """Move to the earliest sleeper and wake it."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if self._sleepers:
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            future.set_result(None)


@dataclass
class Outcome_:
    """What the session left behind, for the tests below."""

    data_dir: Path
    target: Target
    read_times: list[float]  # fake instants at which each read started
    solved_at: float
    reads: list[Observation]
    session: AssistedSession
    shown: set[bytes]  # every captcha image the simulator served
    metrics: Metrics
    parked_after: list[AssistedSession] = field(default_factory=list)


SCENARIO = {
    "simulated": True, "seed": 11, "captcha_answer": ANSWER,
    "targets": [{"key": KEY, "platform": "rdv_prefecture", "id": 4301,
                 "session_lifetime": f"{LIFETIME_S}s",
                 "behaviour": [{"state": "slots", "slots": 2, "first_slot_in_days": 6}]}],
}  # fmt: skip


def config_file(folder: Path, url: str) -> Path:
    config = {
        "watchdog": {"data_dir": str(folder / "data"), "min_interval": "1s", "simulated": True,
                     "allowed_hosts": ["127.0.0.1"]},
        "browser": {"probe_timeout": "30s"},
        "politeness": {"per_host": {"requests_per_minute": PER_MINUTE, "concurrent": 1}},
        "assist": {"port": 0, "max_parked": 1, "wait_for_person": "10m", "max_session": "2h"},
        "targets": [{"id": KEY, "department": "78", "prefecture": "Yvelines",
                     "procedure": "premiere_demande", "label": "Cas assisté rythmé",
                     "platform": "rdv_prefecture", "url": url, "interval": f"{INTERVAL_S}s",
                     "options": {"captcha": "assisted"}}],
    }  # fmt: skip
    path = folder / "watchdog.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def drive(clock: TrackedClock, session: AssistedSession, limit_s: float) -> None:
    """Let the session run: wait (real time) for its read to finish and its task to sleep
    on the clock, then move the clock to the next wake-up; until the session ends."""
    end = clock.now() + limit_s
    while session.status is not Status.ENDED and clock.now() < end:
        reading = next((t for t in session.tasks if t.get_name().startswith("assist-read")), None)
        if reading is None:
            break

        def idle(task: asyncio.Task[Any] = reading) -> bool:
            return task.done() or clock.asleep(task)

        await until(idle, WAIT_S, "the read to finish and its task to sleep")
        if not reading.done():
            clock.wake_next()
    await until(lambda: session.status is Status.ENDED, WAIT_S, "the session to end")


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Outcome_:
    folder = tmp_path_factory.mktemp("assist-session")
    return asyncio.run(play(folder))


async def play(folder: Path) -> Outcome_:  # noqa: PLR0915 -- one session, start to end
    clock = TrackedClock(time.time() - 3600)  # simulated time stays before the real instants
    scenario = Scenario.model_validate(SCENARIO)
    async with running(scenario, clock=clock.datetime) as sim:
        config = load_config(config_file(folder, sim.entry_url(KEY)))
        target = config.targets[0]
        store = Store.open(config.watchdog.data_dir)
        metrics = Metrics()
        desk = Desk(config.assist, config.host_allowed, clock.datetime, clock.sleep,
                    simulated=True)  # fmt: skip
        runner = Runner(config, store.blobs.put, desk=desk)

        async def no_probe(t: Target) -> Observation:
            raise AssertionError("the schedule is not run here")

        async def no_record(o: Observation, t: Target) -> None:
            raise AssertionError("the schedule is not run here")

        scheduler = Scheduler(config, no_probe, no_record, clock=clock)
        read_times: list[float] = []
        reads: list[Observation] = []

        async def reader(session: AssistedSession, first: bool) -> bool:  # as the daemon's
            read_times.append(clock.now())
            obs = await runner.read_assisted(session, first)
            sealed = store.append(obs)
            desk.note_read(sealed)
            reads.append(sealed)
            on_slots = obs.final_url is not None and "/creneau/" in obs.final_url
            return on_slots and obs.outcome is not Outcome.CAPTCHA

        async def recorder(session: AssistedSession) -> None:  # as the daemon's
            sealed = store.append(session_record(session, "test", simulated=True))
            metrics.assisted_session(target, sealed)

        desk.reader, desk.budget, desk.recorder = reader, scheduler.take_budget, recorder
        desk.put_blob = store.blobs.put
        bound = binding("127.0.0.1", 0, False, TOKEN)
        sock = bind_socket(bound.host, bound.port)
        app = server(config, store, bound, desk=desk)
        serving = asyncio.create_task(app.serve(sockets=[sock]))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/assistance"
        try:
            probe = await runner.probe(target)
            assert probe.outcome is Outcome.CAPTCHA
            store.append(probe)
            [session] = desk.sessions()
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=find_chromium(None, None))
                page = await browser.new_page(locale="fr-FR")
                await page.goto(f"{base}/{session.id}?token={TOKEN}")
                await page.wait_for_function(
                    "() => document.getElementById('captcha-image').naturalWidth > 0"
                )
                await page.fill("input[name='captchaUsercode']", ANSWER)
                async with page.expect_navigation():
                    await page.click("form.answer button[type='submit']")
                assert "a accepté le code" in await page.inner_text("#result")
                await browser.close()
            solved_at = clock.now()
            await drive(clock, session, LIFETIME_S * 3)
            assert session.status is Status.ENDED
            # The journey's next probe meets the captcha: parked again, then the watchdog
            # stops (a restart): the parked page is closed and its record says why.
            again = await runner.probe(target)
            store.append(again)
            parked_after = desk.sessions()
            await desk.close()
            served = {captcha_png(str(e.query["t"])) for e in sim.state.log.entries
                      if e.query.get("get") == "image"}  # fmt: skip
            assert not sim.state.log.flagged  # every answer was marked as a person's
        finally:
            app.should_exit = True
            await asyncio.wait_for(serving, 10)
            sock.close()
            await runner.close()
            store.close()
    return Outcome_(folder / "data", target, read_times, solved_at, reads, session, served,
                    metrics, parked_after)  # fmt: skip


def records(data_dir: Path, target: str) -> list[Observation]:
    with Store.open(data_dir) as store:
        return list(store.iter_observations(assist_chain(target)))


def test_reads_keep_the_interval_and_the_host_budget_until_the_site_ends_the_session(
    played: Outcome_,
) -> None:
    times = [t - played.solved_at for t in played.read_times]
    assert times[0] == 0  # the page the person's answer opened
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= INTERVAL_S for gap in gaps), gaps
    # Each later read loads the page again: one start of the host's budget each.
    assert all(gap >= 60 / PER_MINUTE for gap in gaps[1:]), gaps
    # Reads go on until the simulated site ends the session, not one longer.
    assert times[-2] < LIFETIME_S <= times[-1]
    assert [o.outcome for o in played.reads[:-1]] == [Outcome.AVAILABLE] * (len(times) - 1)
    assert played.reads[-1].outcome is Outcome.CAPTCHA
    assert played.reads[-1].detail == "session_expired"
    assert played.session.ended_because == "site_ended"


def test_the_session_record_names_its_captchas_and_its_reads(played: Outcome_) -> None:
    first, restarted = records(played.data_dir, played.target.id)
    assist = first.assist
    assert assist is not None and assist.session == played.session.id
    assert (assist.end, assist.target, assist.wrong_answers) == ("site_ended", played.target.id, 0)
    assert assist.solved_after_s == 0.0
    assert first.started_at == played.session.parked_at
    assert first.env.captcha_solved_by == "person"
    assert [(r.id, r.hash) for r in assist.reads] == [(o.id, o.hash) for o in played.reads]
    [frame] = assist.frames
    assert (frame.answer, frame.how, frame.media_type) == ("solved", "network", "image/png")
    with Store.open(played.data_dir) as store:
        assert store.blobs.get(frame.image) in played.shown  # the bytes the site served
        assert store.blobs.get(frame.framed).startswith(b"\x89PNG")
    # The restart ended the page parked after it cleanly, and recorded why.
    assert [s.id for s in played.parked_after] == [restarted.id]
    assert restarted.assist is not None and restarted.assist.end == "shutdown"
    assert restarted.assist.solved_after_s is None and restarted.assist.reads == []
    assert restarted.env.captcha_solved_by is None
    ended = played.metrics.exposition().decode()
    assert f'watchdog_assisted_sessions_total{{end="site_ended",target="{KEY}"}} 1.0' in ended
    assert f'watchdog_assisted_sessions_total{{end="shutdown",target="{KEY}"}} 1.0' in ended
    assert f'watchdog_assisted_session_lifetime_seconds_count{{target="{KEY}"}} 1.0' in ended


def test_statistics_count_sessions_lifetimes_and_reads(played: Outcome_) -> None:
    period = Period(datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1))
    with Store.open(played.data_dir) as store:
        stats = compute(store, [KEY], period)[KEY]
    assert len(stats.sessions) == 2 and stats.sessions_solved == 1
    life = played.session.ended_at - played.session.solved_at  # type: ignore[operator]
    assert stats.session_lifetime == timedelta(seconds=round(life.total_seconds()))
    assert stats.session_reads == len(played.reads)
    assert stats.session_reads_median == len(played.reads) / 2
    assert stats.session_ends == [("shutdown", 1), ("site_ended", 1)]
    assert stats.assisted == len(played.reads)
    # Open data has the reads (attempts like any other), never a session's record.
    with Store.open(played.data_dir) as store:
        published = {row.target for row in record.published_rows(store, record.Selection())}
    assert published == {KEY}


def copy_of(played: Outcome_, tmp_path: Path) -> Path:
    """A copy of the session's data directory, for a test that alters or exports it."""
    copy = tmp_path / "data"
    shutil.copytree(played.data_dir, copy)
    return copy


def test_verify_checks_the_record_and_finds_a_flipped_byte_or_a_removed_read(
    played: Outcome_, tmp_path: Path
) -> None:
    copy = copy_of(played, tmp_path)
    with Store.open(copy) as store:
        report = verify_store(store)
        assert report.ok, report.render()
        assert report.sessions == 2
        [first, _] = records(copy, played.target.id)
        assert first.assist is not None
        image = first.assist.frames[0].image
        path = store.blobs.path(image)
        original = path.read_bytes()
        path.chmod(0o644)
        path.write_bytes(bytes([original[0] ^ 1]) + original[1:])
        try:
            flipped = verify_store(store)
        finally:
            path.write_bytes(original)
        [problem] = flipped.blob_problems
        assert problem.sha == image and "does not match" in problem.problem
        assert any("captcha frame 1 image" in r for r in problem.referenced_by)
        # A read removed from the journey's chain: the chain breaks, and the record names it.
        read = first.assist.reads[2]
        with sa.create_engine(store.engine.url).begin() as conn:  # as an intruder would
            conn.execute(sa.delete(observations).where(observations.c.id == read.id))
        removed = verify_store(store)
        assert not removed.ok
        assert any(read.id in p and "removed" in p for p in removed.session_problems)
        assert "Assisted session FAILED" in removed.render()


def test_a_bundle_carries_the_record_and_its_captchas(played: Outcome_, tmp_path: Path) -> None:
    copy = copy_of(played, tmp_path)
    out = tmp_path / "bundle.zip"
    now = datetime.now(UTC)
    with Store.open(copy) as store:
        export_bundle(store, [played.target], since=now - timedelta(days=1),
                      until=now + timedelta(days=1), out=out)  # fmt: skip
    check = verify_bundle(out)
    assert check.ok, check.problems
    [first, _] = records(copy, played.target.id)
    assert first.assist is not None
    frame = first.assist.frames[0]
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert layout.evidence_name(frame.image, "captcha") in names
        assert layout.evidence_name(frame.framed, "framed") in names
        lines = archive.read(layout.JSONL).splitlines()
    assert sum(b'"assist":{' in line for line in lines) == 2
    # A read left out of the bundle, the manifest rewritten to match: its record says so.
    read = first.assist.reads[1].id.encode()
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(out) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    kept = [x for x in members[layout.JSONL].split(b"\n") if read not in x or b'"assist"' in x]
    old_sha = hashlib.sha256(members[layout.JSONL]).hexdigest()
    members[layout.JSONL] = b"\n".join(kept)
    new_sha = hashlib.sha256(members[layout.JSONL]).hexdigest()
    manifest = json.loads(members[layout.MANIFEST])
    for listed in manifest["files"]:
        if listed["path"] == layout.JSONL:
            listed["sha256"], listed["size"] = new_sha, len(members[layout.JSONL])
    sums = members[layout.SUMS].replace(old_sha.encode(), new_sha.encode())
    old_manifest = hashlib.sha256(members[layout.MANIFEST]).hexdigest().encode()
    members[layout.MANIFEST] = json.dumps(manifest).encode()
    new_manifest = hashlib.sha256(members[layout.MANIFEST]).hexdigest().encode()
    members[layout.SUMS] = sums.replace(old_manifest, new_manifest)
    with zipfile.ZipFile(altered, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    problems = verify_bundle(altered).problems
    assert any("names read" in p and "removed" in p for p in problems), problems


def test_the_pace_never_goes_under_a_minute_off_loopback() -> None:
    async def scenario() -> list[float]:
        clock = TrackedClock(0.0)
        desk = Desk.__new__(Desk)  # only its pace is used
        desk.sleep, desk.budget = clock.sleep, None
        base = {"department": "75", "prefecture": "Paris", "procedure": "premiere_demande",
                "label": "x", "platform": "rdv_prefecture", "interval": "20s"}  # fmt: skip
        waits = []
        for host in ("127.0.0.1", "www.rdv-prefecture.interieur.gouv.fr"):
            url = f"https://{host}/rdvpref/reservation/demarche/1/"
            target = Target.model_validate({**base, "id": "t", "url": url})
            start = clock.now()
            task = asyncio.ensure_future(desk.pace(target))
            await asyncio.sleep(0)
            clock.wake_next()
            await task
            waits.append(clock.now() - start)
            assert read_interval(target) == waits[-1]
        return waits

    assert asyncio.run(scenario()) == [20.0, 60.0]
