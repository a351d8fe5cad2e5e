"""Crafted bundles: `watchdog verify X.zip` refuses each with one clear line, never a traceback.

Every case is built at test time from one small genuine bundle (no large file is committed):
zip-slip paths, links, duplicates, encrypted entries and other compression methods, forged
sizes, zip bombs (a 2 GiB single-line observations.jsonl in a 2 MB file, overlapping entries,
an oversized directory), every kind of malformed manifest.json, SHA256SUMS and
observations.jsonl, a forged checkpoint. Each must come out not OK, with the expected words,
exit code 1 from the CLI and no traceback, within seconds. Then a few hundred seeded random
mutations of the genuine bundle, and the memory a bomb costs, measured in a child process.
"""

from __future__ import annotations

import hashlib
import json
import random
import stat
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from reportdata import Spec, fill, paris, target

from watchdog.bundle import export_bundle, layout, verify_bundle
from watchdog.bundle.chains import MAX_LINE
from watchdog.bundle.manifest import Manifest
from watchdog.cli.main import main
from watchdog.domain.models import Outcome
from watchdog.report import ReportOptions
from watchdog.stats import Period
from watchdog.store import Store
from watchdog.store import checkpoint as checkpoints

PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 8))
T1 = target("seine-saint-denis-premiere", "93", "Seine-Saint-Denis")
SECONDS_PER_CASE = 20.0
MUTATIONS = 300
BOMB = 2 << 30  # the 2 GiB single line


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real bundle: 4 observations, 2 with captures, and the store's checkpoint."""
    base = tmp_path_factory.mktemp("genuine")
    with Store.open(base / "data") as store:
        specs = [Spec(paris(2026, 11, d, 10), Outcome.NO_SLOT) for d in (1, 3, 4, 5)]
        fill(store, T1.id, specs, captures=lambda s: s.at.day in (3, 4))
        checkpoints.write(store)
        out = base / "genuine.zip"
        export_bundle(
            store, [T1], since=PERIOD.since, until=PERIOD.until, out=out,
            report=ReportOptions(formats=("html",), generated_at=paris(2026, 11, 9, 12)),
        )  # fmt: skip
    check = verify_bundle(out)
    assert check.ok and check.observations == 3, check.render()
    assert any("checkpoint.json: the checkpoint of" in note for note in check.notes)
    return out


# -- building crafted bundles ----------------------------------------------------------------


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def repack(
    bundle: Path,
    out: Path,
    replace: dict[str, bytes | None] | None = None,
    manifest: bytes | Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """`bundle` with members replaced (None drops one), manifest.json and SHA256SUMS redone to
    agree, as a forger would; `manifest` as bytes is written as given (sums still agree)."""
    files = members(bundle)
    document = json.loads(files.pop(layout.MANIFEST))
    files.pop(layout.SUMS)
    for name, data in (replace or {}).items():
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    if isinstance(manifest, bytes):
        raw = manifest
    else:
        document["files"] = [
            {"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for n, d in sorted(files.items())
        ]
        if manifest is not None:
            manifest(document)
        raw = json.dumps(document).encode()
    files[layout.MANIFEST] = raw
    sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    files[layout.SUMS] = layout.sums_text(sums)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out


def add_entry(bundle: Path, out: Path, info: zipfile.ZipInfo | str, data: bytes = b"x") -> Path:
    out.write_bytes(bundle.read_bytes())
    with warnings.catch_warnings(), zipfile.ZipFile(out, "a") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is asked to write
        archive.writestr(info, data)
    return out


# Header field offsets: (local header, central directory record).
FIELDS = {"flags": (6, 8), "method": (8, 10), "crc": (14, 16), "csize": (18, 20),
          "usize": (22, 24)}  # fmt: skip
FORMATS = {"flags": "<H", "method": "<H", "crc": "<I", "csize": "<I", "usize": "<I"}


def patch(path: Path, name: str, *, local: bool = True, **values: int) -> Path:
    """Overwrite header fields of member `name` in place (central record, and local header)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        header = archive.getinfo(name).header_offset
    central = _central_record(raw, name)
    for field, value in values.items():
        at_local, at_central = FIELDS[field]
        struct.pack_into(FORMATS[field], raw, central + at_central, value)
        if local:
            struct.pack_into(FORMATS[field], raw, header + at_local, value)
    path.write_bytes(bytes(raw))
    return path


def _central_record(raw: bytearray, name: str) -> int:
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        (length,) = struct.unpack_from("<H", raw, at + 28)
        if raw[at + 46 : at + 46 + length] == name.encode():
            return at
        at = raw.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no central record for {name}")


def patch_eocd(path: Path, **values: int) -> Path:
    raw = bytearray(path.read_bytes())
    at = raw.rfind(b"PK\x05\x06")
    offsets = {"entries": (10, "<H"), "directory": (12, "<I")}
    for field, value in values.items():
        offset, fmt = offsets[field]
        struct.pack_into(fmt, raw, at + offset, value)
    path.write_bytes(bytes(raw))
    return path


def bomb(bundle: Path, out: Path) -> Path:
    """The genuine bundle whose observations.jsonl is one 2 GiB line of `a` (~2 MB packed):
    the deflate stream is one flushed 1 MiB block repeated, so it is built in a second."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"a" * (1 << 20)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * (BOMB // len(chunk)) + compressor.flush()
    crc = 0
    for _ in range(BOMB // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    files = members(bundle)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name == layout.JSONL:
                archive.writestr(zipfile.ZipInfo(name), stream)  # stored, patched below
            else:
                archive.writestr(name, data)
    return patch(out, layout.JSONL, method=zipfile.ZIP_DEFLATED, crc=crc, usize=BOMB)


def overlapping(out: Path, copies: int = 2000) -> Path:
    """One deflated 1 MiB member and `copies` directory records pointing at it (Fifield's
    "better zip bomb" layout): 2 GiB of content declared in ~100 kB."""
    data = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = data.compress(b"\0" * (1 << 20)) + data.flush()
    crc = zlib.crc32(b"\0" * (1 << 20))
    name = b"preuves/0.html"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc,
                        len(packed), 1 << 20, len(name), 0) + name + packed  # fmt: skip
    central = b"".join(
        struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc,
                    len(packed), 1 << 20, len(n), 0, 0, 0, 0, 0o100644 << 16, 0) + n
        for n in (f"preuves/{i}.html".encode() for i in range(copies))
    )  # fmt: skip
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, copies, copies, len(central),
                      len(local), 0)  # fmt: skip
    out.write_bytes(local + central + end)
    return out


def jsonl_lines(bundle: Path) -> list[bytes]:
    return members(bundle)[layout.JSONL].splitlines()


def with_lines(bundle: Path, out: Path, lines: list[bytes]) -> Path:
    return repack(bundle, out, {layout.JSONL: b"\n".join(lines) + b"\n"})


def with_doc(bundle: Path, out: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The first observation line re-written with `change` applied (chain rebuilt by no one)."""
    lines = jsonl_lines(bundle)
    doc = json.loads(lines[0])
    change(doc)
    return with_lines(bundle, out, [json.dumps(doc).encode(), *lines[1:]])


def edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path, Path], Path]:
    return lambda g, out: repack(g, out, manifest=change)


def raw_manifest(data: bytes) -> Callable[[Path, Path], Path]:
    return lambda g, out: repack(g, out, manifest=data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a value in the manifest by a dotted path (`chains.0.first_seq`)."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.pop(key)


def _link(name: str, kind: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o777) << 16
    return info


def _entry(name: str, **attrs: Any) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def _forged_checkpoint(bundle: Path, out: Path) -> Path:
    """A checkpoint naming another hash for seq 3: well formed, digest right, lines differ."""
    document = json.loads(members(bundle)[layout.CHECKPOINT])
    document["heads"][0]["hash"] = "0" * 64
    checkpoint = checkpoints.Checkpoint.model_validate(document)
    document["digest"] = hashlib.sha256(checkpoint.body()).hexdigest()
    return repack(bundle, out, {layout.CHECKPOINT: json.dumps(document).encode()})


def _corrupt_member(bundle: Path, out: Path) -> Path:
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo(layout.JSONL)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    out.write_bytes(bytes(raw))
    return out


def _write(out: Path, data: bytes) -> Path:
    out.write_bytes(data)
    return out


def _mkdir(out: Path) -> Path:
    out.mkdir()
    return out


def _copy(bundle: Path, out: Path) -> Path:
    return _write(out, bundle.read_bytes())


def _without(bundle: Path, out: Path, name: str) -> Path:
    files = members(bundle)
    files.pop(name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return out


def _replace_raw(bundle: Path, out: Path, name: str, data: bytes) -> Path:
    files = members(bundle)
    files[name] = data
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    return out


def _stored_lie(bundle: Path, out: Path) -> Path:
    files = members(bundle)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in files.items():
            kind = zipfile.ZIP_STORED if member == layout.README else zipfile.ZIP_DEFLATED
            archive.writestr(member, content, compress_type=kind)
    return patch(out, layout.README, usize=10 << 20)


def _many_entries(out: Path) -> Path:
    """A directory claiming 65,535 entries in 5 GB (only the end record is written)."""
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFE, 0xFFFE, 0xFFFF_FFF0, 0, 0)
    return _write(out, end)


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path], Path]  # (genuine bundle, output path) -> the path to verify
    expect: str  # in the rendered result
    refused: bool = False  # refused from the directory alone, nothing read


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES = [
    # The file itself.
    Case("not-a-zip", lambda g, out: _write(out, b"PK\x03\x04 nothing like a zip" * 10),
         "not a readable zip archive"),
    Case("empty-file", lambda g, out: _write(out, b""), "not a readable zip archive"),
    Case("truncated", lambda g, out: _write(out, g.read_bytes()[: g.stat().st_size // 2]),
         "not a readable zip archive"),
    Case("a-directory", lambda g, out: _mkdir(out), "not a regular file"),
    Case("missing-file", lambda g, out: out, "not a readable zip archive"),
    # Entry types and paths.
    Case("dot-dot", lambda g, out: add_entry(g, out, "../evil.txt"), "escapes", True),
    Case("dot-dot-inside", lambda g, out: add_entry(g, out, "preuves/../../evil"), "escapes",
         True),
    Case("absolute", lambda g, out: add_entry(g, out, "/etc/evil"), "absolute", True),
    Case("backslash", lambda g, out: add_entry(g, out, "..\\evil"), "non-portable", True),
    Case("drive", lambda g, out: add_entry(g, out, "C:/evil"), "non-portable", True),
    Case("dot-segment", lambda g, out: add_entry(g, out, "preuves/./x.png"), "escapes", True),
    Case("empty-segment", lambda g, out: add_entry(g, out, "preuves//x.png"), "escapes", True),
    Case("directory-entry", lambda g, out: add_entry(g, out, "preuves/sub/"), "directory", True),
    Case("symlink", lambda g, out: add_entry(g, out, _link("preuves/l", stat.S_IFLNK), b"/etc"),
         "a symbolic link", True),
    Case("fifo", lambda g, out: add_entry(g, out, _link("preuves/f", stat.S_IFIFO)),
         "not a regular file", True),
    Case("duplicate", lambda g, out: add_entry(g, out, layout.JSONL, b"{}"), "a duplicate entry",
         True),
    # Coding.
    Case("encrypted", lambda g, out: patch(_copy(g, out), layout.JSONL, flags=0x1),
         "an encrypted entry", True),
    Case("encrypted-central-only", lambda g, out: patch(_copy(g, out), layout.CSV, flags=0x1,
         local=False), "an encrypted entry", True),
    Case("bzip2", lambda g, out: add_entry(g, out, _entry("preuves/b.html",
         compress_type=zipfile.ZIP_BZIP2), b"<p>" * 100), "compression method 12", True),
    Case("lzma", lambda g, out: add_entry(g, out, _entry("preuves/l.html",
         compress_type=zipfile.ZIP_LZMA), b"<p>" * 100), "compression method 14", True),
    Case("aes-method-99", lambda g, out: patch(_copy(g, out), layout.README, method=99),
         "compression method 99", True),
    Case("stored-size-lie", _stored_lie, "a stored entry", True),
    # Sizes and bombs.
    Case("huge-declared-size", lambda g, out: patch(_copy(g, out), layout.JSONL,
         usize=0xFFFF_FFF0), "zip bomb", True),
    Case("size-differs-from-manifest", lambda g, out: patch(_copy(g, out), layout.README,
         usize=7), "declares 7 bytes"),
    Case("bomb-2gib-single-line", bomb, "zip bomb", True),
    Case("overlapping-entries", lambda g, out: overlapping(out), "overlap", True),
    Case("directory-too-large", lambda g, out: patch_eocd(_copy(g, out), directory=0x7FFF_FFFF),
         "its directory declares", True),
    Case("too-many-entries", lambda g, out: _many_entries(out), "its directory declares", True),
    # manifest.json.
    Case("manifest-not-json", raw_manifest(b"{not json"), "manifest.json: refused, not valid"),
    Case("manifest-not-utf8", raw_manifest(b"\xff\xfe{\x00}"), "manifest.json: refused"),
    Case("manifest-array", raw_manifest(b"[]"), "manifest.json: refused, the document"),
    Case("manifest-null", raw_manifest(b"null"), "manifest.json: refused"),
    Case("manifest-deep", raw_manifest(_deep(100_000)), "manifest.json: refused"),
    Case("manifest-huge-number", raw_manifest(b'{"format": ' + b"9" * 100_000 + b"}"),
         "manifest.json: refused"),
    Case("manifest-missing", lambda g, out: _without(g, out, layout.MANIFEST),
         "manifest.json: missing"),
    Case("manifest-over-64mib", raw_manifest(b" " * (66 << 20) + b"{}"), "implausibly large"),
    Case("no-format", edit_manifest(_drop("format")), "format: Field required"),
    Case("unknown-format", edit_manifest(_set("format", "zip/9")), "format: Input should be"),
    Case("no-chains", edit_manifest(_drop("chains")), "chains: Field required"),
    Case("no-files", edit_manifest(_drop("files")), "files: Field required"),
    Case("chains-not-list", edit_manifest(_set("chains", {"a": 1})), "chains: Input should be"),
    Case("chain-not-object", edit_manifest(_set("chains.0", "x")), "chains[0]:"),
    Case("seq-as-text", edit_manifest(_set("chains.0.first_seq", "2")),
         "chains[0].first_seq: Input should be a valid integer"),
    Case("seq-as-float", edit_manifest(_set("chains.0.first_seq", 2.0)),
         "chains[0].first_seq: Input should be a valid integer"),
    Case("seq-negative", edit_manifest(_set("chains.0.count", -1)), "chains[0].count:"),
    Case("seq-huge", edit_manifest(_set("chains.0.last_seq", 10**30)), "chains[0].last_seq:"),
    Case("seq-bool", edit_manifest(_set("chains.0.count", True)), "chains[0].count:"),
    Case("target-huge", edit_manifest(_set("chains.0.target", "t" * 100_000)),
         "chains[0].target: String should have at most 4096"),
    Case("head-not-hex", edit_manifest(_set("chains.0.head_hash", "zz")), "chains[0].head_hash"),
    Case("size-negative", edit_manifest(_set("files.0.size", -5)), "files[0].size:"),
    Case("size-2-pow-70", edit_manifest(_set("files.0.size", 2**70)), "files[0].size:"),
    Case("sha-not-hex", edit_manifest(_set("files.1.sha256", "G" * 64)), "files[1].sha256"),
    Case("path-not-text", edit_manifest(_set("files.0.path", ["a"])), "files[0].path"),
    Case("missing-evidence-not-list", edit_manifest(_set("missing_evidence", "x")),
         "missing_evidence:"),
    Case("100k-missing-files-listed", edit_manifest(lambda d: d["files"].extend(
         {"path": f"preuves/{i}.png", "sha256": "0" * 64, "size": 1} for i in range(100_000))),
         "… and 199950 more problem(s)"),
    Case("file-listed-twice", edit_manifest(lambda d: d["files"].append(d["files"][0])),
         "is listed twice"),
    Case("duplicate-chain", edit_manifest(lambda d: d["chains"].append(d["chains"][0])),
         "is listed twice"),
    # SHA256SUMS.
    Case("sums-not-utf8", lambda g, out: _replace_raw(g, out, layout.SUMS, b"\xff\xfe"),
         "SHA256SUMS: not UTF-8 text"),
    Case("sums-one-huge-line", lambda g, out: _replace_raw(g, out, layout.SUMS, b"0" * (8 << 20)),
         "SHA256SUMS: line 1 is not"),
    Case("sums-missing", lambda g, out: _without(g, out, layout.SUMS), "SHA256SUMS: missing"),
    # observations.jsonl.
    Case("line-over-16mib", lambda g, out: with_lines(g, out, [b'{"a":"' + b"x" * (40 << 20)
         + b'"}']), f"longer than {MAX_LINE} bytes"),
    Case("line-deep", lambda g, out: with_lines(g, out, [_deep(200_000)]), "not a JSON document"),
    Case("line-not-utf8", lambda g, out: with_lines(g, out, [b'{"a":"\xff"}']),
         "not a JSON document"),
    Case("line-not-object", lambda g, out: with_lines(g, out, [b"[1,2]"]), "not a JSON object"),
    Case("line-nan", lambda g, out: with_lines(g, out, [b'{"target":NaN}']), "not a chain"),
    Case("evidence-a-list", lambda g, out: with_doc(g, out, _set("evidence", [1, 2])),
         "its evidence is not a JSON object"),
    Case("evidence-sha-number", lambda g, out: with_doc(g, out, _set("evidence", {"html": 5})),
         "its html evidence 5 is not in the bundle"),
    Case("env-a-string", lambda g, out: with_doc(g, out, _set("env", "chromium")),
         "does not name the previous"),
    Case("target-a-number", lambda g, out: with_doc(g, out, _set("target", 93)),
         "target 93 is not a chain"),
    Case("jsonl-empty", lambda g, out: repack(g, out, {layout.JSONL: b""}),
         "named in the manifest is absent"),
    Case("jsonl-corrupted", _corrupt_member, "corrupted in the archive"),
    # The checkpoint it carries.
    Case("checkpoint-not-json", lambda g, out: repack(g, out, {layout.CHECKPOINT: b"{"}),
         "checkpoint.json: not a valid checkpoint"),
    Case("checkpoint-deep", lambda g, out: repack(g, out, {layout.CHECKPOINT: _deep(100_000)}),
         "checkpoint.json: not a valid checkpoint"),
    Case("checkpoint-names-another-hash", _forged_checkpoint, "rewritten after the checkpoint"),
]  # fmt: skip


def test_the_table_is_the_one_the_readme_counts() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) == 74
    assert set(Manifest.model_fields["format"].annotation.__args__) == set(  # type: ignore[union-attr]
        layout.COLUMNS_BY_FORMAT
    )


@pytest.fixture
def quiet_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[Path], tuple[int, str]]]:
    def run(path: Path) -> tuple[int, str]:
        code = main(["verify", str(path)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    yield run


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_crafted_bundle_is_refused_with_a_clear_line(
    genuine: Path, tmp_path: Path, case: Case, quiet_cli: Callable[[Path], tuple[int, str]]
) -> None:
    path = case.build(genuine, tmp_path / f"{case.name}.zip")
    started = time.monotonic()
    check = verify_bundle(path)
    elapsed = time.monotonic() - started
    text = check.render()
    assert not check.ok, text
    assert case.expect in text, text
    assert check.refused == case.refused, text
    assert elapsed < SECONDS_PER_CASE, f"{case.name}: {elapsed:.1f} s"
    first = text.splitlines()[1] if check.refused else text.splitlines()[-1 - len(check.notes)]
    assert first.strip(), text
    code, out = quiet_cli(path)
    assert code == 1 and "Traceback" not in out and "FAILED: " in out, out
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/etc/evil").exists()


def _mutations(genuine: bytes, seed: int) -> bytes:
    """One random damage: flipped bytes, a cut, a copied range or a stretch of garbage."""
    rng = random.Random(seed)
    data = bytearray(genuine)
    kind = seed % 4
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[: rng.randrange(len(data))] + data[len(data) - rng.randrange(200) :]
    elif kind == 2:
        start = rng.randrange(len(data))
        at = rng.randrange(len(data))
        data[at:at] = data[start : start + rng.randint(1, 4096)]
    else:
        at = rng.randrange(len(data))
        data[at : at + 64] = rng.randbytes(64)
    return bytes(data)


def test_random_damage_never_raises(genuine: Path, tmp_path: Path) -> None:
    """MUTATIONS seeded damages of the genuine bundle: each is a verdict, never an exception."""
    raw = genuine.read_bytes()
    path = tmp_path / "damaged.zip"
    verdicts = {"ok": 0, "failed": 0}
    for seed in range(MUTATIONS):
        path.write_bytes(_mutations(raw, seed))
        check = verify_bundle(path)
        check.render()
        verdicts["ok" if check.ok else "failed"] += 1
    # A flip in a stored PNG's padding or a zip comment can leave it whole; most cannot.
    assert verdicts["failed"] >= MUTATIONS * 0.8, verdicts


_MEASURE = """
import resource, sys, time
from pathlib import Path
from watchdog.bundle import verify_bundle
started = time.monotonic()
check = verify_bundle(Path(sys.argv[1]))
print(check.ok, round(time.monotonic() - started, 2),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print(check.problems[0][:300] if check.problems else "")
"""


@pytest.mark.parametrize("case", ["bomb-2gib-single-line", "line-over-16mib"])
def test_a_bomb_costs_bounded_memory_and_time(genuine: Path, tmp_path: Path, case: str) -> None:
    """In a child process of its own: peak memory (RSS) stays that of checking the genuine
    bundle (a ratio measured in the same run, not an absolute figure: machines differ)."""
    build = next(c for c in CASES if c.name == case).build
    path = build(genuine, tmp_path / "bomb.zip")
    assert path.stat().st_size < 64 << 20
    ok, seconds, rss_mb, problem = _measure(path)
    assert ok == "False" and float(seconds) < SECONDS_PER_CASE, (seconds, problem)
    baseline = int(_measure(genuine)[2])
    assert int(rss_mb) < 1.5 * baseline + 100, (rss_mb, baseline)
    assert "zip bomb" in problem or "longer than" in problem, problem


def _measure(path: Path) -> tuple[str, str, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    verdict, *rest = done.stdout.splitlines()
    ok, seconds, rss_mb = verdict.split()
    return ok, seconds, rss_mb, rest[0] if rest else ""
