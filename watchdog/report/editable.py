"""An editable copy (ODT or DOCX) of a report or a dossier, so an investigator can amend it.

Made by a real converter, Debian's pandoc, from the same HTML the PDF is printed from: the
text, headings, tables and framed captures (embedded images) carry over; the inline SVG
charts do not (pandoc's HTML reader drops them), so the copy says so on its first line.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from watchdog.domain.errors import WatchdogError

EDITABLE = ("odt", "docx")
NOTE = {
    "fr": (
        "Copie modifiable produite par pandoc à partir du document HTML ; les graphiques "
        "figurent dans la version PDF, qui seule fait foi avec le lot de preuves."
    ),
    "en": (
        "Editable copy made by pandoc from the HTML document; the charts are in the PDF "
        "version, which with the evidence bundle is the reference."
    ),
}


def pandoc() -> str:
    tool = shutil.which("pandoc")
    if tool is None:
        raise WatchdogError(
            "an editable copy (odt, docx) needs pandoc: apt-get install pandoc (or make setup)"
        )
    return tool


def write_editable(html: str, out: Path, lang: str) -> Path:
    """Convert `html` to `out` (.odt or .docx, by its suffix) with pandoc; return `out`."""
    fmt = out.suffix.removeprefix(".")
    if fmt not in EDITABLE:
        raise WatchdogError(f"{out}: an editable copy is .odt or .docx")
    note = f'<p class="note-copie">{NOTE[lang]}</p>'
    body = html.replace("<body>", "<body>" + note, 1)
    with tempfile.TemporaryDirectory(prefix="watchdog-editable-") as work:
        source = Path(work) / "source.html"
        source.write_text(body, encoding="utf-8")
        result = subprocess.run(
            # Divs read as their content: an ODT section (what a div with an id becomes) is
            # skipped by some readers, pandoc's own among them.
            [
                pandoc(),
                "--from",
                "html-native_divs",
                "--to",
                fmt,
                "--output",
                str(out),
                str(source),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    if result.returncode != 0:
        raise WatchdogError(f"pandoc could not write {out}: {result.stderr.strip()[:500]}")
    return out
