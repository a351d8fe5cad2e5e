"""docs/platforms.md keeps up with the probes: a section per platform, every site message a
probe matches on quoted there, and no citation of a file outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import probes
from probes import legacy_booking, rdv_prefecture

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "platforms.md"

# The words of the sites that the probes match on, module by module. Each must be written in
# the probe's source (so this list cannot drift from the code) and quoted in docs/platforms.md
# (so no reading rests on a sentence whose source nobody recorded).
MESSAGES: dict[str, tuple[str, ...]] = {
    "legacy_booking": (
        legacy_booking.NO_SLOT_TEXT,
        *(marker for marker, _ in legacy_booking.LATE_NO_SLOT),
        legacy_booking.DESCRIPTION,
        legacy_booking.CHOOSE,
        "Semaine du",
        "Week from",
        "libre",
        "complet",
        "Etape suivante",
    ),
    "rdv_prefecture": (
        rdv_prefecture.NO_SLOT_LAST_WEEK,
        rdv_prefecture.NO_SLOT_WEEK,
        rdv_prefecture.RETRY_LATER,
        rdv_prefecture.NO_SLOT_DAY,
        rdv_prefecture.MORE,
        rdv_prefecture.TAKE_APPOINTMENT,
        "Prochaine mise en ligne de nouveaux rendez-vous",
        "Prochaine disponibilité le",
        "code de sécurité",
    ),
    "eappointment": (
        "Aucun rendez-vous n'est possible",
        "Il n'y a pas de rendez-vous disponible",
        "Veuillez saisir un code postal valide",
        "Vous devez activer les cookies",
        "Continuer",
        "erreur",
    ),
    "anef": ("Site en maintenance",),
}


def _flat(text: str) -> str:
    """Line breaks and runs of spaces as one space: the doc wraps long quotes."""
    return re.sub(r"\s+", " ", text)


def _sections(doc: str) -> dict[str, str]:
    """The doc's `## name` sections, each with its text up to the next `## `."""
    parts = re.split(r"^## (\S+)[^\n]*$", doc, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_registered_platform_has_its_section() -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    names = {str(getattr(key, "value", key)) for key in probes.REGISTRY}
    missing = sorted(names - sections.keys())
    assert not missing, f"platforms without a section in docs/platforms.md: {missing}"


@pytest.mark.parametrize("platform", sorted(MESSAGES))
def test_every_message_a_probe_matches_is_quoted_with_its_platform(platform: str) -> None:
    source = (ROOT / "probes" / f"{platform}.py").read_text(encoding="utf-8")
    section = _flat(_sections(DOC.read_text(encoding="utf-8"))[platform])
    for message in MESSAGES[platform]:
        assert message in source, f"{message!r} is no longer in probes/{platform}.py"
        assert message in section, f"{message!r} is not in docs/platforms.md « {platform} »"


def _tracked() -> list[str]:
    """The repository's files: git's list, or the tree without its local folders when the
    project was unpacked from an archive (never a reason to skip the check)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, text=True
    )
    if listed.returncode == 0 and listed.stdout:
        return listed.stdout.split("\0")
    local = {".git", ".venv", "data", "node_modules", ".mypy_cache", ".ruff_cache"}
    return [
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and not local & set(p.relative_to(ROOT).parts)
    ]


def test_nothing_in_the_repository_cites_files_outside_it() -> None:
    tracked = _tracked()
    outside = re.compile(r"\.\./shared\b|\bresearch/[\w-]+\.md")
    citing = []
    for name in tracked:
        path = ROOT / name
        if not name or not path.is_file() or path.suffix not in {".py", ".md", ".yaml", ".yml"}:
            continue
        if name == "tests/test_docs_platforms.py":
            continue  # this file names the patterns it looks for
        if outside.search(path.read_text(encoding="utf-8", errors="replace")):
            citing.append(name)
    assert not citing, f"files citing documents outside the repository: {citing}"


@pytest.mark.parametrize(
    ("page", "link"),
    [
        ("README.md", "(docs/platforms.md)"),
        ("docs/readings.md", "(platforms.md#"),
        ("docs/architecture.md", "(platforms.md)"),
    ],
)
def test_the_pages_a_platform_author_reads_lead_to_it(page: str, link: str) -> None:
    assert link in (ROOT / page).read_text(encoding="utf-8"), f"{page} does not link {link}"
