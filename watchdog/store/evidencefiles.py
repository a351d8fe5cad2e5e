"""An observation's evidence as ordinary files (issue 15): names with extensions, hashes beside.

The store keeps blobs under their SHA-256 with no extension (watchdog/store/blobs.py), and
the DOM as a skeleton plus a volatile record (watchdog/evidence/volatile.py). `export_evidence`
copies one observation's evidence into a folder under names a viewer opens — `framed.png`,
`screenshot.png`, `page.html` (the page as served, rebuilt), `trace.zip`… — with
`observation.json` (the stored document, exactly the bytes hashed) and a `SHA256SUMS` file
that `sha256sum -c` checks. Every file's SHA-256 is a name the observation records: a blob's
name, `html_sha256` for the rebuilt page, the observation's hash for its document.
"""

from __future__ import annotations

import hashlib
import tempfile
import webbrowser
from dataclasses import dataclass
from pathlib import Path

from watchdog.domain.models import Observation
from watchdog.evidence.volatile import rebuild
from watchdog.store import BlobStore

# Stored blob kind -> file name (images get their extension from their bytes).
FILE_NAMES = {
    "screenshot": "screenshot",
    "framed": "framed",
    "html": "page-skeleton.html",
    "html_volatile": "page-volatile.json",
    "har": "network.har",
    "trace": "trace.zip",
    "resources": "resources.json",
    "axe": "axe-results.json",
}
IMAGE_KINDS = frozenset({"screenshot", "framed"})
PAGE = "page.html"
DOCUMENT = "observation.json"
SUMS = "SHA256SUMS"
# Images only: the page itself would run the site's scripts, which may call the site.
OPEN_ORDER = ("framed.png", "screenshot.png", "framed.jpg", "screenshot.jpg")


@dataclass(frozen=True)
class ExportedFile:
    """One file written: its name in the folder, its SHA-256 and what it is."""

    name: str
    sha256: str
    what: str


def image_extension(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    return ".bin"


def files_of(obs: Observation, document: str, blobs: BlobStore) -> list[tuple[str, bytes, str]]:
    """(name, bytes, what) of every file the observation's evidence gives, in a fixed order."""
    files: list[tuple[str, bytes, str]] = []
    refs = obs.evidence
    for kind, sha in refs.blobs().items():
        data = blobs.get(sha)
        name = FILE_NAMES[kind]
        if kind in IMAGE_KINDS:
            name += image_extension(data)
        if kind == "html" and refs.html_sha256 is None:
            name = PAGE  # kept before the split: the blob is the page itself
        files.append((name, data, f"{kind} blob"))
    if refs.html_sha256 is not None:
        page = rebuild(refs, blobs.get)
        if page is not None:
            files.append((PAGE, page, "page as served (skeleton + volatile record)"))
    files.append((DOCUMENT, document.encode("utf-8", "surrogatepass"), "hashed document"))
    return files


def export_evidence(
    obs: Observation, document: str, blobs: BlobStore, folder: Path
) -> list[ExportedFile]:
    """Write the observation's evidence files and SHA256SUMS into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data, what in files_of(obs, document, blobs):
        (folder / name).write_bytes(data)
        written.append(ExportedFile(name, hashlib.sha256(data).hexdigest(), what))
    sums = "".join(f"{f.sha256}  {f.name}\n" for f in written)
    (folder / SUMS).write_text(sums, encoding="ascii")
    return written


def open_evidence(obs: Observation, document: str, blobs: BlobStore) -> Path:
    """Export to a new temporary folder and open the framed capture (else the raw one, else
    the folder: a page is never opened, its scripts would run)."""
    folder = Path(tempfile.mkdtemp(prefix=f"watchdog-{obs.id}-"))
    names = {f.name for f in export_evidence(obs, document, blobs, folder)}
    chosen = next((folder / name for name in OPEN_ORDER if name in names), folder)
    webbrowser.open(chosen.as_uri())
    return chosen
