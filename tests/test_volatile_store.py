"""A page kept as skeleton + volatile record: one skeleton for unchanged pages, the page as
served rebuilt byte for byte, `watchdog verify` and the offline bundle check both prove it."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

from harness import Sim, probe_and_store, target, write_config
from reportdata import Spec, observation, paris
from reportdata import target as report_target

from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.domain.models import EvidenceRefs, Observation, Outcome
from watchdog.evidence.policy import EvidenceMemory
from watchdog.evidence.volatile import keep_page, page_fingerprint, rebuild
from watchdog.report import ReportOptions
from watchdog.stats import Period
from watchdog.store import Store
from watchdog.store.verify import verify_store

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 8))
PAGE = (
    '<html><head><meta name="csrf-token" content="{token}"></head><body><form action="/b/2">'
    '<input type="hidden" name="csrf_token" value="{token}"><p>Aucune plage libre</p></form>'
    '<a href="/contact;jsessionid={sid}">Contact</a></body></html>'
)


def _page(n: int) -> str:
    return PAGE.format(token=f"Tk{n:030d}Zz", sid=f"{n:032X}")


def _tamper(store: Store, sha: str) -> None:
    path = store.blobs.path(sha)
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])


def _problems(store: Store) -> list[str]:
    return [f"{p.sha}: {p.problem}" for p in verify_store(store).blob_problems]


def test_two_probes_of_an_unchanged_page_store_one_skeleton(sim: Sim, tmp_path: Path) -> None:
    """The simulated RDV-Préfecture captcha page carries a fresh token on every visit."""
    config = write_config(tmp_path, [target("t", "rdv_prefecture", sim.entry_url("rdv-no-slot"))])
    first, second = (probe_and_store(sim, config, "t") for _ in range(2))
    one, two = first.evidence, second.evidence
    assert one.html == two.html, "the unchanged page is one skeleton blob"
    assert one.html_volatile and two.html_volatile and one.html_volatile != two.html_volatile
    assert one.html_sha256 != two.html_sha256
    with Store.open(config.watchdog.data_dir) as store:
        for refs in (one, two):
            page = rebuild(refs, store.blobs.get)
            assert page is not None and hashlib.sha256(page).hexdigest() == refs.html_sha256
            assert len(store.blobs.get(refs.html_volatile or "")) < 1024
        assert verify_store(store).ok
        memory = EvidenceMemory()  # a restart reads the fingerprint without rebuilding
        memory.seed([second], store.blobs.get)
        assert memory._seen["t"].fingerprint == page_fingerprint(page.decode())
        _tamper(store, two.html_volatile or "")
        problems = _problems(store)
        assert any(two.html_volatile in p and "does not match" in p for p in problems)
        assert any(p.startswith(str(two.html_sha256)) for p in problems)  # not rebuilt
        _tamper(store, two.html or "")
        assert any(str(two.html) in p for p in _problems(store))


def _stored(store: Store, make: Callable[[int], EvidenceRefs], count: int) -> list[Observation]:
    built = []
    for n in range(count):
        obs = observation("t-vol", Spec(paris(2026, 11, 2 + n, 10), Outcome.NO_SLOT))
        built.append(obs.model_copy(update={"evidence": make(n)}))
    return store.append_many(built)


def _split(store: Store) -> Callable[[int], EvidenceRefs]:
    def make(n: int) -> EvidenceRefs:
        refs = EvidenceRefs()
        keep_page(refs, _page(n), store.blobs.put)
        return refs

    return make


def test_split_pages_dedup_and_verify(tmp_path: Path) -> None:
    with Store.open(tmp_path / "data") as store:
        stored = _stored(store, _split(store), 3)
        assert len({obs.evidence.html for obs in stored}) == 1
        assert len({obs.evidence.html_volatile for obs in stored}) == 3
        for n, obs in enumerate(stored):
            assert rebuild(obs.evidence, store.blobs.get) == _page(n).encode()
        assert verify_store(store).ok


def test_verify_finds_a_record_that_rebuilds_another_page(tmp_path: Path) -> None:
    """Each blob hashes right, but the record is another visit's: the page is not the one."""
    with Store.open(tmp_path / "data") as store:
        other = EvidenceRefs()
        keep_page(other, _page(99), store.blobs.put)

        def swapped(n: int) -> EvidenceRefs:
            refs = _split(store)(n)
            return refs.model_copy(update={"html_volatile": other.html_volatile})

        stored = _stored(store, swapped, 1)
        problems = _problems(store)
        assert problems == [
            f"{stored[0].evidence.html_sha256}: the page rebuilt from its skeleton "
            f"{stored[0].evidence.html} and volatile record {other.html_volatile} does not "
            "hash to it"
        ]


def test_observations_from_before_the_split_still_mean_the_whole_page(tmp_path: Path) -> None:
    with Store.open(tmp_path / "data") as store:
        page = _page(1).encode()

        def whole(n: int) -> EvidenceRefs:
            return EvidenceRefs(html=store.blobs.put(page, "html"))

        (obs,) = _stored(store, whole, 1)
        assert rebuild(obs.evidence, store.blobs.get) == page
        assert verify_store(store).ok
        memory = EvidenceMemory()
        memory.seed([obs], store.blobs.get)
        assert memory._seen["t-vol"].fingerprint == page_fingerprint(_page(2))


def _bundle(tmp_path: Path, make: str) -> Path:
    out = tmp_path / "lot.zip"
    with Store.open(tmp_path / "data") as store:
        if make == "split":
            _stored(store, _split(store), 3)
        else:
            whole = [store.blobs.put(b"<p>%d</p>" % n, "html") for n in range(2)]
            _stored(store, lambda n: EvidenceRefs(html=whole[n]), 2)
        result = export_bundle(
            store,
            [report_target("t-vol")],
            since=PERIOD.since,
            until=PERIOD.until,
            out=out,
            report=ReportOptions(formats=("html",), generated_at=paris(2026, 11, 9, 12)),
        )
        assert not result.missing_evidence
    return out


def test_the_bundle_holds_the_pages_as_served_and_verifies_offline(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "split")
    check = verify_bundle(bundle)
    assert check.ok, check.render()
    archive = zipfile.ZipFile(bundle)
    for n in range(3):
        page = _page(n).encode()
        name = layout.evidence_name(hashlib.sha256(page).hexdigest(), "html_sha256")
        assert archive.read(name) == page  # what `sha256sum -c` proves, without this software
    assert sum(n.endswith(".json") for n in archive.namelist() if n.startswith("preuves/")) == 3
    assert "html_volatile" in archive.read(layout.README).decode()


def test_the_offline_check_finds_a_record_swapped_for_a_valid_one(tmp_path: Path) -> None:
    """A record replaced, names and sums rewritten to match: only the rebuild can tell."""
    bundle = _bundle(tmp_path, "split")
    archive = zipfile.ZipFile(bundle)
    records = sorted(n for n in archive.namelist() if n.endswith(".json") and "preuves/" in n)
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as out:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == records[0]:
                data = archive.read(records[1])
            out.writestr(info, data)
    problems = verify_bundle(forged).problems
    assert any("does not hash to its name" in p for p in problems), problems
    assert any("rebuilt from its skeleton" in p for p in problems), problems


def test_a_bundle_of_whole_pages_still_verifies(tmp_path: Path) -> None:
    check = verify_bundle(_bundle(tmp_path, "whole"))
    assert check.ok, check.render()
