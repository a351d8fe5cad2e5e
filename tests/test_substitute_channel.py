"""The substitute channel check (issue 18 item 4): `watchdog substitute` reads each journey's
prefecture pages on the simulator (our own test pages, watchdog/simulator/prefecture_info.py)
and finds exactly the channels planted on each — never the footer's switchboard number, the
data-protection address or the CERFA form; a form whose page answers 503 is unreachable, an
information page that answers 500 leaves every channel unreachable. Checks live in their own
chain with the pages as served; they feed the report's accessibility section, its
recommendation rule, the gauge, and change no rate and no open-data row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from harness import Sim, loopback_site, probe_and_store, report_texts, target, write_config
from test_a11y_time import run_when_due
from test_bundle import forge

from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.cli.main import main
from watchdog.config.loader import Config, load_config
from watchdog.daemon.audits import SUBSTITUTE
from watchdog.daemon.service import Daemon
from watchdog.domain.errors import ConfigError
from watchdog.domain.models import (
    AuditProfile,
    ChannelKind,
    ChannelOutcome,
    ChannelSeen,
    Observation,
    SubstituteCheck,
    substitute_chain,
)
from watchdog.metrics.registry import Metrics
from watchdog.opendata.export import rows
from watchdog.report import ReportOptions
from watchdog.report.recommend import load_rules, recommend, rule_notes
from watchdog.simulator import prefecture_info
from watchdog.stats.calendar import Period, paris_midnight
from watchdog.stats.series import SeriesStats
from watchdog.store import Store
from watchdog.store.record import Selection
from watchdog.store.verify import verify_store
from watchdog.substitute.recognise import recognise

P, N, U = ChannelOutcome.PUBLISHED, ChannelOutcome.NOT_FOUND, ChannelOutcome.UNREACHABLE
KINDS = [k.value for k in ChannelKind]
# variant -> the outcome of each kind (form, email, postal, phone)
PLANTED = {
    "all": (P, P, P, P),
    "none": (N, N, N, N),
    "form": (P, N, N, N),
    "email": (N, P, N, N),
    "postal": (N, N, P, N),
    "phone": (N, N, N, P),
    "error": (U, U, U, U),
    "form-down": (U, N, N, N),  # 503: the host is asked nothing more in this run (back-off)
}
VALUES = {
    ChannelKind.EMAIL: [prefecture_info.EMAIL],
    ChannelKind.PHONE: [prefecture_info.PHONE],
    ChannelKind.POSTAL: [f"{prefecture_info.STREET}, {prefecture_info.TOWN}"],
}


def journey(variant: str, sim: Sim) -> dict[str, Any]:
    spec = target(f"info-{variant}", "legacy_booking", sim.entry_url("legacy-no-slot"))
    spec["substitute_pages"] = [f"{sim.base}{prefecture_info.PREFIX}/{variant}"]
    spec["prefecture"] = f"Préfecture de test {variant}"  # the report names series by it
    return spec


@pytest.fixture
def config(sim: Sim, tmp_path: Path) -> Config:
    return write_config(tmp_path, [journey(v, sim) for v in PLANTED])


def checks(config: Config) -> dict[str, Observation]:
    store = Store.open(config.watchdog.data_dir)
    try:
        last = store.last_of([substitute_chain(t.id) for t in config.targets])
    finally:
        store.close()
    return {obs.target.removesuffix(".substitute"): obs for obs in last.values()}


def outcomes(check: SubstituteCheck) -> tuple[ChannelOutcome, ...]:
    assert [c.kind.value for c in check.channels] == KINDS
    return tuple(c.outcome for c in check.channels)


def test_the_recognition_finds_exactly_the_planted_channels() -> None:
    base = "http://127.0.0.1/prefecture-info/x"
    for variant in prefecture_info.VARIANTS:
        found = recognise(prefecture_info.page(variant), base)
        kinds = {f.kind.value for f in found}
        planted = {"form" if k == "form-down" else k for k in prefecture_info.VARIANTS[variant]}
        assert kinds == planted, variant
        # The footer's switchboard, data-protection address and CERFA are never the channel.
        values = " ".join(f.value for f in found)
        assert "dpo@" not in values and "01 99 00 00 00" not in values and ".pdf" not in values


@pytest.mark.parametrize(
    ("passage", "kinds"),
    [
        # No passage about not being able to book: nothing counts, however contact-like.
        ("<p>Contact : ecrire@prefecture.example, 01 99 00 11 22.</p>", set()),
        ("<p>Aucun créneau disponible ? Écrivez à ecrire@prefecture.example.</p>", {"email"}),
        ("<p>Solution de substitution : ecrire [at] prefecture.example</p>", set()),
        ("<p>Impossible de prendre rendez-vous ? <a href='tel:+33199001122'>Appelez-nous</a></p>",
         {"phone"}),
        ("<p>Impossible d'obtenir un rendez-vous : <a href='/f.pdf'>formulaire de demande</a></p>",
         set()),
        ("<p>Si vous ne parvenez pas à prendre rendez-vous :</p><address>Préfecture, BP 12<br>"
         "99999 Villetest Cedex</address>", {"postal"}),
        ("<p>Vous ne pouvez pas prendre rendez-vous ? Le 12 mars 2025 à 14 h.</p>", set()),
    ],
)  # fmt: skip
def test_the_rules_are_conservative(passage: str, kinds: set[str]) -> None:
    found = recognise(f"<html><body>{passage}</body></html>", "http://127.0.0.1/")
    assert {f.kind.value for f in found} == kinds


def test_the_check_records_what_each_page_publishes(sim: Sim, config: Config) -> None:
    assert main(["substitute", "--config", config.source]) == 1  # two are unreachable
    found = checks(config)
    assert set(found) == {f"info-{v}" for v in PLANTED}
    for variant, expected in PLANTED.items():
        check = found[f"info-{variant}"].substitute
        assert check is not None and check.target == f"info-{variant}"
        assert check.department == "93"
        assert outcomes(check) == expected, variant
    complete = found["info-all"].substitute
    assert complete is not None
    by_kind = {c.kind: c for c in complete.channels}
    for kind, values in VALUES.items():
        assert by_kind[kind].values == values
        assert "ne parvenez pas" in (by_kind[kind].excerpt or "")
    form = by_kind[ChannelKind.FORM]
    assert form.values == [f"{sim.base}{prefecture_info.PREFIX}/contact"]
    assert (form.form_status, form.checked) == (200, True)
    assert [p.role for p in complete.pages] == ["information", "form"]
    down = found["info-form-down"].substitute
    assert down is not None
    assert (down.channels[0].form_status, down.pages[1].error) == (503, "HTTP 503")
    error = found["info-error"]
    assert error.substitute is not None and error.substitute.pages[0].error == "HTTP 500"
    assert error.outcome.value == "site_error"
    assert found["info-none"].outcome.value == "unrecognized"  # read; no booking page
    # Each request carried the configured User-Agent; no form was ever submitted.
    log = [r for r in sim.requests() if "/prefecture-info/" in r.get("path", "")]
    assert log and all(r.get("method", "GET") == "GET" for r in log)


def test_a_host_that_answers_503_is_asked_nothing_more(sim: Sim, config: Config) -> None:
    assert main(["substitute", "--config", config.source, "info-form-down", "info-all"]) == 1
    found = checks(config)
    after = found["info-all"]
    assert after.substitute is not None
    (page,) = after.substitute.pages
    assert page.status is None and page.sha256 is None
    assert page.error is not None and "back off" in page.error
    assert outcomes(after.substitute) == (U, U, U, U)  # not read: never « not found »


PASSAGE = "<h2>Vous ne parvenez pas à prendre rendez-vous ?</h2>"


@pytest.fixture
def hostile(sim: Sim) -> Iterator[tuple[str, list[str]]]:
    """Pages that misbehave, on loopback; the User-Agent of every request is kept."""
    agents: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        agents.append(request.headers.get("User-Agent", ""))
        path = request.path
        if path == "/away":
            raise web.HTTPFound("http://elsewhere.example/info")
        if path == "/loop":
            raise web.HTTPFound("/loop")
        if path == "/huge":
            return web.Response(body=b"<p>" + b"x" * (6 * 1024 * 1024), content_type="text/html")
        if path == "/latin":  # ISO-8859-1, as its header says
            body = f"<html><body>{PASSAGE}<p>Appelez le 01 99 00 12 34.</p></body></html>"
            latin = {"Content-Type": "text/html; charset=iso-8859-1"}
            return web.Response(body=body.encode("iso-8859-1"), headers=latin)
        if path == "/off-host-form":
            link = '<a href="http://elsewhere.example/contact">formulaire de contact</a>'
            return web.Response(text=f"<html><body>{PASSAGE}<p>{link}</p></body></html>",
                                content_type="text/html")  # fmt: skip
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with loopback_site(sim, app) as base:
        yield base, agents


def test_hostile_pages_are_refused_in_one_line(
    sim: Sim, tmp_path: Path, hostile: tuple[str, list[str]]
) -> None:
    base, agents = hostile
    paths = ["away", "loop", "huge", "latin", "off-host-form"]
    specs = []
    for path in paths:
        spec = target(path, "legacy_booking", sim.entry_url("legacy-no-slot"))
        spec["substitute_pages"] = [f"{base}/{path}"]
        specs.append(spec)
    config = write_config(tmp_path, specs, politeness={"per_host": {"requests_per_minute": 600}})
    main(["substitute", "--config", config.source])
    found = checks(config)
    read = {path: found[path].substitute for path in paths}
    errors = {path: check.pages[0].error for path, check in read.items() if check is not None}
    assert errors["away"] == "not fetched: host 'elsewhere.example' is not in allowed_hosts"
    assert errors["loop"] == "more than 5 redirects"
    assert errors["huge"] == f"answer larger than {5 * 1024 * 1024} bytes: not read"
    assert found["away"].outcome.value == "probe_error"  # ours: never the site's fault
    for path in ("away", "loop", "huge"):
        check = read[path]
        assert check is not None and outcomes(check) == (U, U, U, U)  # not read: unknown
    latin = read["latin"]
    assert latin is not None and errors["latin"] is None
    assert outcomes(latin) == (N, N, N, P)
    off = read["off-host-form"]
    assert off is not None and len(off.pages) == 1  # the form's host is not ours to ask
    form = off.channels[0]
    assert (form.outcome, form.checked, form.form_status) == (P, False, None)
    assert agents and set(agents) == {config.watchdog.user_agent}


def test_the_pages_are_kept_as_served_and_verify(sim: Sim, config: Config) -> None:
    assert main(["substitute", "--config", config.source, "info-all"]) == 0
    check = checks(config)["info-all"]
    assert check.substitute is not None
    url = check.substitute.pages[0].url
    with urllib.request.urlopen(url, timeout=10) as response:
        served = response.read()
    assert check.substitute.pages[0].sha256 == hashlib.sha256(served).hexdigest()
    store = Store.open(config.watchdog.data_dir)
    try:
        assert store.blobs.get(hashlib.sha256(served).hexdigest()) == served
        report = verify_store(store)
        assert report.ok, report.render()
        form_page = check.substitute.pages[1].sha256
        assert form_page is not None
        store.blobs.path(form_page).unlink()
        assert "substitute page 2 html" in verify_store(store).render()
    finally:
        store.close()


def test_checks_change_no_rate_and_no_open_data_row(sim: Sim, config: Config) -> None:
    probe = probe_and_store(sim, config, "info-all")
    assert main(["substitute", "--config", config.source, "info-all", "info-none"]) == 0
    store = Store.open(config.watchdog.data_dir)
    try:
        published = [row for row in rows(store, Selection(), {})]
        assert [r[0] for r in published] == [probe.id]
        assert store.last_for_target("info-all") == probe
        assert verify_store(store).ok
    finally:
        store.close()


def test_the_configuration_is_strict(sim: Sim, tmp_path: Path) -> None:
    cases = {
        "not-a-url": "should match pattern",
        "http://[/x": "not a usable URL",
        "http://elsewhere.example/info": "'elsewhere.example' is not in watchdog.allowed_hosts",
    }
    for page, why in cases.items():
        spec = journey("all", sim)
        spec["substitute_pages"] = [f"{sim.base}/fine", page]
        with pytest.raises(ConfigError) as caught:
            write_config(tmp_path, [spec])
        (line,) = str(caught.value).splitlines()
        lines = (tmp_path / "watchdog.yaml").read_text(encoding="utf-8").splitlines()
        number = next(i for i, text in enumerate(lines, 1) if page in text)
        assert f"watchdog.yaml:{number}: targets[0].substitute_pages[1]: " in line, line
        assert why in line, line
    twice = journey("all", sim)
    twice["substitute_pages"] *= 2
    with pytest.raises(ConfigError, match="listed twice"):
        write_config(tmp_path, [twice])
    many = journey("all", sim)
    many["substitute_pages"] = [f"{sim.base}/p{i}" for i in range(6)]
    with pytest.raises(ConfigError, match="substitute_pages"):
        write_config(tmp_path, [many])


def test_a_target_without_pages_is_a_clear_error(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = target("plain", "legacy_booking", sim.entry_url("legacy-no-slot"))
    config = write_config(tmp_path, [plain])
    assert main(["substitute", "--config", config.source, "plain"]) != 0
    err = capsys.readouterr().err
    assert "lists no substitute_pages" in err and "Traceback" not in err


def test_the_gauge_gives_each_channel_its_outcome(sim: Sim, config: Config) -> None:
    main(["substitute", "--config", config.source, "info-phone", "info-form-down"])
    metrics = Metrics()
    for target_id, obs in checks(config).items():
        assert obs.substitute is not None
        metrics.substitute_checked(target_id, obs.substitute)
    exposition = metrics.exposition().decode().splitlines()
    lines = {line for line in exposition if line.endswith(" 1.0")
             and line.startswith("watchdog_substitute_channel{")}  # fmt: skip
    assert lines == {
        f'watchdog_substitute_channel{{channel="{kind}",department="93",outcome="{outcome}",'
        f'target="{target_id}"}} 1.0'
        for target_id, published in (("info-form-down", "unreachable"), ("info-phone", "phone"))
        for kind, outcome in (
            ("form", published if target_id == "info-form-down" else "not_found"),
            ("email", "not_found"),
            ("postal", "not_found"),
            ("phone", "published" if published == "phone" else "not_found"),
        )
    }
    every = [line for line in metrics.exposition().decode().splitlines()
             if line.startswith("watchdog_substitute_channel{")]  # fmt: skip
    assert len(every) == 2 * 4 * 3  # each kind, each outcome: 1 on the one found, 0 elsewhere
    # A removed target's series go with it.
    metrics.forget("info-phone", "legacy_booking")
    assert 'target="info-phone"' not in metrics.exposition().decode()


def test_the_report_gives_the_channel_and_recommends_publishing_one(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    ids = ["info-all", "info-none", "info-error"]
    for target_id in ids:
        for _ in range(2):
            probe_and_store(sim, config, target_id)
    assert main(["substitute", "--config", config.source, *ids]) == 1
    chosen = [t for t in config.targets if t.id in ids]
    pages = report_texts(sim, config, chosen, tmp_path)
    fr, en = pages["fr"], pages["en"]
    start = fr.index("4.8 L'accessibilité des parcours")
    section = fr[start : fr.index("5. Analyse", start)]
    assert "Un autre moyen de contact pour qui ne peut pas prendre rendez-vous en ligne" in section
    for label in ("Formulaire de contact", "Adresse électronique", "Adresse postale", "Téléphone"):
        assert label in section
    assert section.count("«\u00a0publié\u00a0»") == 4  # info-all: every kind, French quotes
    assert section.count("«\u00a0non trouvé\u00a0»") == 4  # info-none
    assert section.count("«\u00a0injoignable\u00a0»") == 4  # info-error
    assert prefecture_info.EMAIL in section, section
    assert "1\u00a0page non lue" in section, section
    assert "arrêté du 1er\u00a0août 2023" in section or "arrêté du 1er août 2023" in section
    start = fr.rindex("6. Recommandations")
    recommendations = fr[start : fr.index("7. Annexes", start)]
    assert "Publier, sur la page de la préfecture consacrée à la démarche" in recommendations
    assert "n°\u00a0461694" in recommendations
    assert "Préfets des départements concernés" in recommendations
    # Fires for the page read without any channel, not for the one that could not be read.
    reco = recommendations[recommendations.index("Publier, sur la page") :]
    reco = reco[: reco.index("Recommandation", 1) if "Recommandation" in reco[1:] else None]
    assert "test none" in reco and "test error" not in reco and "test all" not in reco
    start = en.index("Another way in for those who cannot book online")
    english = en[start : en.index("5. ", start)]
    for label in ("Contact form", "E-mail address", "Postal address", "Telephone"):
        assert label in english
    assert english.count("“published”") == 4 and english.count("“unreachable”") == 4
    assert "order of 1 August 2023" in english
    assert "Publish, on the prefecture's page for the procedure" in en


def test_an_unread_page_gives_a_note_not_a_recommendation() -> None:
    period = Period(paris_midnight(date(2026, 12, 1)), paris_midnight(date(2026, 12, 8)))
    rules = load_rules()
    rule = "canal-substitution-publie"

    def series(outcome: ChannelOutcome | None) -> SeriesStats:
        stats = SeriesStats("x", period)
        if outcome is not None:  # None: no check in the period
            seen = [ChannelSeen(kind=k, outcome=outcome) for k in ChannelKind]
            stats.substitute = SubstituteCheck(target="x", department="93", rules="1",
                                               channels=seen)  # fmt: skip
        return stats

    def fired(stats: SeriesStats) -> bool:
        return rule in {r.rule_id for r in recommend(rules, {"x": stats}, stats)}

    def noted(stats: SeriesStats) -> list[str]:
        return [n.text for n in rule_notes(rules, {"x": stats}, set()) if n.rule_id == rule]

    assert fired(series(N)) and not fired(series(U)) and not fired(series(P))
    assert not fired(series(None)) and not noted(series(None))  # unknown: neither
    (note,) = noted(series(U))
    assert "l'absence d'un tel moyen n'est donc pas établie" in note


def test_another_config_is_loaded_unchanged(config: Config) -> None:
    # The key round-trips: what a user writes is what the check reads.
    again = load_config(Path(config.source))
    assert [t.substitute_pages for t in again.targets] == [
        t.substitute_pages for t in config.targets
    ]


def test_a_bundle_carries_the_checks_and_names_a_page_it_lacks(
    sim: Sim, config: Config, tmp_path: Path
) -> None:
    """The substitute chain travels in the bundle with the pages as served; a forger who drops
    a page and recomputes every hash is still named by the offline check."""
    assert main(["substitute", "--config", config.source, "info-all"]) == 0
    check = checks(config)["info-all"]
    assert check.substitute is not None
    shas = [p.sha256 for p in check.substitute.pages]
    assert len(shas) == 2 and None not in shas
    now = datetime.now(UTC)
    out = tmp_path / "lot.zip"
    with Store.open(config.watchdog.data_dir) as store:
        served = {sha: store.blobs.get(sha) for sha in shas if sha is not None}
        export_bundle(
            store, [t for t in config.targets if t.id == "info-all"],
            since=now - timedelta(days=1), until=now + timedelta(hours=1), out=out,
            report=ReportOptions(formats=("html",)),
        )  # fmt: skip
    verified = verify_bundle(out)
    assert verified.ok, verified.problems
    archive = zipfile.ZipFile(out)
    lines = [json.loads(line) for line in archive.read(layout.JSONL).splitlines()]
    assert [d["id"] for d in lines if d["target"] == "info-all.substitute"] == [check.id]
    for sha, page in served.items():
        assert archive.read(f"preuves/{sha}.html") == page  # the page as served
    readme = archive.read(layout.README).decode()
    assert "«\u00a0<série>.substitute\u00a0»\u00a0: notre robot" in readme
    assert readme.index("<série>.substitute") < readme.index('"<series>.substitute"')
    dropped = f"preuves/{shas[1]}.html"  # the form's page
    forged = tmp_path / "forged.zip"
    forge(out, forged, lambda name, data: None if name == dropped else data)
    found = verify_bundle(forged)
    assert not found.ok
    assert any(
        "info-all.substitute" in p
        and f"its substitute page 2 html {shas[1]} is not in the bundle" in p
        for p in found.problems
    ), found.problems


def test_watchdog_run_checks_the_channel_when_due_and_resumes_from_the_store(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon runs the check itself (audit.substitute, daily by default): stored in the
    substitute chain, the gauge refreshed, and read back after a restart to resume from."""
    config = write_config(
        tmp_path, [journey("phone", sim)], audit={"enabled": True, "profiles": {}},
        listen={"port": 0},
    )  # fmt: skip

    audits = frozenset(AuditProfile)  # the check due at start, the audits a day away
    text = run_when_due(config, monkeypatch, 1, "the substitute channel check", audits)
    check = checks(config)["info-phone"]
    assert check.substitute is not None and outcomes(check.substitute) == PLANTED["phone"]
    labels = 'channel="phone",department="93",outcome="published",target="info-phone"'
    assert f"watchdog_substitute_channel{{{labels}}} 1.0" in text
    restarted = Daemon(config)
    restarted._store = Store.open(config.watchdog.data_dir)
    try:
        last = asyncio.run(restarted._refresh_audits())
        assert verify_store(restarted.store).ok
    finally:
        restarted.store.close()
    assert last == {("info-phone", SUBSTITUTE): check.started_at.timestamp()}
