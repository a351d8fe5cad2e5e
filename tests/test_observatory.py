"""`watchdog observatory build` (issue 15 item 4): a static site built from a real record,
opened in real Chromium over file:// URLs.

The record: three weeks of a Paris journey (no slot most days, slots some), a Bobigny
journey, a Versailles journey stopped by a captcha (its calendar never reached), an ANEF
portal (books nothing), our own failures (probe_error, unrecognized) that no rate may count,
a site message full of markup, a session token in a final URL and a notification password
in the configuration. The pages must show the rates of watchdog/stats, load nothing outside
the build, link only to files of the build, pass axe-core without a serious or critical
violation, and show neither the markup as markup nor a secret.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from harness import write_config
from playwright.sync_api import Browser, Page, sync_playwright
from recordfix import PAGE, TOKEN, catalog_target, png

from watchdog.cli.main import main
from watchdog.domain.models import Env, EvidenceRefs, Observation, Outcome
from watchdog.evidence.volatile import keep_page
from watchdog.store import Store

CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None
)
START = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # Monday 3 March 2025, 08:00 in Paris
DAYS = 21  # three ISO weeks: 2025-S10 … 2025-S12
PASSWORD = "Obs3rvatoryPassw0rd"
HOSTILE = (
    "<script>document.title='pwned'</script><img src=\"https://tracker.example/x.png\">"
    ' Aucun « créneau » & "libre"'
)
WATERMARK = "Données simulées / Simulated data"


@dataclass(frozen=True)
class Built:
    out: Path
    stdout: str
    # Hand counts of the last seven days (17–23 March), outside watchdog/stats.
    recent_no_slot: int
    recent_available: int


def _obs(target: str, n: int, at: datetime, outcome: Outcome, **fields: Any) -> Observation:
    values: dict[str, Any] = {
        "id": f"obs-{target}-{n:04d}-{uuid.uuid4().hex[:8]}",
        "target": target,
        "outcome": outcome,
        "detail": outcome.value,
        "message": "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous."
        if outcome is Outcome.NO_SLOT
        else None,
        "started_at": at,
        "finished_at": at + timedelta(seconds=4),
        "duration_s": 4.0,
        "env": Env(software="prefecture-watchdog 0.1.0", browser="chromium"),
        "final_url": f"http://127.0.0.1:9/booking/2;jsessionid={TOKEN}",
    }
    if outcome is Outcome.AVAILABLE and target != "anef-d":
        values.update(slots=3, earliest_slot=datetime(2025, 4, 2, 9, 30))
    values.update(fields)
    return Observation(**values)


def _plan() -> Iterator[tuple[str, datetime, Outcome, dict[str, Any]]]:
    for day in range(DAYS):
        morning = START + timedelta(days=day)
        # Paris: a slot every fourth day, « aucun créneau » otherwise, twice a day.
        yield "paris-a", morning, Outcome.AVAILABLE if day % 4 == 0 else Outcome.NO_SLOT, {}
        yield "paris-a", morning + timedelta(hours=6), Outcome.NO_SLOT, {}
        # Our own faults, every day: in no rate.
        yield "paris-a", morning + timedelta(hours=3), Outcome.PROBE_ERROR, {}
        yield "bobigny-b", morning, Outcome.NO_SLOT if day % 3 else Outcome.SITE_ERROR, {}
        yield "bobigny-b", morning + timedelta(hours=2), Outcome.UNRECOGNIZED, {}
        yield "versailles-c", morning, Outcome.CAPTCHA, {}
        yield "anef-d", morning, Outcome.AVAILABLE, {}
    # The latest capture of Paris: the site's words are markup, to be shown as text.
    last = START + timedelta(days=DAYS - 1, hours=9)
    yield "paris-a", last, Outcome.NO_SLOT, {"message": HOSTILE}


def build(folder: Path, *, simulated: bool) -> Built:
    anef = catalog_target("anef-d", "75", "Paris")
    anef.update(platform="anef", procedure="other", label="Portail ANEF")
    config = write_config(
        folder,
        [catalog_target("paris-a", "75", "Paris"), catalog_target("bobigny-b", "93", "Bobigny"),
         catalog_target("versailles-c", "78", "Versailles"), anef],
        watchdog={"simulated": simulated},
        notifications={"routes": [{"id": "sre", "audience": "sre",
                                   "urls": [f"json://watch:{PASSWORD}@127.0.0.1:9/hook"]}]},
    )  # fmt: skip
    recent_start = START + timedelta(days=DAYS - 7) - timedelta(hours=7)  # 17 March, Paris
    recent = {Outcome.NO_SLOT: 0, Outcome.AVAILABLE: 0}
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        for n, (target, at, outcome, fields) in enumerate(_plan()):
            refs = EvidenceRefs(
                screenshot=store.blobs.put(png(n % 250), "screenshot"),
                framed=store.blobs.put(png((n + 1) % 250), "framed"),
            )
            keep_page(refs, PAGE, store.blobs.put)
            store.append(_obs(target, n, at, outcome, evidence=refs, **fields))
            if at >= recent_start and target == "paris-a" and outcome in recent:
                recent[outcome] += 1
            if at >= recent_start and target == "bobigny-b" and outcome in recent:
                recent[outcome] += 1
    out = folder / "site"
    argv = ["observatory", "build", "--out", str(out), "--from", "2025-03-03",
            "--to", "2025-03-23", "--config", str(config.source)]  # fmt: skip
    code, stdout = _run(argv)
    assert code == 0, stdout
    return Built(out, stdout, recent[Outcome.NO_SLOT], recent[Outcome.AVAILABLE])


def _run(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    return code, buffer.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("observatory"), simulated=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM, "the test command installs Debian's Chromium"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- the build ----------------------------------------------------------------------------


def test_build_writes_both_languages_the_open_data_and_a_summary(site: Built) -> None:
    out = site.out
    expected = ["index.html", "methode.html", "en/index.html", "en/method.html"]
    expected += [f"departements/{c}.html" for c in ("75", "78", "93")]
    expected += [f"en/departments/{c}.html" for c in ("75", "78", "93")]
    for target in ("paris-a", "bobigny-b", "versailles-c", "anef-d"):
        expected += [f"parcours/{target}.html", f"en/journeys/{target}.html"]
    assert sorted(p.relative_to(out).as_posix() for p in pages(out)) == sorted(expected)
    for name in ("observations.csv", "observations.parquet", "daily_departements.csv",
                 "README.md", "SHA256SUMS"):  # fmt: skip
        assert (out / "donnees" / name).is_file(), name
    lines = site.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"wrote the observatory to {out}: 18 page(s) (9 in French, ")
    assert "open data of 148 observation(s) in donnees/" in lines[0]
    assert lines[0].endswith(f"open {out / 'index.html'}")


def test_rates_are_the_statistics_and_leave_our_faults_out(site: Built) -> None:
    """The national 7-day figure counts Paris and Bobigny's calendars only: not the captcha
    journey, not ANEF, not probe_error nor unrecognized (hand-counted in `build`)."""
    n = site.recent_no_slot + site.recent_available
    assert n == 7 * 2 + 1 + 5  # Paris: 2 a day + the last one; Bobigny: its no-slot days
    home = text_of(site.out / "index.html")
    figures = home.split('id="figures"')[1].split("</section>")[0]
    assert f"n = {n}" in figures
    percent = f"{100 * site.recent_no_slot / n:.1f}".replace(".", ",")
    assert f"{percent}\u202f%" in figures
    versailles = text_of(site.out / "departements/78.html")
    assert "Aucun parcours de ce département" not in versailles  # it books, behind a captcha
    assert "captcha" in versailles
    anef = text_of(site.out / "parcours/anef-d.html")
    assert "ne réserve pas de rendez-vous" in anef
    paris = text_of(site.out / "parcours/paris-a.html")
    assert "Hors de tout taux" in paris and "(21)" in paris  # the 21 probe_error, apart


def test_no_secret_and_no_markup_from_the_record(site: Built) -> None:
    for path in site.out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (TOKEN, PASSWORD, "jsessionid"):
                assert secret.encode() not in data, f"{secret} in {path}"
    paris = text_of(site.out / "parcours/paris-a.html")
    assert "<script>" not in paris and 'tracker.example/x.png">' not in paris
    assert "&lt;script&gt;document.title=" in paris
    for path in pages(site.out):
        assert "<script" not in text_of(path), path


def test_watermark_only_when_simulated(site: Built, tmp_path: Path) -> None:
    for path in pages(site.out):
        assert WATERMARK in text_of(path), path
    assert (site.out / "watermark.svg").is_file()
    real = build(tmp_path, simulated=False)
    for path in pages(real.out):
        assert WATERMARK not in text_of(path), path
    assert not (real.out / "watermark.svg").exists()


def test_a_second_build_replaces_the_first(site: Built, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site.out, copy)
    stale = copy / "parcours" / "retired-journey.html"
    stale.write_text("old", encoding="utf-8")
    keep = copy / "CNAME"
    keep.write_text("observatoire.example.org\n", encoding="utf-8")
    config = site.out.parent / "watchdog.yaml"
    assert main(["observatory", "build", "--out", str(copy), "--from", "2025-03-03",
                 "--to", "2025-03-23", "--config", str(config)]) == 0  # fmt: skip
    assert not stale.exists() and keep.exists()
    # A folder holding something else, never built into, is refused and left as it was.
    other = tmp_path / "other"
    (other / "en").mkdir(parents=True)
    (other / "index.html").write_text("mine", encoding="utf-8")
    assert main(["observatory", "build", "--out", str(other), "--from", "2025-03-03",
                 "--to", "2025-03-23", "--config", str(config)]) == 1  # fmt: skip
    assert (other / "index.html").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in other.iterdir()) == ["en", "index.html"]


# -- in Chromium --------------------------------------------------------------------------


def _open(browser: Browser, path: Path, requests: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    return page


def _inside(url: str, out: Path) -> Path | None:
    """The file of the build a URL names, or None when it leaves the build."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    target = Path(unquote(parts.path)).resolve()
    return target if target.is_relative_to(out.resolve()) else None


def test_pages_load_nothing_outside_and_every_link_resolves(site: Built, browser: Browser) -> None:
    for path in pages(site.out):
        requests: list[str] = []
        page = _open(browser, path, requests)
        try:
            for url in requests:
                assert _inside(url, site.out) is not None, f"{path} requested {url}"
            links = page.eval_on_selector_all(
                "a[href]",
                "els => els.map(e => new URL(e.getAttribute('href'), document.baseURI).href)",
            )
            assert links, path
            for link in links:
                target = _inside(link, site.out)
                assert target is not None and target.is_file(), f"{path} links to {link}"
                fragment = urlsplit(link).fragment
                if fragment and target.suffix == ".html":
                    assert f'id="{fragment}"' in text_of(target), f"{path}: {link}"
            images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert all(width > 0 for width in images), path
            assert page.title() != "pwned"
        finally:
            page.close()


def test_languages_switch_and_say_their_language(site: Built, browser: Browser) -> None:
    requests: list[str] = []
    page = _open(browser, site.out / "parcours" / "paris-a.html", requests)
    try:
        assert page.get_attribute("html", "lang") == "fr"
        assert "Dernière capture" in page.inner_text("main")
        switch = page.locator("a[hreflang=en]")
        assert switch.get_attribute("lang") == "en"
        switch.click()
        assert page.url.endswith("/en/journeys/paris-a.html")
        assert page.get_attribute("html", "lang") == "en"
        assert "Latest capture" in page.inner_text("main")
        # The site's words are shown as they were, as text.
        shown = page.inner_text("q.site-words")
        assert "<script>document.title='pwned'</script><img src=" in shown
        page.locator("a[hreflang=fr]").click()
        assert page.url.endswith("/parcours/paris-a.html")
    finally:
        page.close()


def test_keyboard_reaches_the_content_and_the_map(site: Built, browser: Browser) -> None:
    page = _open(browser, site.out / "index.html", [])
    try:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        assert page.locator("a.skip").is_visible()
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "contenu"
        # Tabbing on reaches each watched département on the map, a link to its page.
        reached = []
        for _ in range(60):
            page.keyboard.press("Tab")
            href = page.evaluate(
                "(() => { const a = document.activeElement; return a.closest('svg') && "
                "a.getAttribute('href'); })()"
            )
            if href:
                reached.append(href)
        assert {"departements/75.html", "departements/78.html", "departements/93.html"} <= set(
            reached
        )
    finally:
        page.close()


def test_axe_core_finds_no_serious_violation(site: Built, browser: Browser) -> None:
    axe = Axe()
    for path in pages(site.out):
        page = _open(browser, path, [])
        try:
            results = axe.run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa",
                                                        "best-practice"]})  # fmt: skip
            serious = [
                f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
                for v in results.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert not serious, f"{path.relative_to(site.out)}: {serious}"
        finally:
            page.close()


def test_screenshots(site: Built, browser: Browser, tmp_path: Path) -> None:
    """Screenshots of the national, département and journey pages, kept under the test's
    folder (the README's picture is the demo's, docs/images/observatory.png)."""
    for name in ("index.html", "departements/93.html", "parcours/paris-a.html"):
        page = _open(browser, site.out / name, [])
        try:
            shot = tmp_path / (re.sub(r"\W", "-", name) + ".png")
            page.screenshot(path=str(shot), full_page=name == "index.html")
            assert shot.stat().st_size > 10_000
        finally:
            page.close()
