"""`watchdog bundle`: export observations, evidence and the report as one verifiable zip.

The observations are copied as the exact canonical bytes that were hashed, so a third party
recomputes every hash and every chain link offline. Each chain is exported whole between
its first and last observation of the period (no gap a reader could mistake for deletion).

A page kept as skeleton + volatile record (watchdog/evidence/volatile.py) is exported three times:
both blobs, which the observation names, and the page as served, rebuilt and named by its
`html_sha256`, so `sha256sum -c` alone proves the page a reader opens is the one observed.

The RFC 3161 tokens (watchdog/store/timestamps.py) that are the first to cover an exported
observation go in `horodatages/` with their checkpoint bodies, and the TSA's CA certificate(s)
(`checkpoints.tsa_ca`) as `horodatages/ca-tsa.pem`: `openssl ts -verify` checks each alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from watchdog import __version__
from watchdog.domain.errors import StoreError, WatchdogError
from watchdog.domain.models import assist_chain, audit_chain, nested_blobs, substitute_chain
from watchdog.domain.target import Target
from watchdog.evidence.volatile import rebuild
from watchdog.report.api import ReportOptions, build_report_async
from watchdog.report.steps import Steps, count_steps
from watchdog.report.typo import Typo
from watchdog.store import checkpoint as checkpoints
from watchdog.store import record, retention, timestamps
from watchdog.store.chain import format_instant
from watchdog.store.db import Store

from . import layout

CHUNK = 1 << 20
TELL_EVERY = 500  # observations between two progress updates


@dataclass
class ChainSpan:
    """One target's exported stretch of chain."""

    target: str
    first_seq: int
    last_seq: int = 0
    count: int = 0
    anchor: str | None = None  # prev_hash of the first exported observation
    head: str | None = None  # hash of the last one

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "count": self.count,
            "anchor_prev_hash": self.anchor,
            "head_hash": self.head,
        }


@dataclass
class BundleResult:
    path: Path
    fingerprint: str  # SHA-256 of manifest.json
    observations: int
    evidence_files: int
    missing_evidence: list[str] = field(default_factory=list)
    timestamps: int = 0  # RFC 3161 tokens included
    timestamps_left_out: str | None = None  # why the store's tokens are not in the bundle


def spans(
    store: Store, targets: Sequence[str], since: datetime, until: datetime
) -> list[ChainSpan]:
    """First and last seq of each target's observations started in [since, until)."""
    found = record.chain_spans(store, targets, since, until)
    return [ChainSpan(target, first, last) for target, first, last in found]


def _rows(store: Store, span: ChainSpan) -> Iterator[sa.Row[Any]]:
    return record.chain_rows(store, span.target, span.first_seq, span.last_seq)


@dataclass(frozen=True)
class _Piece:
    """One evidence file to export: a stored blob, or a page rebuilt from its two blobs."""

    kind: str
    page: dict[str, Any] | None = None  # the evidence refs to rebuild the page from


def _pieces(doc: dict[str, Any], into: dict[str, _Piece]) -> None:
    """Note the evidence files one observation references (RFC 8785 keys come sorted): its
    `evidence`, an audit's captures of pages and elements in breach, an assisted session's
    captchas."""
    evidence = doc.get("evidence") or {}
    for kind, sha in evidence.items():
        if sha is None or sha in into:
            continue
        page = evidence if kind == "html_sha256" else None
        into[sha] = _Piece(kind, page)
    for sha, kind, _where in nested_blobs(doc):
        into.setdefault(sha, _Piece(kind, None))


class _Writer:
    """Adds members to the zip, hashing each as it is written."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.files: dict[str, tuple[str, int]] = {}  # path -> (sha256, size)

    def add_stream(self, name: str, source: IO[bytes], *, compress: bool = True) -> None:
        digest, size = hashlib.sha256(), 0
        info = zipfile.ZipInfo(name, date_time=_zip_time())
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
        with self.archive.open(info, "w", force_zip64=True) as member:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
        self.files[name] = (digest.hexdigest(), size)

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True) -> None:
        self.add_stream(name, io.BytesIO(data), compress=compress)


def _zip_time() -> tuple[int, int, int, int, int, int]:
    now = datetime.now(UTC)
    return (now.year, now.month, now.day, now.hour, now.minute, now.second)


def _export_observations(
    store: Store, chains: list[ChainSpan], work: Path, tell: Callable[[int], None]
) -> tuple[dict[str, _Piece], int]:
    """Write JSONL and CSV into `work`; return the evidence to copy (by sha) and count."""
    evidence: dict[str, _Piece] = {}
    count = 0
    with (work / layout.JSONL).open("wb") as jsonl, (work / layout.CSV).open("wb") as table:
        table.write(layout.csv_header())
        for span in chains:
            for row in _rows(store, span):
                doc = json.loads(row.doc)
                if span.count == 0:
                    span.anchor = doc.get("prev_hash")
                span.count += 1
                span.head = row.hash
                jsonl.write(row.doc.encode("utf-8", "surrogatepass") + b"\n")
                table.write(layout.csv_row(doc, row.seq, row.hash))
                _pieces(doc, evidence)
                count += 1
                if count % TELL_EVERY == 0:
                    tell(count)
    tell(count)
    return evidence, count


async def export_bundle_async(  # noqa: PLR0913 -- keyword-only options of one export
    store: Store,
    targets: Sequence[Target],
    *,
    since: datetime,
    until: datetime,
    out: Path,
    report: ReportOptions | None = None,
    advance: Steps | None = None,
    tsa_ca: Path | None = None,
) -> BundleResult:
    """Write the bundle to `out` (atomically: a temporary file renamed into place).

    `advance` is told the items done and in all: each observation copied, each step of the
    report, then each evidence file (their number is known once the observations are read).
    `tsa_ca` (checkpoints.tsa_ca) is copied beside the timestamps, for a reader to check them.
    """
    ids = [t.id for t in targets]
    # Each journey's assisted-session records (issue 16), accessibility audits and substitute
    # channel checks (issue 18) travel with its observations, each in a chain of its own.
    ids = [*ids, *map(assist_chain, ids), *map(audit_chain, ids), *map(substitute_chain, ids)]
    chains = await asyncio.to_thread(spans, store, ids, since, until)
    if not chains:
        raise WatchdogError(
            "no observation of the selected targets in that period: nothing to bundle"
        )
    progress = _Progress(advance, sum(c.last_seq - c.first_seq + 1 for c in chains),
                         count_steps((report or ReportOptions()).formats))  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="watchdog-bundle-") as tmp:
        work = Path(tmp)
        evidence, count = await asyncio.to_thread(
            _export_observations, store, chains, work, progress.observations
        )
        progress.evidence_total = len(evidence)
        reports = await build_report_async(
            store, targets, since=since, until=until, out_dir=work / "report", options=report,
            advance=progress.report,
        )  # fmt: skip
        partial = out.with_name(out.name + ".partial")
        result = await asyncio.to_thread(
            _write_zip, store, partial, work, reports, evidence, chains, (since, until),
            progress.evidence, tsa_ca,
        )  # fmt: skip
        os.replace(partial, out)
    result.path = out
    result.observations = count
    return result


@dataclass
class _Progress:
    """The bundle's three stages as one count: observations, report steps, evidence files."""

    advance: Steps | None
    observations_total: int
    report_total: int
    evidence_total: int = 0

    def _tell(self, done: int) -> None:
        if self.advance is not None:
            total = self.observations_total + self.report_total + self.evidence_total
            self.advance(min(done, total), total)

    def observations(self, done: int) -> None:
        self._tell(done)

    def report(self, done: int, _total: int) -> None:
        self._tell(self.observations_total + done)

    def evidence(self, done: int) -> None:
        self._tell(self.observations_total + self.report_total + done)


def _pruned(store: Store, targets: list[str], period: tuple[datetime, datetime]) -> str:
    """What retention pruned of `targets` in `period`, for the readme (empty when nothing)."""
    lines: dict[str, list[str]] = {"fr": [], "en": []}
    for summary in retention.pruned_in(store, targets, *period):
        first, last, on = summary.instants()
        for lang, template in _PRUNED_LINE.items():
            typo = Typo(lang)
            count = typo.unit(summary.observations, "observation", "observations")
            lines[lang].append(
                template.format(
                    target=summary.target,
                    a=summary.first_seq,
                    b=summary.last_seq,
                    count=count,
                    first=typo.datetime(first),
                    last=typo.datetime(last),
                    on=typo.date(on),
                    rule=summary.retention,
                )
            )
    return layout.pruned_text(lines["fr"], lines["en"])


_PRUNED_LINE = {
    "fr": "  - {target}\u00a0: n°\u00a0{a} à {b}, {count}, du {first} au {last}, supprimées le "
    "{on} («\u00a0{rule}\u00a0»)",
    "en": "  - {target}: seq {a}–{b}, {count}, from {first} to {last}, pruned on {on} (“{rule}”)",
}


def _write_zip(  # noqa: PLR0913 -- the zip's parts and where to tell its progress
    store: Store,
    path: Path,
    work: Path,
    reports: list[Path],
    evidence: dict[str, _Piece],
    chains: list[ChainSpan],
    period: tuple[datetime, datetime],
    tell: Callable[[int], None],
    tsa_ca: Path | None = None,
) -> BundleResult:
    missing: list[str] = []
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        writer = _Writer(archive)
        readme = layout.readme_text(path.name.removesuffix(".partial"))
        readme += _pruned(store, [c.target for c in chains], period)
        writer.add_bytes(layout.README, readme.encode("utf-8"))
        for name in (layout.JSONL, layout.CSV):
            with (work / name).open("rb") as source:
                writer.add_stream(name, source)
        for report in reports:
            with report.open("rb") as source:
                writer.add_stream(f"{layout.REPORT_DIR}/{report.name}", source)
        for done, (sha, piece) in enumerate(sorted(evidence.items()), start=1):
            try:
                _add_evidence(writer, store, sha, piece)
            except (OSError, StoreError, ValueError):
                missing.append(sha)
            tell(done)
        _add_checkpoint(writer, checkpoints.data_dir_of(store) / checkpoints.FILE)
        stamped = _add_timestamps(writer, checkpoints.data_dir_of(store), chains, tsa_ca)
        manifest = _manifest(writer.files, chains, period, missing)
        writer.add_bytes(layout.MANIFEST, manifest)
        sums = {name: sha for name, (sha, _) in writer.files.items()}
        writer.add_bytes(layout.SUMS, layout.sums_text(sums))
    return BundleResult(
        path=path,
        fingerprint=hashlib.sha256(manifest).hexdigest(),
        observations=0,
        evidence_files=len(evidence) - len(missing),
        missing_evidence=missing,
        timestamps=stamped[0],
        timestamps_left_out=stamped[1],
    )


def _add_checkpoint(writer: _Writer, path: Path) -> None:
    """The store's last checkpoint, as it is: a reader checks the chains against it."""
    try:
        with path.open("rb") as source:
            writer.add_stream(layout.CHECKPOINT, source)
    except FileNotFoundError:
        return  # a store without checkpoint: the bundle says nothing of one


def _add_timestamps(
    writer: _Writer, folder: Path, chains: list[ChainSpan], tsa_ca: Path | None
) -> tuple[int, str | None]:
    """The tokens that are the first to cover an exported observation, and the TSA's CA.

    Returns how many tokens went in, or why none did although the store has some."""
    if not timestamps.names_in(folder):
        return 0, None
    if tsa_ca is None:
        return 0, "no checkpoints.tsa_ca in the configuration: a reader could not check them"
    try:
        roots = timestamps.read_certificates(tsa_ca)
    except timestamps.TimestampError as exc:
        return 0, str(exc)
    tokens = timestamps.load_folder(folder, roots)
    covered = timestamps.spans([t for t in tokens if t.gen_time is not None])
    exported = {span.target: (span.first_seq, span.last_seq) for span in chains}
    wanted = [
        name
        for name, found in covered.items()
        if any(
            s.target in exported
            and s.first <= exported[s.target][1]
            and s.last >= exported[s.target][0]
            for s in found
        )
    ]
    where = folder / timestamps.DIR
    for name in sorted(wanted):
        for suffix in (".json", ".tsr"):
            with (where / f"{name}{suffix}").open("rb") as source:
                writer.add_stream(f"{layout.TIMESTAMP_DIR}/{name}{suffix}", source)
    if wanted:
        with tsa_ca.open("rb") as source:
            writer.add_stream(layout.TSA_CA, source)
    return len(wanted), None


def _add_evidence(writer: _Writer, store: Store, sha: str, piece: _Piece) -> None:
    name = layout.evidence_name(sha, piece.kind)
    if piece.page is None:
        with store.blobs.path(sha).open("rb") as source:
            writer.add_stream(name, source, compress=name.endswith(".png") is False)
        return
    page = rebuild(piece.page, store.blobs.get)
    if page is None or hashlib.sha256(page).hexdigest() != sha:
        raise ValueError(f"the page {sha} does not rebuild from its skeleton and record")
    writer.add_bytes(name, page)


def _manifest(
    files: dict[str, tuple[str, int]],
    chains: list[ChainSpan],
    period: tuple[datetime, datetime],
    missing: list[str],
) -> bytes:
    document = {
        "format": layout.FORMAT,
        "software": f"prefecture-watchdog {__version__}",
        "created_at": format_instant(datetime.now(UTC)),
        "period": {"since": format_instant(period[0]), "until": format_instant(period[1])},
        "chains": [span.to_json() for span in chains],
        "missing_evidence": missing,
        "files": [
            {"path": name, "sha256": sha, "size": size}
            for name, (sha, size) in sorted(files.items())
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def export_bundle(  # noqa: PLR0913 -- keyword-only options of one export
    store: Store,
    targets: Sequence[Target],
    *,
    since: datetime,
    until: datetime,
    out: Path,
    report: ReportOptions | None = None,
    advance: Steps | None = None,
    tsa_ca: Path | None = None,
) -> BundleResult:
    """As `export_bundle_async`, outside an event loop."""
    return asyncio.run(
        export_bundle_async(
            store,
            targets,
            since=since,
            until=until,
            out=out,
            report=report,
            advance=advance,
            tsa_ca=tsa_ca,
        )
    )
