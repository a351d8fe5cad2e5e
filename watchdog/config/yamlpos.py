"""YAML loading that remembers where every key came from, for file:line:key errors.

A configuration may come from anyone (a pasted catalog, a generated file), so loading is
bounded: the file must be a regular file of at most `MAX_BYTES`, valid UTF-8; nesting deeper
than `MAX_DEPTH` and documents of more than `MAX_NODES` values, or expanding to more through
aliases, are refused before anything is built from them (a "billion laughs" file is a few
hundred bytes; PyYAML spends ~20 µs and ~1 KB on each value, so the count is kept while the
document is composed, not after);
only the plain YAML types are accepted (no `!!python/…`, `!!binary`, `!!set`, custom tags).
Every refusal is a ConfigError with the file and line, never another exception.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from watchdog.domain.errors import ConfigError, ConfigProblem

KeyPath = tuple[str | int, ...]

MAX_BYTES = 2 * 1024 * 1024  # a catalog of 1,000 targets is about 250 KB
MAX_DEPTH = 40  # the deepest real config (notification thresholds) nests 4 levels
MAX_NODES = 100_000  # also after alias expansion; ~15 values a target
GLOB_BUDGET = 20_000  # directory entries an include pattern may look at
_MAGIC = re.compile(r"[*?[]")
_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
) | {_CORE + "merge"}  # `<<: *defaults` is common in hand-written configs


class _Refused(Exception):
    """Raised inside the loader; turned into a ConfigProblem by load_located."""

    def __init__(self, line: int | None, key: str, message: str) -> None:
        super().__init__(message)
        self.line, self.key, self.message = line, key, message


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting as it goes (its recursion is bounded)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                why = (
                    f"nested deeper than {MAX_DEPTH} levels"
                    if self._depth > MAX_DEPTH
                    else f"more than {MAX_NODES} values"
                )
                raise _Refused(line, "(syntax)", why)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A well-formed scalar can still fail to build (`!!int x`, `date: 2025-13-45`): PyYAML
        # lets int(), float() and date() raise; the innermost node names the line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise _Refused(
                node.start_mark.line + 1, "(syntax)", f"invalid YAML value: {exc}"
            ) from exc


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
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _check_expansion(root: yaml.Node) -> None:
    """Refuse tags outside ALLOWED_TAGS, alias cycles, and documents that aliases expand beyond
    MAX_NODES values or MAX_DEPTH levels, before anything walks the expanded tree."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height) once expanded
    open_nodes: set[int] = set()

    def refuse(node: yaml.Node, message: str) -> NoReturn:
        raise _Refused(node.start_mark.line + 1, "(syntax)", message)

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            refuse(node, "an alias refers to the node that contains it")
        if node.tag not in ALLOWED_TAGS:
            refuse(node, f"unsupported YAML tag {node.tag!r}")
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        sizes = [measure(child) for child in children]
        open_nodes.discard(key)
        values = 1 + sum(size for size, _ in sizes)
        height = 1 + max((h for _, h in sizes), default=0)
        if values > MAX_NODES:
            refuse(node, f"more than {MAX_NODES} values once aliases are expanded")
        if height > MAX_DEPTH:
            refuse(node, f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")
        measured[key] = (values, height)
        return values, height

    measure(root)


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


def read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a _Refused otherwise.

    The type is checked before reading and again on the open descriptor (opened non-blocking,
    so a FIFO swapped in meanwhile cannot block): `/dev/zero` or a pipe never ends.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise _Refused(None, "(file)", "not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise _Refused(None, "(file)", f"cannot read: {_reason(exc)}") from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _Refused(None, "(file)", "not a regular file")
            if info.st_size > limit:
                raise _Refused(None, "(file)", f"larger than {limit} bytes ({info.st_size})")
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _Refused(None, "(file)", f"cannot read: {_reason(exc)}") from exc
    if len(data) > limit:  # it grew between stat and read
        raise _Refused(None, "(file)", f"larger than {limit} bytes")
    return data


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _Refused(line, "(file)", f"not UTF-8 (byte 0x{data[exc.start]:02x})") from exc


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    try:
        loader = _BoundedLoader(text)  # checks every character is printable
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise _Refused(line, "(syntax)", f"invalid YAML: {_printable(exc)}") from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node)
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = mark.line + 1 if mark is not None else None
        raise _Refused(at, "(syntax)", f"invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise _Refused(None, "(syntax)", f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _printable(exc: yaml.reader.ReaderError) -> str:
    character = exc.character
    code = ord(character) if isinstance(character, str) else character
    return f"{exc.reason} (#x{code:04x})"


def bounded_glob(pattern: Path, budget: int = GLOB_BUDGET) -> list[str] | None:
    """The paths matching `pattern` as glob.glob would (non-recursive, hidden names only for
    a part starting with "."), or None once `budget` directory entries were looked at:
    `/*/*/*/*/*/none.yaml` would otherwise walk the whole disk."""
    parts = pattern.parts
    start = 1 if pattern.is_absolute() else 0
    candidates = [Path(parts[0]) if start else Path()]  # the root, or the current folder
    for part in parts[start:]:
        found: list[Path] = []
        for folder in candidates:
            if not _MAGIC.search(part):
                budget -= 1
                if os.path.lexists(folder / part):
                    found.append(folder / part)
                continue
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        budget -= 1
                        if budget < 0:
                            return None
                        hidden = entry.name.startswith(".") and not part.startswith(".")
                        if not hidden and fnmatch.fnmatchcase(entry.name, part):
                            found.append(folder / entry.name)
            except (OSError, ValueError):  # not a folder, unreadable, a NUL in the name
                continue
        candidates = found
    return sorted(str(path) for path in candidates)


def load_located(path: Path) -> Located:
    """Parse one YAML file within the bounds above; any problem is a ConfigError with the line."""
    name = str(path)
    try:
        node, data = _parse(_decode(read_bounded(path)))
    except _Refused as refused:
        raise_problem(name, refused.line, refused.key, refused.message)
    located = Located(file=name, data=data if data is not None else {})
    if node is not None:
        _walk(node, (), located)
    return located


def raise_problem(file: str, line: int | None, key: str, message: str) -> NoReturn:
    raise ConfigError([ConfigProblem(file, line, key, message)])
