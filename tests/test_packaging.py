"""The installed package is this project's `watchdog`, not PyPI's file-system `watchdog`.

The import name `watchdog` is also that of a popular PyPI distribution; if a dependency ever pulls
it in, `import watchdog` silently becomes someone else's code. These tests catch that early.
"""

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

import watchdog

REPO_ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "prefecture-watchdog"


def _normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires_watchdog(requirement: str) -> bool:
    """True when `requirement` asks for `watchdog` in this environment (extras not requested)."""
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return False
    if _normalize(parsed.name) != "watchdog":
        return False
    if parsed.marker is None:
        return True
    environment = {**default_environment(), "extra": ""}
    return parsed.marker.evaluate(environment)


def test_import_watchdog_is_this_project() -> None:
    assert watchdog.__file__ is not None
    package_file = Path(watchdog.__file__).resolve()
    assert package_file.is_relative_to(REPO_ROOT / "watchdog"), (
        f"`import watchdog` resolves to {package_file}, not to this repository ({REPO_ROOT})"
    )


def test_pypi_watchdog_distribution_not_installed() -> None:
    try:
        dist = importlib.metadata.distribution("watchdog")
    except importlib.metadata.PackageNotFoundError:
        return
    pytest.fail(
        f"PyPI's 'watchdog' {dist.version} is installed in {sys.prefix} and clashes with "
        "this project's package; remove it (and whatever requires it)"
    )


def test_no_installed_distribution_requires_pypi_watchdog() -> None:
    offenders = sorted(
        f"{dist.metadata['Name']} requires {requirement!r}"
        for dist in importlib.metadata.distributions()
        for requirement in dist.requires or []
        if _requires_watchdog(requirement)
    )
    assert offenders == []


def test_requirement_scan_recognises_watchdog() -> None:
    # Guards the scan above against passing vacuously.
    assert _requires_watchdog("watchdog>=2")
    assert _requires_watchdog("Watchdog; python_version >= '3'")
    assert not _requires_watchdog("watchdog; extra == 'reload'")
    assert not _requires_watchdog("watchdog-gevent")
    assert not _requires_watchdog("prefecture-watchdog")


def test_console_script_declared_in_pyproject() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == DISTRIBUTION
    assert pyproject["project"]["scripts"]["watchdog"] == "watchdog.cli.main:main"


def test_console_script_installed() -> None:
    dist = importlib.metadata.distribution(DISTRIBUTION)
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("watchdog") == "watchdog.cli.main:main", (
        f"{DISTRIBUTION} {dist.version} installs console scripts {scripts}; "
        "reinstall with `make setup` if pyproject.toml changed"
    )
