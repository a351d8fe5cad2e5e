"""Secrets kept out of the configuration file: `{env: NAME}` and `{file: PATH}`.

Wherever the configuration holds a secret (SECRET_PATHS), the value may be a one-key mapping
naming where the secret is instead of the secret itself:

    urls: [{env: WATCHDOG_ONCALL_URL}]                 # an environment variable
    bearer_token: {file: /run/secrets/am-token}        # a file (Docker and Kubernetes secrets)

A file is relative to the folder of the configuration file that names it (as every path of
the configuration), must be a regular file of at most MAX_SECRET_BYTES, and is read whole as
UTF-8 with surrounding whitespace removed (secret files usually end with a newline). Both are
read at every load, so a SIGHUP reload picks up a rotated secret. A missing variable, an
unreadable or empty file, or a malformed reference is a configuration problem reported with
file, line and key like any other — naming the variable or the file, never the secret. Other
values are left alone: elsewhere such a mapping is an ordinary (invalid) value.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from watchdog.config.yamlpos import KeyPath, Located, dotted
from watchdog.domain.errors import ConfigProblem

ANY = "*"  # one key or list index, in SECRET_PATHS
# Where a secret may stand (one key or index per part; ANY matches every key or index).
SECRET_PATHS: tuple[tuple[str, ...], ...] = (
    ("watchdog", "database_url"),  # postgresql+psycopg://user:password@host/db
    ("notifications", "routes", ANY, "urls", ANY),  # Apprise URLs carry tokens
    ("notifications", "alertmanager", "bearer_token"),
    ("targets", ANY, "options", "operator_headers", ANY),  # rdv_prefecture's sanctioned access
    ("targets", ANY, "options", "operator_cookies", ANY),
)
KINDS = ("env", "file")
MAX_SECRET_BYTES = 64 * 1024


def resolve_secrets(doc: Located, environ: Mapping[str, str]) -> list[ConfigProblem]:
    """Replace, in `doc.data`, every `{env: …}`/`{file: …}` at a secret's place by the secret;
    return the problems found (the value stays unresolved there, and schema checks skip it)."""
    problems: list[ConfigProblem] = []
    root = Path(doc.file).parent
    for pattern in SECRET_PATHS:
        for container, key, path in _places(doc.data, pattern, ()):
            value = container[key]
            if not isinstance(value, dict):
                continue  # the secret itself, or a value the schema will refuse
            secret, why = _lookup(value, root, environ)
            if why is not None:
                problems.append(ConfigProblem(doc.file, doc.line_of(path), dotted(path), why))
                container[key] = ""  # reported once: the schema must not add "not a string"
            else:
                container[key] = secret
    return problems


def _places(data: Any, pattern: tuple[str, ...], path: KeyPath) -> list[tuple[Any, Any, KeyPath]]:
    """(container, key, path) of every value `pattern` designates in `data`."""
    if not pattern:
        return []
    head, rest = pattern[0], pattern[1:]
    if isinstance(data, dict):
        keys: list[Any] = list(data) if head == ANY else [head] if head in data else []
    elif isinstance(data, list) and head == ANY:
        keys = list(range(len(data)))
    else:
        return []
    found = []
    for key in keys:
        where = (*path, key if isinstance(key, int) else str(key))
        if rest:
            found += _places(data[key], rest, where)
        else:
            found.append((data, key, where))
    return found


def _lookup(ref: dict[Any, Any], root: Path, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The secret `ref` names, or a reason (that never quotes a secret) it cannot be had."""
    if len(ref) != 1 or next(iter(ref)) not in KINDS:
        return "", "a secret is a string, {env: VARIABLE} or {file: PATH}"
    kind, name = next(iter(ref.items()))
    if not isinstance(name, str) or not name or "\0" in name:
        return "", f"{kind}: must be a non-empty string"
    if kind == "env":
        value = environ.get(name)
        if value is None:
            return "", f"environment variable {name} is not set"
        if not value.strip():
            return "", f"environment variable {name} is empty"
        return value.strip(), None
    return read_secret_file(root / name if not os.path.isabs(name) else Path(name))


def read_secret_file(path: Path) -> tuple[str, str | None]:
    """The secret in `path` (whitespace around it removed), or why it cannot be had."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return "", f"secret file {path} is not a regular file"
        if info.st_size > MAX_SECRET_BYTES:
            return "", f"secret file {path} is larger than {MAX_SECRET_BYTES} bytes"
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        return "", f"cannot read secret file {path}: {exc.strerror or exc}"
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "", f"secret file {path} is not UTF-8 text"
    if not value:
        return "", f"secret file {path} is empty"
    return value, None
