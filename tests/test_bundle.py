"""Evidence bundles: export → verify passes; any altered byte is found and named; unsafe
archives (zip-slip, links) are refused without extracting anything."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from reportdata import Spec, fill, paris, target

from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.cli.main import main
from watchdog.domain.models import Outcome, SlotSeen
from watchdog.report import ReportOptions
from watchdog.stats import Period
from watchdog.store import Store

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 8))
T1 = target("seine-saint-denis-premiere", "93", "Seine-Saint-Denis")
T2 = target("ain-renouvellement", "01", "Ain", "renouvellement")
SEEN = (
    SlotSeen(key="trh-81", day="2026-11-20", time="09:30"),
    SlotSeen(day="2026-11-21", time="10:00"),
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("bundle")
    with Store.open(base / "data") as store:
        before = [Spec(paris(2026, 11, 1, 9), Outcome.NO_SLOT)]  # outside: the chain's anchor
        week = [
            Spec(paris(2026, 11, d, 10), Outcome.NO_SLOT, message='=HYPERLINK("x")')
            for d in range(2, 9)
        ]
        week.append(Spec(paris(2026, 11, 4, 15), Outcome.SITE_ERROR, detail="http_502"))
        fill(store, T1.id, before + week, captures=lambda s: s.at.day in (2, 4))
        offered = Spec(paris(2026, 11, 3, 11), Outcome.AVAILABLE, 2, slots_seen=SEEN)
        fill(store, T2.id, [offered], captures=True)
        out = base / "lot.zip"
        result = export_bundle(
            store,
            [T1, T2],
            since=PERIOD.since,
            until=PERIOD.until,
            out=out,
            report=ReportOptions(formats=("html",), generated_at=paris(2026, 11, 9, 12)),
        )
        assert result.path == out and result.observations == 9 and not result.missing_evidence
        assert (
            result.fingerprint
            == hashlib.sha256(zipfile.ZipFile(out).read("manifest.json")).hexdigest()
        )
        yield out


def rewrite(source: Path, target_path: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy a zip, passing each member through `change` (None drops it)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target_path, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info, data)


def forge(source: Path, target_path: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """As `rewrite`, then manifest.json and SHA256SUMS recomputed as a forger would."""
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read(layout.MANIFEST))
        changed = {n: change(n, archive.read(n)) for n in archive.namelist()
                   if n not in (layout.MANIFEST, layout.SUMS)}  # fmt: skip
    files = {n: d for n, d in changed.items() if d is not None}
    manifest["files"] = [
        {"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for n, d in sorted(files.items())
    ]
    files[layout.MANIFEST] = json.dumps(manifest).encode()
    files[layout.SUMS] = layout.sums_text(
        {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    )
    with zipfile.ZipFile(target_path, "w") as out:
        for name, data in files.items():
            out.writestr(name, data)


def flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_an_untouched_bundle_verifies(bundle: Path) -> None:
    check = verify_bundle(bundle)
    assert check.ok, check.render()
    assert check.observations == 9
    names = zipfile.ZipFile(bundle).namelist()
    assert {
        "LISEZMOI.txt",
        "manifest.json",
        "SHA256SUMS",
        "observations.jsonl",
        "observations.csv",
    } <= set(names)
    assert any(n.startswith("rapport/rapport-WD-") and n.endswith(".html") for n in names)
    docs = [
        json.loads(line) for line in zipfile.ZipFile(bundle).read("observations.jsonl").splitlines()
    ]
    referenced = {sha for d in docs for sha in d["evidence"].values() if sha}
    assert {n.split("/")[1].split(".")[0] for n in names if n.startswith("preuves/")} == referenced
    assert len(referenced) >= 8
    assert check.files == len(names) - 2
    assert "OK: every file matches" in check.render()


def test_the_readme_is_french_first_with_french_spacing(bundle: Path) -> None:
    readme = zipfile.ZipFile(bundle).read("LISEZMOI.txt").decode()
    french, _, english = readme.partition("EVIDENCE BUNDLE —")
    assert french.startswith("LOT DE PREUVES") and english
    assert "Avec le logiciel\u00a0: «\u00a0watchdog verify" in french
    for plain in ("« ", " »", " :", " ;"):
        assert plain not in french, plain  # every one is a no-break space
    assert "\u00a0" not in english  # English spacing stays plain


def test_jsonl_lines_are_the_hashed_documents_and_the_chain_starts_at_its_anchor(
    bundle: Path,
) -> None:
    archive = zipfile.ZipFile(bundle)
    lines = archive.read("observations.jsonl").splitlines()
    manifest = json.loads(archive.read("manifest.json"))
    chains = {c["target"]: c for c in manifest["chains"]}
    assert chains[T1.id]["first_seq"] == 2 and chains[T1.id]["count"] == 8  # seq 1 is 1 Nov
    assert chains[T1.id]["anchor_prev_hash"] is not None
    first = json.loads(lines[0])
    assert first["target"] == T2.id and first["prev_hash"] is None
    assert chains[T2.id]["head_hash"] == hashlib.sha256(lines[0]).hexdigest()
    table = archive.read("observations.csv").decode()
    assert "'=HYPERLINK" in table  # a formula in a scraped message stays text in a spreadsheet


def test_sha256sum_checks_the_extracted_bundle(bundle: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(bundle).extractall(tmp_path)
    done = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(zipfile.ZipFile(bundle).namelist()) - 1


def test_one_altered_byte_in_any_file_is_named(bundle: Path, tmp_path: Path) -> None:
    names = zipfile.ZipFile(bundle).namelist()
    for name in names:
        altered = tmp_path / "altered.zip"
        rewrite(bundle, altered, lambda n, data, name=name: flip(data) if n == name else data)
        check = verify_bundle(altered)
        assert not check.ok, name
        assert name in check.problems[0], (name, check.problems)


def test_a_corrupted_archive_member_is_named(bundle: Path, tmp_path: Path) -> None:
    archive = zipfile.ZipFile(bundle)
    info = next(i for i in archive.infolist() if i.filename.endswith(".png"))
    raw = bytearray(bundle.read_bytes())
    header = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[header + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    check = verify_bundle(damaged)
    assert not check.ok and info.filename in check.problems[0]


def test_an_observation_removed_with_hashes_recomputed_breaks_the_chain(
    bundle: Path, tmp_path: Path
) -> None:
    """The forger also rewrites manifest.json and SHA256SUMS: the chain still tells."""
    archive = zipfile.ZipFile(bundle)
    lines = archive.read("observations.jsonl").splitlines(keepends=True)
    forged_jsonl = b"".join(lines[:3] + lines[4:])
    forged = tmp_path / "forged.zip"
    forge(bundle, forged, lambda n, data: forged_jsonl if n == "observations.jsonl" else data)
    check = verify_bundle(forged)
    assert not check.ok
    assert check.problems[0].startswith("observations.jsonl line 4 ")
    assert "does not name the previous observation" in check.problems[0]
    assert any(p.startswith("observations.csv: does not match") for p in check.problems)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../evil.txt", "escapes the bundle"),
        ("preuves/../../evil.txt", "escapes the bundle"),
        ("/etc/evil.txt", "absolute"),
        ("..\\evil.txt", "absolute or non-portable"),
        ("C:/evil.txt", "absolute or non-portable"),
    ],
)
def test_path_traversal_entries_are_refused(
    bundle: Path, tmp_path: Path, entry: str, reason: str
) -> None:
    crafted = tmp_path / "crafted.zip"
    rewrite(bundle, crafted, lambda n, data: data)
    with zipfile.ZipFile(crafted, "a") as archive:
        archive.writestr(entry, b"pwned")
    check = verify_bundle(crafted)
    assert check.refused and not check.ok
    assert repr(entry) in check.problems[0] and reason in check.problems[0]
    assert "REFUSED" in check.render()
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/etc/evil.txt").exists()


def test_symlink_entries_are_refused(bundle: Path, tmp_path: Path) -> None:
    crafted = tmp_path / "link.zip"
    rewrite(bundle, crafted, lambda n, data: data)
    link = zipfile.ZipInfo("preuves/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(crafted, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    check = verify_bundle(crafted)
    assert check.refused and "'preuves/link' refused: a symbolic link" in check.problems[0]


def test_an_added_file_is_named(bundle: Path, tmp_path: Path) -> None:
    crafted = tmp_path / "extra.zip"
    rewrite(bundle, crafted, lambda n, data: data)
    with zipfile.ZipFile(crafted, "a") as archive:
        archive.writestr("preuves/extra.png", b"not evidence")
    check = verify_bundle(crafted)
    assert not check.refused
    assert check.problems == [
        "preuves/extra.png: not listed in manifest.json (added after export?)"
    ]


def test_cli_verify_takes_a_bundle(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(bundle)]) == 0
    assert "OK: every file matches" in capsys.readouterr().out
    altered = tmp_path / "altered.zip"
    rewrite(bundle, altered, lambda n, data: flip(data) if n == "observations.csv" else data)
    assert main(["verify", str(altered)]) == 1
    assert "FAILED: observations.csv:" in capsys.readouterr().out


def _relabelled(bundle: Path, out: Path, table: bytes, fmt: str) -> Path:
    """`bundle` with another CSV and format label, its manifest and sums made consistent."""
    archive = zipfile.ZipFile(bundle)
    manifest = json.loads(archive.read("manifest.json"))
    manifest["format"] = fmt
    for entry in manifest["files"]:
        if entry["path"] == "observations.csv":
            entry.update(sha256=hashlib.sha256(table).hexdigest(), size=len(table))
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()

    def change(name: str, data: bytes) -> bytes:
        if name == "observations.csv":
            return table
        if name == "manifest.json":
            return manifest_bytes
        if name == "SHA256SUMS":
            sums = {
                line.split("  ", 1)[1]: line.split("  ", 1)[0]
                for line in data.decode().splitlines()
            }
            sums["observations.csv"] = hashlib.sha256(table).hexdigest()
            sums["manifest.json"] = hashlib.sha256(manifest_bytes).hexdigest()
            return layout.sums_text(sums)
        return data

    rewrite(bundle, out, change)
    return out


def _table(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def test_format_3_lists_the_slots_seen_and_format_2_bundles_still_verify(
    bundle: Path, tmp_path: Path
) -> None:
    archive = zipfile.ZipFile(bundle)
    assert json.loads(archive.read("manifest.json"))["format"] == layout.FORMAT
    table = list(csv.DictReader(io.StringIO(archive.read("observations.csv").decode())))
    offered = next(row for row in table if row["target"] == T2.id)
    assert json.loads(offered["slots_seen"]) == [s.model_dump() for s in SEEN]
    assert {row["slots_seen"] for row in table if row["target"] == T1.id} == {""}
    jsonl = [json.loads(line) for line in archive.read("observations.jsonl").splitlines()]
    assert next(d for d in jsonl if d["target"] == T2.id)["slots_seen"] == json.loads(
        offered["slots_seen"]
    )
    # The same bundle as format 2 wrote it: no `slots_seen` column.
    rows = list(csv.reader(io.StringIO(archive.read("observations.csv").decode())))
    at = rows[0].index("slots_seen")
    old_table = _table([[*row[:at], *row[at + 1 :]] for row in rows])
    check = verify_bundle(_relabelled(bundle, tmp_path / "v2.zip", old_table, layout.FORMAT_2))
    assert check.ok, check.render()
    mixed = _relabelled(bundle, tmp_path / "mixed.zip", old_table, layout.FORMAT)
    check = verify_bundle(mixed)
    assert not check.ok and "observations.csv: does not match the observations" in check.render()


def test_format_2_has_no_har_column_and_format_1_bundles_still_verify(
    bundle: Path, tmp_path: Path
) -> None:
    archive = zipfile.ZipFile(bundle)
    current = archive.read("observations.csv")
    rows = list(csv.reader(io.StringIO(current.decode())))
    assert "har" not in rows[0]
    assert json.loads(archive.read("manifest.json"))["format"] == layout.FORMAT
    # The same bundle as format 1 wrote it: a `har` column after `html`, always empty, and
    # no `slots_seen` column (format 3 added it).
    at = rows[0].index("html") + 1
    seen = rows[0].index("slots_seen")
    old_rows = [
        [*row[:seen], *row[seen + 1 : at], "har" if n == 0 else "", *row[at:]]
        for n, row in enumerate(rows)
    ]
    old_table = _table(old_rows)
    check = verify_bundle(_relabelled(bundle, tmp_path / "v1.zip", old_table, layout.FORMAT_1))
    assert check.ok, check.render()
    # Each format's table is checked against its own columns.
    check = verify_bundle(_relabelled(bundle, tmp_path / "mixed.zip", current, layout.FORMAT_1))
    assert not check.ok and "observations.csv: does not match the observations" in check.render()
    check = verify_bundle(_relabelled(bundle, tmp_path / "v2.zip", current, layout.FORMAT))
    assert check.ok, check.render()
