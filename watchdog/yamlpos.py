"""YAML loading that remembers where every key came from, for file:line:key errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from watchdog.errors import ConfigError, ConfigProblem

KeyPath = tuple[str | int, ...]


@dataclass
class Located:
    """Parsed YAML data plus the line (1-based) of each key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[ConfigProblem] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of `path`, or of its nearest located parent."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _walk(node: yaml.Node, path: KeyPath, out: Located) -> None:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                out.duplicates.append(
                    ConfigProblem(
                        out.file,
                        key_node.start_mark.line + 1,
                        dotted((*path, key)),
                        "duplicate key",
                    )
                )
            seen.add(key)
            out.lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), out)


def load_located(path: Path) -> Located:
    """Parse one YAML file; syntax errors become a ConfigProblem with the line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise_problem(name, None, "(file)", f"cannot read: {exc.strerror or exc}")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise_problem(name, line, "(syntax)", f"invalid YAML: {exc.problem}")
    located = Located(file=name, data=data if data is not None else {})
    if node is not None:
        _walk(node, (), located)
    return located


def raise_problem(file: str, line: int | None, key: str, message: str) -> NoReturn:
    raise ConfigError([ConfigProblem(file, line, key, message)])
