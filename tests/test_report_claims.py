"""The reports and dossiers read as a lawyer would (issue 12): no barrier called « aucun
créneau », an appréciation only where its conditions hold, the automated-attempts statement in
the dossier, an English report without French legal phrasing, and no feature named in the
methodology that the observations do not carry. Assertions read the text Chromium printed
(pdftotext), and the HTML elements where a sentence must be read whole."""

from __future__ import annotations

import re
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from reportdata import Spec, observation, paris, target
from test_report import visible_text

from watchdog.config.schema import RetentionClass
from watchdog.domain.models import Observation, Outcome
from watchdog.domain.target import Target
from watchdog.report import ReportOptions, build_report
from watchdog.report.dossier import DossierOptions, build_dossier
from watchdog.report.labels import ENV_FIELDS
from watchdog.report.legal import load_legal
from watchdog.stats import Period
from watchdog.store import Store, retention
from watchdog.store.schema import pruned_segments

FIRST = date(2026, 11, 2)  # a Monday: ISO week 45
ISSUED = paris(2026, 12, 7, 10)
HOURS = (9, 13, 17)  # three attempts a day
NO_SLOT = target("claims-noslot", "93", "Seine-Saint-Denis")
CAPTCHA = target("claims-captcha", "78", "Yvelines", platform="rdv_prefecture")
CLOSED = target("claims-closed", "69", "Rhône", "naturalisation")
BLOCKED = target("claims-blocked", "75", "Paris", "renouvellement")
NETWORK = target("claims-network", "95", "Val-d'Oise")
ANEF = target("claims-anef", "92", "Hauts-de-Seine", "renouvellement", "anef")
TARGETS = [NO_SLOT, CAPTCHA, CLOSED, BLOCKED, NETWORK, ANEF]
BARRIER_SERIES = ("Yvelines", "Rhône", "Paris", "Val-d'Oise")  # captcha, closed, blocked, network
PERIODS = {"day": 1, "two_weeks": 14, "five_weeks": 35}
APPRECIATION = "n'apparaissent pas réunies"
FRENCH_LEGAL = (
    "n'apparaissent pas réunies",
    "Vu ",
    "juge des référés",
    "l'accès normal des usagers",
    "du code de l'entrée et du séjour",
    "10 juin 2020",
    "aucun créneau",
    "tentatives",
    "Recommandation 1",
    "Destinataire",
)


def _outcome(t: Target, index: int) -> Outcome:
    """What the series shows at its index-th attempt."""
    if t is NO_SLOT:
        return Outcome.AVAILABLE if index % 10 == 0 else Outcome.NO_SLOT
    if t is ANEF:  # a portal down two times in three
        return Outcome.AVAILABLE if index % 3 == 0 else Outcome.SITE_ERROR
    return {
        CAPTCHA.id: Outcome.CAPTCHA,
        CLOSED.id: Outcome.CLOSED,
        BLOCKED.id: Outcome.BLOCKED,
        NETWORK.id: Outcome.NETWORK_ERROR,
    }[t.id]


def _observations(t: Target) -> list[Observation]:
    made = []
    for day in range(PERIODS["five_weeks"]):
        when = FIRST + timedelta(days=day)
        for hour in HOURS:
            index = len(made)
            outcome = _outcome(t, index)
            slots = 2 if outcome is Outcome.AVAILABLE and t is not ANEF else None
            spec = Spec(paris(when.year, when.month, when.day, hour), outcome, slots)
            obs = observation(t.id, spec)
            env = obs.env.model_copy(
                update={"user_agent": "prefecture-watchdog/0.1", "resolved_ip": "192.0.2.7"}
            )
            made.append(obs.model_copy(update={"env": env}))
    return made


@dataclass(frozen=True)
class Printed:
    pdf_text: str  # pdftotext output, narrow no-break spaces as plain ones
    html: str


def _pdf_text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True)
    return out.stdout.replace("\u202f", " ").replace("\u00a0", " ")


def _printed(paths: list[Path]) -> Printed:
    pdf = next(p for p in paths if p.suffix == ".pdf")
    html = next(p for p in paths if p.suffix == ".html")
    return Printed(_pdf_text(pdf), html.read_text("utf-8"))


def _period(days: int) -> Period:
    return Period.from_dates(FIRST, FIRST + timedelta(days=days - 1))


@pytest.fixture(scope="module")
def claims_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("claims") / "data")
    for t in TARGETS:
        store.append_many(_observations(t))
    return store


@pytest.fixture(scope="module")
def reports(claims_store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Printed]:
    """The French report over 1 day, 2 weeks and 5 weeks, and the English one over 5 weeks."""
    out = tmp_path_factory.mktemp("reports")
    printed = {}
    for name, days, lang in [*((n, d, "fr") for n, d in PERIODS.items()), ("en", 35, "en")]:
        period = _period(days)
        paths = build_report(
            claims_store,
            TARGETS,
            since=period.since,
            until=period.until,
            out_dir=out / name,
            options=ReportOptions(generated_at=ISSUED, lang=lang),
        )
        printed[name] = _printed(paths)
    return printed


class _Blocks(HTMLParser):
    """The text of each paragraph, list item, table row and caption, read whole."""

    BLOCKS = frozenset({"p", "li", "tr", "figcaption", "h1", "h2", "h3", "h4", "td"})

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._stack: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS and tag != "td":
            self._stack.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS and tag != "td" and self._stack:
            self.blocks.append("".join(self._stack.pop()))

    def handle_data(self, data: str) -> None:
        for part in self._stack:
            part.append(data)


def blocks(html: str) -> list[str]:
    parser = _Blocks()
    parser.feed(html)
    return [re.sub(r"\s+", " ", b) for b in parser.blocks]


def _names_a_barrier_series(text: str) -> list[str]:
    return [name for name in BARRIER_SERIES if re.search(rf"\b{name}\b —", text)]


@pytest.mark.parametrize("period", list(PERIODS))
def test_no_barrier_is_called_aucun_creneau(reports: dict[str, Printed], period: str) -> None:
    printed = reports[period]
    # In the PDF, no printed line says « aucun créneau » of a series stopped by a barrier…
    lines = [line for line in printed.pdf_text.splitlines() if "aucun créneau" in line]
    assert lines, "the no-slot series is there: its calendar said « aucun créneau »"
    assert [line for line in lines if _names_a_barrier_series(line)] == []
    # …nor does any paragraph, list item, table row or caption of the document.
    said = [b for b in blocks(printed.html) if "aucun créneau" in b and _names_a_barrier_series(b)]
    assert said == []
    # The barriers are named by their cause, and the probe's own troubles set apart.
    text = " ".join(printed.pdf_text.split())
    assert "calendrier non atteint (captcha)" in text and "page désactivée" in text
    assert "le dispositif lui-même" in text and "comptées comme échec d'aucun usager" in text
    assert "Le calendrier n'a jamais été atteint pour 2 séries" in text


def test_the_appreciation_appears_only_where_its_conditions_hold(
    reports: dict[str, Printed],
) -> None:
    for short in ("day", "two_weeks"):
        text = " ".join(reports[short].pdf_text.split())
        assert APPRECIATION not in text
        assert "ne permettent pas d'apprécier si ces conditions sont réunies" in text
    one_day = " ".join(reports["day"].pdf_text.split())
    assert "1 semaine ISO, quand 3 sont requises" in one_day
    assert "3 tentatives utiles ayant atteint le calendrier, quand 30 sont requises" in one_day
    two_weeks = " ".join(reports["two_weeks"].pdf_text.split())
    assert "2 semaines ISO, quand 3 sont requises" in two_weeks
    five = " ".join(reports["five_weeks"].pdf_text.split())
    start = five.index("5.4 Appréciation")
    analysis = five[start : five.index("6. Recommandations", start)]
    assert APPRECIATION in analysis
    # Named with their basis: the no-slot series and the disabled page, nothing else.
    assert "Seine-Saint-Denis — première demande : 89,5 % (94 sur 105)" in analysis
    assert "Rhône — naturalisation : le calendrier n'a pas été atteint" in analysis
    assert "constat fondé sur 105 tentatives sur 35 jours et 5 semaines ISO" in analysis
    for hidden in ("Yvelines", "Paris", "Val-d'Oise"):
        assert f"{hidden} —" not in analysis[: analysis.index("Il appartient")]
    # The captcha hid the calendar: no conclusion either way, and the reason said.
    assert "le calendrier n'a pas pu être observé" in five
    # ANEF is a portal: its own finding, never « créneau ».
    assert "Le portail de dépôt en ligne a été indisponible" in analysis
    assert "le portail était indisponible lors de 66,7 % (70 sur 105)" in analysis


def test_recommendations_need_volume_and_captcha_rgaa_waits_for_a_recorded_alternative(
    reports: dict[str, Printed],
) -> None:
    five = " ".join(reports["five_weeks"].pdf_text.split())
    start = five.index("6. Recommandations", five.index("5.4 Appréciation"))
    section = five[start : five.index("7. Annexes", start)]
    assert "RGAA" not in section[: section.index("Aucune recommandation")]
    # Only where the data say so: not for the probe's own troubles, not behind a captcha.
    autre = section[section.index("autre modalité") : section.index("Recommandation 3")]
    assert "Rhône — naturalisation" in autre
    assert not _names_a_barrier_series(autre.replace("Rhône —", ""))
    assert "Aucune recommandation n'est formulée au titre du critère 1.5 du RGAA" in five
    assert "Proposer sans délai un rendez-vous ou une autre modalité de dépôt" in five
    assert "solution de substitution prévue par l'article R. 431-2" in five
    day = " ".join(reports["day"].pdf_text.split())
    assert "Aucune règle de recommandation n'est satisfaite" in day


def test_the_english_report_has_no_french_legal_phrasing(reports: dict[str, Printed]) -> None:
    text = " ".join(reports["en"].pdf_text.split())
    assert "5.4 Assessment" in text and "do not appear to be met" in text
    assert [phrase for phrase in FRENCH_LEGAL if phrase in text] == []
    for ref in load_legal():
        start = " ".join(ref.holding.split())[:40]
        assert start not in text, ref.id
    assert "Conseil d'État, 9 June 2022, n° 453391" in text


def test_the_methodology_names_only_what_the_observations_carry(
    reports: dict[str, Printed], claims_store: Store
) -> None:
    text = " ".join(reports["five_weeks"].pdf_text.split())
    observations = [o for t in TARGETS for o in claims_store.iter_observations(t.id, None, None)]
    named = {field for field, words in ENV_FIELDS["fr"].items() if words in text}
    assert named == {"user_agent", "resolved_ip"}
    for field in named:
        assert all(getattr(o.env, field) for o in observations), field
    # Nothing measures a clock offset or keeps a HAR: nothing says so.
    assert "NTP" not in text and "HAR" not in text
    assert "aucun écart à une source de temps extérieure n'est mesuré" in text


def test_the_dossier_says_who_made_the_attempts(claims_store: Store, tmp_path: Path) -> None:
    period = _period(14)
    paths = build_dossier(
        claims_store,
        BLOCKED,
        since=period.since,
        until=period.until,
        out_dir=tmp_path,
        options=DossierOptions(generated_at=ISSUED, captures="none"),
    )
    text = " ".join(_printed(paths).pdf_text.split())
    assert "dispositif automatisé d'observation" in text
    assert "indépendamment du demandeur : ces tentatives ne sont pas les siennes" in text
    assert "Ce qu'elles n'établissent pas" in text
    # Every attempt was a 403 aimed at the robot: none is the applicant's failure.
    assert "Tentatives retenues 0" in text
    assert "Listées à part, non imputables au demandeur : sonde bloquée par le site (42)" in text
    assert "Aucune tentative retenue sur la période : ce dossier n'établit rien." in text
    assert "Fait à ………………, le 7 décembre 2026" in text
    assert "Questions à renseigner" in text and "circonstances particulières" in text


def test_an_anef_dossier_speaks_of_a_portal(claims_store: Store, tmp_path: Path) -> None:
    period = _period(35)
    paths = build_dossier(
        claims_store,
        ANEF,
        since=period.since,
        until=period.until,
        out_dir=tmp_path,
        options=DossierOptions(generated_at=ISSUED, captures="none"),
    )
    text = " ".join(_printed(paths).pdf_text.split())
    assert "créneau" not in text
    assert "dont portail indisponible 70" in text and "dont portail disponible 35" in text
    assert "portail indisponible (erreur)" in text and "portail disponible" in text


def _reopened(path: Path) -> str:
    """The document as a word processor would read it back (pandoc's reader), plain text."""
    out = subprocess.run(
        ["pandoc", "--from", path.suffix.removeprefix("."), "--to", "plain", "--wrap=none", path],
        check=True,
        capture_output=True,
        text=True,
    )
    return " ".join(out.stdout.replace("\u00a0", " ").replace("\u202f", " ").split())


def test_editable_copies_reopen_with_their_text(claims_store: Store, tmp_path: Path) -> None:
    period = _period(35)
    paths = build_report(
        claims_store,
        TARGETS,
        since=period.since,
        until=period.until,
        out_dir=tmp_path / "report",
        options=ReportOptions(generated_at=ISSUED, formats=("odt", "docx")),
    )
    assert sorted(p.suffix for p in paths) == [".docx", ".odt"]
    with zipfile.ZipFile(next(p for p in paths if p.suffix == ".odt")) as odt:
        assert odt.read("mimetype") == b"application/vnd.oasis.opendocument.text"
    for path in paths:
        text = _reopened(path)
        assert "Copie modifiable produite par pandoc" in text
        assert "5.4 Appréciation" in text and APPRECIATION in text
        assert "Seine-Saint-Denis — première demande : 89,5 % (94 sur 105)" in text
    (dossier,) = build_dossier(
        claims_store,
        NO_SLOT,
        since=period.since,
        until=period.until,
        out_dir=tmp_path / "dossier",
        options=DossierOptions(generated_at=ISSUED, formats=("odt",), captures="none"),
    )
    text = _reopened(dossier)
    assert "dispositif automatisé d'observation" in text and "Fait à" in text


def test_the_english_dossier_has_no_french_legal_phrasing(
    claims_store: Store, tmp_path: Path
) -> None:
    period = _period(35)
    paths = build_dossier(
        claims_store,
        NO_SLOT,
        since=period.since,
        until=period.until,
        out_dir=tmp_path,
        options=DossierOptions(generated_at=ISSUED, lang="en", captures="none"),
    )
    text = " ".join(_printed(paths).pdf_text.split())
    assert "automated observation device" in text and "independently of the applicant" in text
    assert "Done at ………………, on 7 December 2026" in text
    assert [phrase for phrase in FRENCH_LEGAL if phrase in text] == []
    for ref in load_legal().used_for("dossier"):
        assert " ".join(ref.holding.split())[:40] not in text, ref.id
        assert ref.cited("en").split(",")[0] in text


@pytest.mark.parametrize("period", list(PERIODS))
def test_french_typography_holds_in_every_new_sentence(
    reports: dict[str, Printed], period: str
) -> None:
    text = visible_text(reports[period].html)
    assert re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", text) == []
    assert "1er\u00a0" in text or "2\u00a0novembre 2026" in text


def test_french_typography_holds_in_the_dossier(claims_store: Store, tmp_path: Path) -> None:
    period = _period(35)
    (path,) = build_dossier(
        claims_store,
        ANEF,
        since=period.since,
        until=period.until,
        out_dir=tmp_path,
        options=DossierOptions(generated_at=ISSUED, formats=("html",), captures="none"),
    )
    text = visible_text(path.read_text("utf-8"))
    assert re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", text) == []


# -- periods retention pruned (issue 19) ---------------------------------------------------

PRUNED = target("claims-pruned", "93", "Seine-Saint-Denis")
PRUNED_FIRST = date(2026, 11, 1)  # a 1st: « 1er novembre 2026 »
PRUNED_DAYS = 14  # 3 attempts a day; retention prunes the first 7 days (21 attempts)


def _pruned_outcome(index: int) -> Outcome:
    return Outcome.AVAILABLE if index % 5 == 0 else Outcome.NO_SLOT


@pytest.fixture(scope="module")
def pruned_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """PRUNED over two weeks, its first week pruned by « rolling » on the day of issue: kept,
    17 « aucun créneau » of 21; pruned, 16 « aucun créneau » and 5 « créneau proposé »."""
    store = Store.open(tmp_path_factory.mktemp("pruned") / "data")
    made = []
    for day in range(PRUNED_DAYS):
        when = PRUNED_FIRST + timedelta(days=day)
        for hour in HOURS:
            outcome = _pruned_outcome(len(made))
            spec = Spec(paris(when.year, when.month, when.day, hour), outcome,
                        2 if outcome is Outcome.AVAILABLE else None)  # fmt: skip
            made.append(observation(PRUNED.id, spec))
    store.append_many(made)
    cutoff = paris(2026, 11, 8, 0)  # the first week is due
    classes = {PRUNED.id: RetentionClass(ISSUED - cutoff)}
    done = retention.apply(store, retention.plan(store, classes, ISSUED, float("inf")), ISSUED)
    assert [s.observations for s in done.summaries] == [21]
    return store


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_report_over_a_pruned_period_says_so_and_rates_only_what_is_kept(
    pruned_store: Store, tmp_path: Path
) -> None:
    period = Period.from_dates(PRUNED_FIRST, PRUNED_FIRST + timedelta(days=PRUNED_DAYS - 1))
    printed = {}
    for lang in ("fr", "en"):
        paths = build_report(pruned_store, [PRUNED], since=period.since, until=period.until,
                             out_dir=tmp_path / lang,
                             options=ReportOptions(generated_at=ISSUED, lang=lang))  # fmt: skip
        printed[lang] = _printed(paths)
    fr = _flat(printed["fr"].pdf_text)
    assert (
        "la période de ce rapport recoupe une période dont la politique de conservation de "
        "l'émetteur a supprimé les observations du registre avant l'émission de ce document"
    ) in fr
    assert (
        "Seine-Saint-Denis — première demande (claims-pruned) : 21 observations du 1er novembre "
        "2026 à 9 h 00 au 7 novembre 2026 à 17 h 00, dont 16 « aucun créneau » et 5 « créneau "
        "proposé », supprimées le 7 décembre 2026 au titre de la classe de conservation"
    ) in fr
    assert "Son résumé signé a été vérifié à l'émission de ce document" in fr
    assert "Le détail de ces observations (pages, captures" in fr
    assert "n'est plus disponible" in fr
    assert (
        "Les taux, décomptes et graphiques de ce rapport portent sur les seules observations "
        "conservées : les observations supprimées n'y entrent pas."
    ) in fr
    # The synthesis counts the kept attempts and says the pruned ones are not among them.
    assert (
        "un dispositif automatisé a effectué 21 tentatives de prise de rendez-vous sur 1 série "
        "(une préfecture et une démarche), en observateur, sans jamais réserver de créneau, sans "
        "compter les observations de la période que la politique de conservation a supprimées "
        "depuis (section 3.4)."
    ) in fr
    assert "de la première observation conservée, le 8 novembre 2026 à 9 h 00" in fr
    # The rates are indeed those of the 21 attempts kept (17 without a slot), not of the 42.
    assert "(17 sur 21)" in fr and "sur 42)" not in fr
    cover = [b for b in blocks(printed["fr"].html) if b.startswith("Tentatives analysées")]
    assert cover and cover[0].startswith("Tentatives analysées21 ")
    assert any(b.startswith("Observations supprimées21") for b in blocks(printed["fr"].html))
    en = _flat(printed["en"].pdf_text)
    assert (
        "Seine-Saint-Denis — first application (claims-pruned): 21 observations from "
        "1 November 2026, 09:00 to 7 November 2026, 17:00, of which 16 “no slot” and 5 “slot "
        "offered”, pruned on 7 December 2026 under the retention class"
    ) in en
    assert "Its signed summary was verified when this document was made" in en
    assert "is no longer available" in en
    assert "computed on the observations kept only: the pruned observations are not in them" in en
    assert "(17 of 21)" in en or "17 of 21" in en
    assert "supprim" not in en
    assert (
        "without ever booking a slot, not counting the observations of the period the retention "
        "policy has since pruned (section 3.4)."
    ) in en
    assert "from the first observation kept, on 8 November 2026, 09:00" in en
    text = visible_text(printed["fr"].html)
    assert re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", text) == []


def test_a_dossier_over_a_pruned_period_says_so(pruned_store: Store, tmp_path: Path) -> None:
    period = Period.from_dates(PRUNED_FIRST, PRUNED_FIRST + timedelta(days=PRUNED_DAYS - 1))
    paths = build_dossier(pruned_store, PRUNED, since=period.since, until=period.until,
                          out_dir=tmp_path,
                          options=DossierOptions(generated_at=ISSUED, captures="none"))  # fmt: skip
    printed = _printed(paths)
    text = _flat(printed.pdf_text)
    assert "la période de ce dossier recoupe une période" in text
    assert "21 observations du 1er novembre 2026 à 9 h 00 au 7 novembre 2026 à 17 h 00" in text
    assert "dont 16 « aucun créneau » et 5 « créneau proposé »" in text
    assert "Son résumé signé a été vérifié à l'émission de ce document" in text
    assert (
        "Les décomptes de ce dossier (résumé, semaines, tentatives) portent sur les seules" in text
    )
    assert (
        "Période observée du 8 novembre 2026 à 9 h 00 au 14 novembre 2026 à 17 h 00 "
        "(observations conservées)"
    ) in text
    summary = [b for b in blocks(printed.html) if b.startswith("Tentatives retenues")]
    assert summary == ["Tentatives retenues21"]  # the kept week only
    visible = visible_text(printed.html)
    assert re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", visible) == []


def test_a_pruned_previous_period_and_a_summary_that_fails_its_check_are_said(
    pruned_store: Store, tmp_path: Path
) -> None:
    after = Period.from_dates(date(2026, 11, 8), date(2026, 11, 14))  # the week before: pruned
    html_only = ReportOptions(generated_at=ISSUED, formats=("html",))
    (path,) = build_report(pruned_store, [PRUNED], since=after.since, until=after.until,
                           out_dir=tmp_path / "after", options=html_only)  # fmt: skip
    html = path.read_text("utf-8")
    assert 'id="periodes-supprimees"' not in html and "Observations supprimées" not in html
    assert (
        "La politique de conservation a supprimé du registre des observations de la période "
        "précédente : Seine-Saint-Denis — première demande, 21 observations du 1er novembre 2026 "
        "à 9 h 00 au 7 novembre 2026 à 17 h 00. Elles n'entrent dans aucune comparaison."
    ) in visible_text(html).replace("\u00a0", " ").replace("\u202f", " ")
    assert re.findall(r".{12}(?: [;:!?%»]|« ).{0,12}", visible_text(html)) == []
    with pruned_store.engine.begin() as conn:
        (row,) = conn.execute(sa.select(pruned_segments)).all()
        conn.execute(sa.update(pruned_segments).values(signature="0" * 64))
    try:
        period = Period.from_dates(date(2026, 11, 3), date(2026, 11, 10))  # the stretch began
        (path,) = build_dossier(pruned_store, PRUNED, since=period.since, until=period.until,
                                out_dir=tmp_path / "altered",
                                options=DossierOptions(generated_at=ISSUED, formats=("html",),
                                                       captures="none"))  # fmt: skip
        text = visible_text(path.read_text("utf-8")).replace("\u00a0", " ")
        assert "La vérification de son résumé signé a échoué à l'émission de ce document" in text
        # The stretch began before this period: the count the cover gives is not all in it.
        assert "21 observations supprimées par la politique de conservation, en partie" in text
        assert "(en partie hors de la période de ce dossier)" in text
        assert "a été vérifié" not in text
    finally:
        with pruned_store.engine.begin() as conn:
            conn.execute(sa.update(pruned_segments).values(signature=row.signature))
