"""Only watchdog/store and watchdog/stats read the observations table.

The rule, precisely: no module of the package (nor a probe) outside `watchdog.store` and
`watchdog.stats` imports `watchdog.store.schema`, where the tables are declared, in any
spelling (`import watchdog.store.schema`, `from watchdog.store.schema import …`,
`from watchdog.store import schema`, or a relative import of it). The others ask store/ or
stats/ functions for what they need (watchdog/store/record.py, watchdog/stats/compute.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "watchdog.store.schema"
READERS = ("watchdog.store", "watchdog.stats")


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(text: str, package: str) -> set[str]:
    """Every module `text` imports, by absolute name (`from a import b` gives a and a.b);
    `package` is the one its relative imports start from."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _imported(path: Path) -> set[str]:
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports(path.read_text(encoding="utf-8"), package)


def _importers_of_schema() -> set[str]:
    sources = [*(REPO / "watchdog").rglob("*.py"), *(REPO / "probes").rglob("*.py")]
    return {_module(p) for p in sources if SCHEMA in _imported(p)}


def test_only_store_and_stats_import_the_table_declarations() -> None:
    importers = _importers_of_schema()
    assert "watchdog.store.db" in importers  # the scan sees imports at all
    assert "watchdog.stats.queries" in importers
    outside = sorted(m for m in importers if not m.startswith(tuple(f"{r}." for r in READERS)))
    assert outside == [], f"read the observations table through store/ or stats/: {outside}"


def test_the_scan_sees_every_spelling_of_the_import() -> None:
    spellings = [
        "import watchdog.store.schema",
        "from watchdog.store.schema import observations",
        "from watchdog.store import schema",
        "from ..store import schema",
        "from ..store.schema import observations as obs",
        "def later():\n    from watchdog.store.schema import observations",
    ]
    for text in spellings:
        assert SCHEMA in _imports(text, "watchdog.notify"), text
    assert SCHEMA not in _imports("from watchdog.store import record", "watchdog.notify")
