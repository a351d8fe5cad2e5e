"""The import graph flows one way: each folder imports only what docs/architecture.md allows.

The contract is the table in docs/architecture.md (« may import »); this test reads it and scans
every module of `watchdog/` and `probes/` with `ast`, imports inside functions and under
`TYPE_CHECKING` included, so a shortcut taken anywhere fails here with its file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$")


def contract() -> dict[str, set[str] | None]:
    """Folder → the folders it may import (None: any)."""
    rows: dict[str, set[str] | None] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            allowed = match.group(2).strip()
            rows[match.group(1)] = None if allowed == "any folder" else set(
                re.findall(r"`(\w+)`", allowed)
            )  # fmt: skip
    return rows


def folder_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "probes":
        return "probes"
    return parts[1] if len(parts) > 1 else "watchdog"


def modules() -> Iterator[tuple[Path, str]]:
    for root in ("watchdog", "probes"):
        for path in sorted((REPO / root).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            yield path, name.removesuffix(".__init__")


def imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:  # `from . import` stays home
            raise AssertionError(f"{path}:{node.lineno}: `from ..`: write it absolute")


def test_the_contract_names_every_folder_of_the_package() -> None:
    rows = contract()
    folders = {folder_of(name) for _, name in modules()} - {"watchdog"}
    assert folders == set(rows), (
        f"folders without a row: {sorted(folders - set(rows))}; "
        f"rows without a folder: {sorted(set(rows) - folders)}"
    )
    for name, allowed in rows.items():
        assert allowed is None or allowed <= set(rows) | {"watchdog"}, (name, allowed)


def test_every_import_follows_the_contract() -> None:
    rows = contract()
    wrong = []
    for path, name in modules():
        source = folder_of(name)
        allowed = rows.get(source, set())
        for line, module in imports(path):
            if module.split(".")[0] not in ("watchdog", "probes"):
                continue
            target = folder_of(module)
            if target == source or allowed is None:
                continue
            if target == "cli" or target not in allowed:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {source} imports {module}")
    assert not wrong, "imports the contract does not allow:\n" + "\n".join(wrong)


def test_the_graph_of_folders_has_no_cycle() -> None:
    rows = {k: v for k, v in contract().items() if v is not None}
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        assert seen.get(node) != 1, "cycle: " + " -> ".join([*path, node])
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(rows.get(node, set()) - {"watchdog"}):
            visit(nxt, [*path, node])
        seen[node] = 2

    for node in rows:
        visit(node, [])


def test_each_folder_says_what_it_owns() -> None:
    for folder in contract():
        init = REPO / ("probes" if folder == "probes" else f"watchdog/{folder}") / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 60, f"{init.relative_to(REPO)} has no docstring saying its role"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The scan sees an import inside a function (the test can fail)."""
    sneaky = tmp_path / "m.py"
    sneaky.write_text("def f():\n    from watchdog.daemon.service import Daemon\n")
    assert list(imports(sneaky)) == [(2, "watchdog.daemon.service")]
    assert folder_of("watchdog.daemon.service") not in (contract()["store"] or set())
