"""The workbench (`watchdog serve`, issue 15 item 2) in a real browser.

A small real record (two départements, captures, a page kept as skeleton + volatile record,
an incident, a scraped `<script>`) is served by the real uvicorn server on loopback; Playwright
drives Chromium over every page it links to. Every request the browser makes goes through a
route that counts it and keeps its answer: a request outside the workbench is refused and
fails the test, and no answer may carry a secret (an Apprise URL, the workbench's token, a
site's session id). The store is read-only: its file keeps its bytes.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright
from polling import wait_until
from recordfix import TOKEN
from recordfix import record as recorded_store

from watchdog.cli.main import main
from watchdog.config.loader import Config
from watchdog.domain.errors import WatchdogError
from watchdog.domain.incidents import IncidentKind
from watchdog.domain.models import Env, EvidenceRefs, Observation, Outcome
from watchdog.engine.browser import find_chromium
from watchdog.notify.repo import Incident, Repo
from watchdog.store import Store, access
from watchdog.store.connect import SQLITE_FILE
from watchdog.store.record import open_read_only
from watchdog.workbench.server import Binding, bind_socket, binding, server

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(2)> « créneau »'
ROUTE_SECRET = "ApprS3cretHookPath7781"
APPRISE_URL = f"json://127.0.0.1:9/hook/{ROUTE_SECRET}"
SECRETS = (ROUTE_SECRET, TOKEN)  # and each test's workbench token
SCREENSHOTS_ENV = "WATCHDOG_WORKBENCH_SCREENSHOTS"  # a folder: refresh docs/images from here


def observation(target: str, n: int, evidence: EvidenceRefs, **fields: Any) -> Observation:
    started = T0 + timedelta(minutes=15 * n)
    values: dict[str, Any] = {
        "id": f"obs-{target}-{n:05d}-{uuid.uuid4().hex[:8]}",
        "target": target,
        "outcome": Outcome.NO_SLOT,
        "detail": "no_slot",
        "message": "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous.",
        "started_at": started,
        "finished_at": started + timedelta(seconds=4),
        "duration_s": 4.0,
        "env": Env(software="prefecture-watchdog 0.1.0", browser="chromium", simulated=True),
        "evidence": evidence,
    }
    values.update(fields)
    return Observation(**values)


@dataclass
class Record:
    config: Config
    ids: dict[str, list[str]]
    hostile_id: str
    database: Path


def make_record(folder: Path, database_url: str | None = None) -> Record:
    """recordfix's record (paris-a 75, bobigny-b 93), plus an unrecognized page whose message
    is a scraped <script>, an Apprise route with a secret, and an incident on bobigny-b."""
    hostile = {"outcome": Outcome.UNRECOGNIZED, "detail": "unknown_page", "message": HOSTILE}
    recorded = recorded_store(
        folder, database_url, observation, more=[("paris-a", 210, hostile)],
        notifications={"routes": [{"id": "team", "audience": "sre", "urls": [APPRISE_URL]}]},
    )  # fmt: skip
    config, ids = recorded.config, recorded.ids
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        facts = {"count": 2, "message": "Erreur 502", "last": {"id": ids["bobigny-b"][-1]}}
        incident = Incident("inc1", IncidentKind.SITE_DOWN, "bobigny-b", "93", "open",
                            T0 + timedelta(minutes=15), facts=facts)  # fmt: skip
        assert Repo(store.engine).open_incident(incident, [])
    return Record(config, ids, ids["paris-a"][-1], config.watchdog.data_dir / SQLITE_FILE)


@contextmanager
def serving(config: Config, bound: Binding) -> Iterator[str]:
    """The real server (uvicorn, read-only store) on a thread; its base URL over loopback."""
    store = open_read_only(config.watchdog.data_dir, config.watchdog.database_url)
    sock = bind_socket(bound.host, bound.port)
    running = server(config, store, bound)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: running.started, 20, "the workbench to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        running.should_exit = True
        thread.join(20)
        sock.close()
        store.close()


@dataclass
class Seen:
    """Every request the browser made, and the answers the workbench gave."""

    base: str
    inside: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)

    def handle(self, route: Route) -> None:
        url = route.request.url
        if url == self.base or url.startswith(self.base + "/"):
            self.inside.append(url)
            answer = route.fetch(max_redirects=0)
            self.bodies[url] = answer.body()
            route.fulfill(response=answer)
        else:
            self.outside.append(url)
            route.abort()


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return make_record(tmp_path_factory.mktemp("workbench"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = _launch(pw)
        yield launched
        launched.close()


def _launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=find_chromium(None, None))


@contextmanager
def watched(browser: Browser, base: str) -> Iterator[tuple[BrowserContext, Seen]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    seen = Seen(base)
    context.route("**/*", seen.handle)
    try:
        yield context, seen
    finally:
        context.unroute_all(behavior="ignoreErrors")  # a lazy image still on its way
        context.close()


def links(page: Page) -> list[str]:
    found: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return found


def crawl(context: BrowserContext, base: str, dialogs: list[str]) -> dict[str, Page | None]:
    """Open the index and every page it leads to (downloads fetched, not opened)."""
    pages: dict[str, Page | None] = {}
    todo = [base + "/"]
    downloaded: set[str] = set()
    while todo:
        url = todo.pop(0)
        path = url.split("?")[0]
        if "/telechargement/" in path or "/capture/" in path or path.endswith(".txt"):
            key = path.rsplit("/", 1)[0] if "/capture/" in path else path
            if key not in downloaded:
                downloaded.add(key)
                answer = context.request.get(url, timeout=120_000)
                assert answer.status == 200, f"{url}: {answer.status} {answer.text()[:300]}"
            continue
        if url in pages or len(pages) > 40:
            continue
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        answer = page.goto(url)
        assert answer is not None and answer.status == 200, f"{url}: {answer and answer.status}"
        page.wait_for_load_state("networkidle")  # the lazy thumbnails and the framed page
        pages[url] = page
        todo += [u for u in links(page) if u.startswith(base) and u not in pages]
    return pages


# -- the pages ------------------------------------------------------------------------------


def test_pages_links_and_no_outside_request(record: Record, browser: Browser) -> None:
    bound = binding("127.0.0.1", 0, expose=False, token=None)
    before = hashlib.sha256(record.database.read_bytes()).hexdigest(), record.database.stat()
    dialogs: list[str] = []
    with serving(record.config, bound) as base, watched(browser, base) as (context, seen):
        pages = crawl(context, base, dialogs)
        index = pages[base + "/"]
        assert index is not None
        body = index.inner_text("main")
        expected = (
            "Département 75",
            "Département 93",
            "Première demande Paris",
            "Première demande Bobigny",
            "Il n'existe plus de plage horaire libre",
        )
        for text in expected:
            assert text in body, text
        # paris-a: 2 no_slot, 1 available counted; the unrecognized page stays out (rule 3)
        row = index.locator("tr", has_text="Première demande Paris").inner_text()
        assert "66,7\u202f% (2 sur 3)" in row, row
        assert "+1 hors des taux" in row, row
        row = index.locator("tr", has_text="Première demande Bobigny").inner_text()
        assert "100,0\u202f% (1 sur 1)" in row and "100,0\u202f% (2 sur 2)" in row, row

        target = pages[next(u for u in pages if "/cible/paris-a" in u)]
        assert target is not None
        svg = target.locator("figure.timeline svg")
        label = svg.get_attribute("aria-label") or ""
        assert "1 créneaux proposés, 2 aucun créneau, 0 obstacle" in label, label
        assert "1 hors des taux" in label, label
        assert svg.locator("rect").count() >= 4 + 4  # four lanes, four ticks
        thumbs = target.locator("ul.thumbs img")
        assert thumbs.count() == 4
        assert thumbs.first.get_attribute("loading") == "lazy"
        assert target.locator("ul.thumbs a").first.get_attribute("href", timeout=1000) == (
            f"/observation/{record.hostile_id}/capture/framed"
        )
        incident_page = pages[next(u for u in pages if "/departement/93" in u)]
        assert incident_page is not None
        assert "site_down" in incident_page.inner_text("table.incidents")

        obs = pages[next(u for u in pages if f"/observation/{record.ids['paris-a'][0]}" in u)]
        assert obs is not None
        text = obs.inner_text("main")
        assert "vérifiée" in text and "NON VÉRIFIÉE" not in text
        frame = obs.frame_locator("iframe.page")
        assert frame.locator("a").inner_text() == "Prendre rendez-vous"
        assert obs.locator("iframe.page").get_attribute("sandbox") == ""
        assert "jsessionid=" in text  # the final URL, shown without its session id
        shots(pages, base, record)

    assert seen.outside == [], f"requests outside the workbench: {seen.outside}"
    assert any("/capture/framed?size=thumb" in u for u in seen.inside)
    assert any(u.endswith("/page") for u in seen.inside), "the kept page was framed"
    assert dialogs == []
    assert_no_secret(seen, ())
    after = hashlib.sha256(record.database.read_bytes()).hexdigest(), record.database.stat()
    assert after[0] == before[0] and after[1].st_mtime_ns == before[1].st_mtime_ns


def assert_no_secret(seen: Seen, extra: tuple[str, ...]) -> None:
    assert seen.bodies
    for url, body in seen.bodies.items():
        text = body.decode("utf-8", "replace")
        for secret in (*SECRETS, *extra):
            assert secret not in text, f"{secret!r} in the answer to {url}"


def shots(pages: dict[str, Page | None], base: str, record: Record) -> None:
    """Screenshots of three pages, kept with the test (and copied to docs/ on request)."""
    out = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(out) if out else record.database.parent.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {
        "workbench-index.png": base + "/",
        "workbench-target.png": next(u for u in pages if "/cible/paris-a" in u),
        "workbench-observation.png": next(u for u in pages if "/observation/" in u),
    }
    for name, url in chosen.items():
        page = pages[url]
        assert page is not None
        page.screenshot(path=str(folder / name), full_page=True)
        assert (folder / name).stat().st_size > 10_000


def test_scraped_script_is_text(record: Record, browser: Browser) -> None:
    bound = binding("127.0.0.1", 0, expose=False, token=None)
    dialogs: list[str] = []
    with serving(record.config, bound) as base, watched(browser, base) as (context, seen):
        for path in ("/cible/paris-a", f"/observation/{record.hostile_id}", "/"):
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + path, wait_until="networkidle")
            assert page.get_by_text('<script>alert("pwned")</script>', exact=False).count() >= 1
            assert page.locator("script").count() == 0
            assert page.locator("main img[src='x']").count() == 0
    assert dialogs == []
    assert seen.outside == []
    answers = b"".join(seen.bodies.values()).decode("utf-8", "replace")
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in answers


# -- the token ------------------------------------------------------------------------------


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


def test_a_non_loopback_bind_needs_expose_and_a_token(record: Record, browser: Browser) -> None:
    with pytest.raises(WatchdogError, match="--expose"):
        binding("0.0.0.0", 0, expose=False, token=None)
    assert main(["serve", "--host", "0.0.0.0", "--config", str(record.config.source)]) == 1
    bound = binding("0.0.0.0", 0, expose=True, token=None)
    assert bound.token is not None and len(bound.token) >= 16
    token = bound.token
    with serving(record.config, bound) as base:
        status, _, body = fetch(base + "/")
        assert status == 401 and "token" in body and token not in body
        assert fetch(base + "/cible/paris-a?token=wrong" + "x" * 20)[0] == 401
        assert fetch(base + "/telechargement/observations.csv")[0] == 401
        status, headers, _ = fetch(base + "/", {"Authorization": f"Bearer {token}"})
        assert status == 200
        status, headers, _ = fetch(f"{base}/cible/paris-a?token={token}&lang=en")
        assert status == 303 and headers["location"] == "/cible/paris-a?lang=en"
        assert "httponly" in headers["set-cookie"].lower()
        with watched(browser, base) as (context, seen):
            page = context.new_page()
            page.goto(f"{base}/?token={token}")
            assert page.url == base + "/"
            assert "Département 75" in page.inner_text("main")
            page.click("text=Première demande Paris")
            assert "Chronologie des observations" in page.inner_text("main")
        assert seen.outside == []
        assert_no_secret(seen, (token,))


# -- hostile input, headers -----------------------------------------------------------------


def test_bad_ids_and_dates_get_clear_errors(record: Record) -> None:
    bound = binding("127.0.0.1", 0, expose=False, token=None)
    with serving(record.config, bound) as base:
        cases = {
            "/cible/nope": (404, "no target 'nope'"),
            "/cible/%3Cscript%3E": (404, "no target"),
            "/observation/nope": (404, "no observation 'nope'"),
            "/observation/..%2F..%2Fetc": (404, ""),
            f"/observation/{record.hostile_id}/capture/har": (404, "no such capture"),
            "/departement/99": (404, "no target of département '99'"),
            "/?from=2025-13-45": (400, "from: '2025-13-45' is not a date"),
            "/?from=yesterday": (400, "is not a date"),
            "/cible/paris-a?from=2025-03-05&to=2025-03-01": (400, "ends before it starts"),
            "/telechargement/lot.zip?from=2020-01-01&to=2020-01-02": (404, "nothing to bundle"),
            "/telechargement/dossier/nope": (404, "no target"),
            "/no/such/page": (404, ""),
        }
        for path, (status, words) in cases.items():
            got, headers, body = fetch(base + path)
            assert got == status, f"{path}: {got} {body[:200]}"
            assert words in html.unescape(body), f"{path}: {body[:400]}"
            assert "Traceback" not in body and 'File "' not in body
            assert "default-src 'self'" in headers["content-security-policy"], path
        got, _, body = fetch(base + "/", {"Host": "rebound.example:80"})
        assert got == 400 and "loopback" in body


def test_every_answer_carries_the_security_headers(record: Record) -> None:
    bound = binding("127.0.0.1", 0, expose=False, token=None)
    obs = record.ids["paris-a"][0]
    with serving(record.config, bound) as base:
        for path in ("/", "/cible/paris-a", f"/observation/{obs}", "/static/workbench.css",
                     f"/observation/{obs}/capture/framed?size=thumb", "/nope"):  # fmt: skip
            _, headers, _ = fetch(base + path)
            csp = headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'none'" in csp, path
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
        _, headers, page = fetch(f"{base}/observation/{obs}/page")
        assert headers["content-security-policy"].startswith("sandbox; default-src 'none'")
        assert "Prendre rendez-vous" in page and TOKEN not in page
        _, headers, text = fetch(f"{base}/observation/{obs}/page.txt")
        assert headers["content-type"].startswith("text/plain") and "<a href" in text


# -- downloads ------------------------------------------------------------------------------


def test_downloads_are_the_exports_of_the_cli(record: Record, browser: Browser) -> None:
    """One click each: the open-data CSV, the dossier (HTML and PDF) and a bundle that
    `watchdog verify` accepts, for the period shown."""
    from watchdog.bundle import verify_bundle
    from watchdog.opendata.export import SCHEMA

    bound = binding("127.0.0.1", 0, expose=False, token=None)
    period = "from=2025-03-01&to=2025-03-07"
    folder = record.database.parent.parent / "downloads"
    with serving(record.config, bound) as base, watched(browser, base) as (context, seen):
        page = context.new_page()
        page.goto(f"{base}/cible/paris-a?{period}")
        files: dict[str, Path] = {}
        for label in ("Observations (CSV", "Dossier (HTML)", "Dossier (PDF)", "Lot de preuves"):
            with page.expect_download(timeout=120_000) as info:
                page.click(f"ul.downloads >> text={label}")
            download = info.value
            files[label] = folder / download.suggested_filename
            download.save_as(files[label])
    assert seen.outside == []
    with files["Observations (CSV"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == SCHEMA.names
    assert [r[0] for r in rows[1:]] == record.ids["paris-a"]  # the unrecognized one too
    assert files["Observations (CSV"].name == "observations-2025-03-01-2025-03-07.csv"
    assert "Première demande Paris" in html.unescape(files["Dossier (HTML)"].read_text("utf-8"))
    assert files["Dossier (PDF)"].read_bytes().startswith(b"%PDF")
    check = verify_bundle(files["Lot de preuves"])
    assert check.ok, check.render()
    # Each download is in the access log, with the file's SHA-256 as sent.
    log = record.config.watchdog.data_dir / access.FILE
    logged = [json.loads(line) for line in log.read_text("utf-8").splitlines()][-4:]
    assert [e["action"] for e in logged] == ["export", "dossier", "dossier", "bundle"]
    assert all(e["channel"] == "workbench" and e["who"]["kind"] == "os_user" for e in logged)
    sent = [hashlib.sha256(files[label].read_bytes()).hexdigest() for label in files]
    assert [e["outputs"][0]["sha256"] for e in logged] == sent
    assert logged[-1]["since"] == "2025-02-28T23:00:00.000000Z"
    assert access.verify(record.config.watchdog.data_dir).problems == []


def test_a_postgresql_record_reads_the_same(tmp_path: Path, pg_url: str) -> None:
    """The same pages over PostgreSQL (read-only transactions), incidents included."""
    on_pg = make_record(tmp_path, pg_url)
    bound = binding("127.0.0.1", 0, expose=False, token=None)
    with serving(on_pg.config, bound) as base:
        status, _, index = fetch(base + "/")
        assert status == 200 and "66,7\u202f% (2 sur 3)" in index
        status, _, department = fetch(base + "/departement/93")
        assert status == 200 and "site_down" in department
        status, _, page = fetch(f"{base}/observation/{on_pg.ids['paris-a'][0]}")
        assert status == 200 and "vérifiée" in page


def test_timeline_places_each_observation_at_its_instant_across_a_dst_change() -> None:
    """29 March 2026 lasts 23 hours in Paris: noon there comes 11 hours after midnight (the
    clocks jump at 2:00), 11/23 of the day, not 1/2; a probe_error lands on the lane
    outside the rates."""
    import re

    from watchdog.report.typo import Typo
    from watchdog.stats.calendar import Period
    from watchdog.workbench.timeline import LEFT, RIGHT, WIDTH, timeline_svg

    day = Period.from_dates(date(2026, 3, 29), date(2026, 3, 29))
    noon = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)  # 12:00 in Paris (UTC+2 since 03:00)
    svg = str(timeline_svg([(noon, Outcome.NO_SLOT), (noon, Outcome.PROBE_ERROR)], day,
                           Typo("fr")))  # fmt: skip
    ticks = re.findall(r'<rect x="([0-9.]+)" y="([0-9.]+)" width="1.6"', svg)
    assert len(ticks) == 2
    expected = LEFT + (WIDTH - LEFT - RIGHT) * 11 / 23
    assert all(abs(float(x) - expected) < 0.1 for x, _ in ticks), (ticks, expected)
    lanes = sorted(float(y) for _, y in ticks)
    assert lanes[1] - lanes[0] == 2 * 26  # no_slot is lane 1, the excluded lane is 3
    assert "1 aucun créneau" in svg and "1 hors des taux" in svg and "12\u00a0h" in svg
