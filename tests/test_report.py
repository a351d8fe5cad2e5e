"""The report: sections, figures, typography, CSP and inert scraped content, HTML and PDF."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from reportdata import Spec, fill, observation, paris, target

from watchdog import __version__
from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import (
    AssistRead,
    AssistRecord,
    Engine,
    Env,
    Observation,
    Outcome,
    assist_chain,
)
from watchdog.domain.target import Target
from watchdog.engine.browser import BrowserHost
from watchdog.report import ReportOptions, build_report, select_targets
from watchdog.report.legal import load_legal
from watchdog.report.recommend import load_rules
from watchdog.report.typo import Typo
from watchdog.stats import Period
from watchdog.store import Store

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 29))  # ISO weeks 45 to 48
ISSUED = paris(2026, 12, 1, 10)
PAYLOAD = '<script>window.pwned = 1; alert("x")</script><img src=x onerror="window.pwned = 2">'
SECTIONS = ("synthese", "introduction", "methodologie", "constats", "analyse", "recommandations")
T93 = target("seine-saint-denis-premiere", "93", "Seine-Saint-Denis")
T01 = target("ain-renouvellement", "01", "Ain", "renouvellement")


def _specs_93() -> list[Spec]:
    """28 days × (9 h, 15 h): a slot at 9 h every fourth day (7), a 502 at 15 h on Sundays
    (4), no slot otherwise (45): 56 attempts, no-slot rate 45/52, failure rate 49/56."""
    specs = [Spec(paris(2026, 11, 3, 12), Outcome.PROBE_ERROR, detail="planning_required")]
    for index in range(28):
        day = date(2026, 11, 2 + index)
        if index % 4 == 0:
            far = index % 8 == 0  # 4 of the 7 first dates are beyond two months
            earliest = datetime(2027, 2, 20, 9) if far else datetime(2026, 12, 1, 9)
            specs.append(Spec(paris(2026, 11, day.day, 9), Outcome.AVAILABLE, 3, earliest))
        else:  # the last one, on Sunday 29 November, is the example capture C1
            message = PAYLOAD if index == 27 else None
            specs.append(Spec(paris(2026, 11, day.day, 9), Outcome.NO_SLOT, message=message))
        if day.weekday() == 6:
            specs.append(Spec(paris(2026, 11, day.day, 15), Outcome.SITE_ERROR, detail="http_502"))
        else:
            specs.append(Spec(paris(2026, 11, day.day, 15), Outcome.NO_SLOT))
    return specs


def _captured(spec: Spec) -> bool:
    return spec.at.day >= 28


def make_store(data_dir: Path, *, simulated: bool = False) -> Store:
    store = Store.open(data_dir)
    fill(store, T93.id, _specs_93(), simulated=simulated, captures=_captured)
    fill(store, T01.id, [Spec(paris(2026, 11, 2 + i, 11), Outcome.NO_SLOT) for i in range(28)])
    return store


def render(store: Store, out: Path, **options: object) -> list[Path]:
    opts = ReportOptions(formats=("html",), generated_at=ISSUED, **options)  # type: ignore[arg-type]
    return build_report(
        store, [T93, T01], since=PERIOD.since, until=PERIOD.until, out_dir=out, options=opts
    )


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("report")
    with make_store(base / "data") as store:
        (path,) = render(store, base / "out")
    assert path.name.startswith("rapport-WD-20261201-") and path.suffix == ".html"
    return path.read_text("utf-8")


class _Text(HTMLParser):
    """Visible text: everything but <style> and tags."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_parts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    # Collapse ASCII whitespace only: the no-break spaces are what the typography tests read.
    return re.sub(r"[ \t\r\n]+", " ", "".join(parser.parts))


def test_sections_and_key_figures(html_report: str) -> None:
    for anchor in (*SECTIONS, "annexes", "sommaire"):
        assert f'id="{anchor}"' in html_report
    text = visible_text(html_report)
    assert "Rapport n°" in text and "WD-20261201-" in text
    assert "Observations du 2\u00a0novembre 2026 au 29\u00a0novembre 2026" in text
    assert "période demandée du 2\u00a0novembre 2026 au 29\u00a0novembre 2026" in text
    assert "84\u00a0tentatives" in text  # 56 + 28 counted, the probe error set apart
    # No slot: 73 of 80 attempts that reached the calendar; failure: 77 of 84.
    assert (
        "91,3\u202f% (intervalle de confiance à 95\u202f%\u00a0: 83,0\u00a0–\u00a095,7\u202f%)"
        in text
    )
    assert "86,5\u202f%" in text  # 45/52 for Seine-Saint-Denis
    assert "100,0\u202f%" in text  # Ain never offered a slot
    assert "1\u00a0série n'a proposé aucun créneau lors des tentatives ayant atteint son" in text
    assert "Ain — renouvellement" in text
    assert "planning_required" in text  # probe-health annex
    assert "Date d'émission1er\u00a0décembre 2026" in text  # adjacent table cells


def test_recommendations_follow_the_rules(html_report: str) -> None:
    text = visible_text(html_report)
    labels = re.findall(r"\bR(\d)\b — (\w+)", text)
    assert [(n, verb) for n, verb in labels] == [
        ("1", "Garantir"),
        ("2", "Publier"),
        ("3", "Mettre"),
        ("4", "Délivrer"),
    ]
    # Every rule asks for 30 attempts: Ain's 28 support none, even four weeks without a slot.
    r1 = text[text.index("Recommandation 1") : text.index("Recommandation 2")]
    assert "Seine-Saint-Denis — première demande" in r1 and "Ain" not in r1
    assert "autre modalité de dépôt" not in text


def test_scraped_content_is_escaped_and_the_page_has_a_strict_csp(html_report: str) -> None:
    assert "<script" not in html_report.lower()
    assert "onerror=" not in html_report.replace("onerror=&#34;", "")
    assert "&lt;script&gt;window.pwned = 1;" in html_report
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html_report)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    style = re.search(r"<style>(.*?)</style>", html_report, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert " style=" not in html_report  # the CSP would block inline styles anyway


def test_payload_stays_inert_in_a_browser(html_report: str) -> None:
    async def run() -> tuple[str, int]:
        host = BrowserHost()
        dialogs: list[str] = []
        try:
            browser = await host.get()
            page = await browser.new_page()  # JavaScript enabled: only CSP and escaping hold
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.set_content(html_report, wait_until="load")
            pwned = await page.evaluate("typeof window.pwned")
            return str(pwned), len(dialogs)
        finally:
            await host.close()

    assert asyncio.run(run()) == ("undefined", 0)


def test_typography_has_no_plain_space_before_high_punctuation(html_report: str) -> None:
    text = visible_text(html_report)
    bad = re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", text)
    assert bad == []
    # Thousands take a narrow no-break space (looked for within each text node).
    assert [part for part in visible_parts(html_report) if re.search(r"\d \d{3}\b", part)] == []


def test_example_captures_are_embedded_with_their_hash(html_report: str) -> None:
    assert 'id="C1"' in html_report
    assert html_report.count('src="data:image/png;base64,') >= 2
    assert re.search(
        r"empreinte SHA-256 de la capture encadrée\u00a0: <span class=\"mono\">[0-9a-f]{64}",
        html_report,
    )


def test_legal_analysis_cites_only_verified_references(html_report: str) -> None:
    legal = load_legal()
    analysis = html_report[
        html_report.index('id="analyse"') : html_report.index('id="recommandations"')
    ]
    text = visible_text(analysis)
    for ref in legal.used_for("vu"):
        assert f"Vu {Typo('fr').prose(ref.citation)}" in text
    for ref in legal.unverified:
        assert ref.citation not in analysis
        assert f"[non vérifié] {Typo('fr').prose(ref.citation)}" in visible_text(html_report)
    assert "† Référence confirmée par une source secondaire" in text


def test_simulated_data_is_watermarked(tmp_path: Path, html_report: str) -> None:
    assert 'class="watermark"' not in html_report and "DONNÉES SIMULÉES" not in html_report
    with make_store(tmp_path / "data", simulated=True) as store:
        (path,) = render(store, tmp_path / "out")
    html = path.read_text("utf-8")
    assert 'class="watermark"' in html and "DONNÉES SIMULÉES" in html


def test_english_report_and_edited_recommendations(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: always\n"
        "    scope: overall\n"
        "    when: [{stat: attempts, op: '>=', value: 1}]\n"
        "    addressee: Préfet de la Seine-Saint-Denis\n"
        "    text: Rouvrir un guichet sans rendez-vous le mardi matin.\n",
        encoding="utf-8",
    )
    with make_store(tmp_path / "data") as store:
        (fr,) = render(store, tmp_path / "fr", recommendations=rules)
        (en,) = render(store, tmp_path / "en", lang="en")
    fr_text = visible_text(fr.read_text("utf-8"))
    assert "R1 — Rouvrir un guichet sans rendez-vous le mardi matin." in fr_text
    assert "R2 —" not in fr_text
    en_text = visible_text(en.read_text("utf-8"))
    assert en.name.startswith("report-WD-")
    assert "4. Findings" in en_text and "91.3% (95% CI: 83.0–95.7%)" in en_text


def test_rules_must_open_with_an_infinitive_and_name_known_statistics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - {id: x, scope: overall, addressee: A, text: La préfecture devrait agir.}\n",
        encoding="utf-8",
    )
    with pytest.raises(WatchdogError, match="infinitive"):
        load_rules(bad)
    bad.write_text(
        "rules:\n  - {id: x, scope: overall, addressee: A, text: Agir.,"
        " when: [{stat: nope, op: '>', value: 1}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(WatchdogError, match="unknown statistic 'nope'"):
        load_rules(bad)


def test_select_targets() -> None:
    catalog: list[Target] = [T93, T01]
    assert select_targets(catalog, departments=["93"]) == [T93]
    assert select_targets(catalog, procedures=["renouvellement"]) == [T01]
    assert select_targets(catalog) == catalog
    with pytest.raises(WatchdogError, match="unknown target"):
        select_targets(catalog, ids=["nope"])
    with pytest.raises(WatchdogError, match="no target matches"):
        select_targets(catalog, departments=["75"])


def test_pdf_has_the_sections_figures_and_page_numbers(tmp_path: Path) -> None:
    with make_store(tmp_path / "data") as store:
        paths = build_report(
            store,
            [T93, T01],
            since=PERIOD.since,
            until=PERIOD.until,
            out_dir=tmp_path / "out",
            options=ReportOptions(generated_at=ISSUED),
        )
    pdf = next(p for p in paths if p.suffix == ".pdf")
    # pdftotext turns the narrow no-break space (U+202F) into a plain space.
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.replace("\u202f", " ")
    for heading in (
        "1. Synthèse et recommandations",
        "3. Méthodologie",
        "4. Constats",
        "5. Analyse juridique",
        "6. Recommandations",
        "7. Annexes",
    ):
        assert heading in text
    assert "91,3 %" in text and "86,5 %" in text and "84 tentatives" in text
    pages = int(re.search(r"page 1 sur (\d+)", text).group(1))  # type: ignore[union-attr]
    assert pages >= 8 and f"page {pages} sur {pages}" in text
    # The contents page gives each section's page, as printed.
    printed = [[" ".join(line.split()) for line in p.splitlines()] for p in text.split("\f")]
    contents = next(i for i, page in enumerate(printed) if "Sommaire" in page)
    listed = printed[contents]
    for heading in ("1. Synthèse et recommandations", "4. Constats", "7. Annexes"):
        number = next(line for line in listed[listed.index(heading) + 1 :] if line)
        landed = next(i for i in range(contents + 1, len(printed)) if heading in printed[i])
        assert int(number) == landed + 1, heading
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    png = next(tmp_path.glob("p-*1.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_french_and_english_typography() -> None:
    fr, en = Typo("fr"), Typo("en")
    morning = datetime(2026, 11, 12, 8, 5, tzinfo=UTC)  # 9 h 05 in Paris
    assert fr.date(date(2026, 11, 1)) == "1er\u00a0novembre 2026"
    assert fr.date(date(2026, 11, 12)) == "12\u00a0novembre 2026"
    assert fr.datetime(morning) == "12\u00a0novembre 2026 à 9\u00a0h\u00a005"
    assert en.datetime(morning) == "12\u00a0November 2026, 09:05"
    assert fr.num(1234567) == "1\u202f234\u202f567" and en.num(1234567) == "1,234,567"
    assert fr.pct(0.9125) == "91,3\u202f%" and en.pct(0.9125) == "91.3%"  # half up
    assert fr.quote("x") == "«\u00a0x\u00a0»"
    assert fr.unit(0, "tentative", "tentatives") == "0\u00a0tentative"
    assert fr.unit(2, "tentative", "tentatives") == "2\u00a0tentatives"
    assert en.unit(0, "attempt", "attempts") == "0 attempts".replace(" ", "\u00a0")
    assert fr.duration(timedelta(days=3, hours=9)) == "3\u00a0jours et 9\u00a0heures"
    # A cadence as configured: 30 s is not « 1 minute ».
    assert fr.interval(timedelta(seconds=30)) == "30\u00a0secondes"
    assert fr.interval(timedelta(minutes=15)) == "15\u00a0minutes"
    assert fr.interval(timedelta(minutes=90)) == "1\u00a0heure 30\u00a0minutes"
    assert en.interval(timedelta(seconds=90)) == "1\u00a0minute 30\u00a0seconds"
    assert fr.prose("« a » ; b : c 5 000 € n° 12, 1er août") == (
        "«\u00a0a\u00a0»\u202f; b\u00a0: c 5\u202f000 € n°\u00a012, 1er\u00a0août"
    )
    assert en.prose("a ; b") == "a ; b"


def test_anef_stays_out_of_the_no_slot_rate_and_twin_series_are_told_apart(
    tmp_path: Path,
) -> None:
    anef = target("anef-portail", "75", "Paris", "other", "anef")
    twin = target("seine-saint-denis-eapp", "93", "Seine-Saint-Denis", platform="eappointment")
    days = range(2, 7)
    with Store.open(tmp_path / "data") as store:
        fill(store, T93.id, [Spec(paris(2026, 11, d, 9), Outcome.NO_SLOT) for d in days])
        fill(store, twin.id, [Spec(paris(2026, 11, 2, 9), Outcome.AVAILABLE, 1)])
        fill(store, anef.id, [Spec(paris(2026, 11, d, 9), Outcome.AVAILABLE) for d in days])
        opts = ReportOptions(formats=("html",), generated_at=ISSUED)
        (path,) = build_report(
            store,
            [T93, twin, anef],
            since=PERIOD.since,
            until=PERIOD.until,
            out_dir=tmp_path,
            options=opts,
        )
    text = visible_text(path.read_text("utf-8"))
    # 5 no-slot and 1 slot on the booking series; ANEF's 5 "available" do not count.
    assert "Sur 6\u00a0tentatives ayant atteint le calendrier de réservation, 5 ont" in text
    assert "sans objet (ANEF)" in text
    assert "Seine-Saint-Denis — première demande [module de réservation" in text
    assert "Seine-Saint-Denis — première demande [eAppointment]" in text


def test_assisted_reads_are_told_apart_in_the_method(tmp_path: Path) -> None:
    """Reads after a person answered the captcha are said to be so, and not from a clean
    state; a report without them says nothing of it."""
    with make_store(tmp_path / "data") as store:
        (plain,) = render(store, tmp_path / "plain")
        assisted = [
            observation(T93.id, Spec(paris(2026, 11, 29, 20, minute), Outcome.NO_SLOT))
            for minute in (1, 3)
        ]
        reads = store.append_many([
            o.model_copy(update={"env": o.env.model_copy(update={
                "captcha_solved_by": "person", "assisted_session": "01AS", "since_solve_s": 60.0,
            })})
            for o in assisted
        ])  # fmt: skip
        # The session's record: parked 20:00, solved 30 s later, ended by the site at 20:10.
        parked = paris(2026, 11, 29, 20).astimezone(UTC)
        record = AssistRecord(session="01AS", target=T93.id, solved_after_s=30.0,
                              end="site_ended", reads=[AssistRead(id=o.id, hash=o.hash or "")
                                                       for o in reads])  # fmt: skip
        store.append(Observation(
            id="01AS", target=assist_chain(T93.id), outcome=Outcome.CAPTCHA,
            detail="assisted_session", started_at=parked,
            finished_at=parked + timedelta(minutes=10), duration_s=600.0,
            env=Env(software="test", assisted_session="01AS", captcha_solved_by="person"),
            assist=record,
        ))  # fmt: skip
        paths = {
            lang: render(store, tmp_path / lang, lang=lang)[0].read_text("utf-8")
            for lang in ("fr", "en")
        }
    assert "mode assisté" not in plain.read_text("utf-8")
    assert (
        "2\u00a0lectures de la période ont été faites en <strong>mode assisté</strong>"
        in paths["fr"]
    )
    assert "ne partent donc pas d'un état vierge" in paths["fr"]
    assert "2\u00a0reads of the period were made in <strong>assisted mode</strong>" in paths["en"]
    # The sessions: how many, how long after the solve, how many reads, how they ended.
    assert "Sessions assistées" not in plain.read_text("utf-8")
    fr = re.sub(r"\s+", " ", paths["fr"].replace("\u00a0", " ").replace("\u202f", " "))
    assert "1 session a été ouverte dans la période, dont 1 où une personne a résolu" in fr
    assert "notre robot a ensuite relu la page des créneaux" in fr
    assert "Durée médiane entre la résolution et la fin de la session : 9 minutes 30 secondes" in fr
    assert "médiane 2,0, 2 lectures au total" in fr
    assert "le site a clos la session (1)" in fr
    en = re.sub(r"\s+", " ", paths["en"].replace("\u00a0", " "))
    assert "1 session was opened in the period, in 1 of which a person solved" in en
    assert "Median time from the solve to the end of the session: 9 minutes 30 seconds" in en
    assert "median 2.0, 2 reads in all" in en and "the site closed the session (1)" in en


def test_the_method_names_the_http_client_of_a_request_probe(tmp_path: Path) -> None:
    """The environment sentence names the request engine's HTTP client when the observation it
    describes was made by one, and says nothing of a client otherwise."""
    specs = [Spec(paris(2026, 11, 2 + i, 11), Outcome.NO_SLOT) for i in range(28)]
    with Store.open(tmp_path / "data") as store:
        store.append_many([
            o.model_copy(update={"env": o.env.model_copy(update={
                "engine": Engine.REQUEST, "http_client": "aiohttp 3.11.18", "browser": None,
                "browser_version": None})})
            for o in (observation(T01.id, spec) for spec in specs)
        ])  # fmt: skip
        pages = {
            lang: build_report(store, [T01], since=PERIOD.since, until=PERIOD.until,
                               out_dir=tmp_path / lang, options=ReportOptions(
                                   formats=("html",), generated_at=ISSUED, lang=lang,
                               ))[0].read_text("utf-8")
            for lang in ("fr", "en")
        }  # fmt: skip
    software = f"prefecture-watchdog {__version__}"
    assert f"logiciel {software}, client HTTP aiohttp 3.11.18, système" in pages["fr"]
    assert f"software {software}, HTTP client aiohttp 3.11.18, system" in pages["en"]
    assert "navigateur" not in pages["fr"].split('id="environnement"')[1].split("</p>")[0]


def test_a_browser_probe_names_no_http_client(html_report: str) -> None:
    assert "client HTTP" not in html_report
