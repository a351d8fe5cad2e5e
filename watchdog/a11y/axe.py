"""axe-core, from the pinned PyPI package axe-playwright-python (its axe.min.js), run offline.

The script is read from the installed package and evaluated in the page: nothing is fetched,
and axe-core itself makes no request. Rules run are those tagged for WCAG 2.1 levels A and AA,
the level RGAA 4.1 transposes (`TAGS`). Only the top document is audited: content inside
frames is not (axe-core would need its script in every frame).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Page

PACKAGE = "axe_playwright_python"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
_VERSION = re.compile(rb"/\*! axe v(\d+\.\d+\.\d+)")


@cache
def script() -> str:
    return resources.files(PACKAGE).joinpath("axe.min.js").read_text(encoding="utf-8")


@cache
def version() -> str:
    """The axe-core version of the shipped script (its header)."""
    found = _VERSION.search(script()[:200].encode())
    return found.group(1).decode() if found else "unknown"


async def run(page: Page) -> dict[str, Any]:
    """axe-core's results on the page as it stands (violations, passes, incomplete…)."""
    await page.evaluate(script())
    options = {"runOnly": {"type": "tag", "values": list(TAGS)}, "resultTypes": ["violations"]}
    results: dict[str, Any] = await page.evaluate("options => axe.run(document, options)", options)
    return results
