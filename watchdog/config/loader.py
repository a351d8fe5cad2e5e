"""The configuration's strict loader (docs/design.md §3); the schema: watchdog/config/schema.py.

This is the only module that reads the environment (`WATCHDOG_CONFIG`, and the variables that
`{env: NAME}` secrets name: watchdog/config/references.py). Every problem found is reported once,
each with file, line and key; nothing is silently ignored (unknown keys are errors). A bad
value costs only its own setting: the rest of its section and the other sections are still
validated, and no check leans on a setting that failed (no « not in allowed_hosts » because
`allowed_hosts` itself was wrong). Relative paths are relative to the config file's folder,
as in Prometheus. Nothing a file holds can make loading crash or hang (watchdog/config/yamlpos.py
bounds the YAML; whatever a platform's option schema raises becomes a problem).
"""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from probes import REGISTRY
from watchdog.config.references import resolve_secrets
from watchdog.config.schema import (
    DEFAULT_USER_AGENT,
    AssistSettings,
    BackoffSettings,
    BrowserSettings,
    Config,
    ListenSettings,
    PerHostBudget,
    PolitenessSettings,
    ProbingSettings,
    SchedulerSettings,
    WatchdogSettings,
    WorkersSettings,
    host_allowed,
    is_loopback,
)
from watchdog.config.yamlpos import (
    GLOB_BUDGET,
    MAX_BYTES,
    KeyPath,
    Located,
    bounded_glob,
    dotted,
    load_located,
    raise_problem,
)
from watchdog.domain.errors import ConfigError, ConfigProblem
from watchdog.domain.models import EngineChoice, RequestClient
from watchdog.domain.target import Target

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_USER_AGENT",
    "AssistSettings",
    "BackoffSettings",
    "BrowserSettings",
    "Config",
    "ListenSettings",
    "PerHostBudget",
    "PolitenessSettings",
    "ProbingSettings",
    "SchedulerSettings",
    "WatchdogSettings",
    "WorkersSettings",
    "config_path",
    "host_allowed",
    "is_loopback",
    "load_config",
]

DEFAULT_CONFIG = Path("config/watchdog.yaml")
CONFIG_ENV = "WATCHDOG_CONFIG"
LOOPBACK_MIN_INTERVAL = timedelta(seconds=1)
PUBLIC_MIN_INTERVAL = timedelta(minutes=1)
MAX_INCLUDED_FILES = 200
MAX_INCLUDED_BYTES = 2 * MAX_BYTES  # all included files together: loading stays a few seconds

M = TypeVar("M", bound=BaseModel)
Where = dict[str, tuple[Located, KeyPath]]


def config_path(explicit: str | None) -> Path | None:
    """The config file to use: --config, then $WATCHDOG_CONFIG, then the default if present."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _problem(doc: Located, path: KeyPath, message: str) -> ConfigProblem:
    return ConfigProblem(doc.file, doc.line_of(path), dotted(path), message)


def _problems_from(exc: ValidationError, doc: Located, prefix: KeyPath) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        path = (*prefix, *error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(_problem(doc, path, message))
    return problems


def _validate(
    model: type[M], raw: Any, doc: Located, path: KeyPath
) -> tuple[M | None, list[ConfigProblem]]:
    """`model` validated from `raw`, or the problems found, each located under `path`."""
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, _problems_from(exc, doc, path)
    except re.error as exc:  # a schema compiling a pattern lets re.error through pydantic
        where = _bad_pattern(raw, path, exc) or path
        return None, [_problem(doc, where, f"invalid regular expression: {exc}")]
    except Exception as exc:
        # A platform's option schema is plugin code: whatever it raises on a hostile value
        # (a step that is not a mapping…) must be a config problem, never a traceback.
        return None, [_problem(doc, path, f"invalid value ({type(exc).__name__}: {exc})")]


def _bad_pattern(raw: Any, path: KeyPath, error: re.error) -> KeyPath | None:
    """The path of the string in `raw` that fails to compile as `error` says, if one does."""
    if isinstance(raw, str):
        try:
            re.compile(raw)
        except re.error as exc:
            return path if str(exc) == str(error) else None
        return None
    items = (
        raw.items() if isinstance(raw, dict) else enumerate(raw) if isinstance(raw, list) else ()
    )
    for key, value in items:
        found = _bad_pattern(value, (*path, key if isinstance(key, int) else str(key)), error)
        if found is not None:
            return found
    return None


# -- the settings outside `targets` ------------------------------------------------------


def _section(name: str, raw: Any, doc: Located) -> tuple[Any, list[ConfigProblem], set[str]]:
    """One top-level section: its value, its problems, and the settings that failed.

    On errors, the failing settings are dropped and the section validated again without
    them, quietly: what that pass finds may only follow from the drop, and each problem is
    reported once. If it still fails, the section's defaults stand and all of it failed."""
    try:
        return getattr(Config.model_validate({name: raw}), name), [], set()
    except ValidationError as exc:
        problems = _problems_from(exc, doc, ())
        heads = {error["loc"][1] for error in exc.errors() if len(error["loc"]) > 1}
        whole = any(len(error["loc"]) < 2 for error in exc.errors())
    except Exception:  # reported as _validate words it; the section keeps its defaults
        _, problems = _validate(Config, {name: raw}, doc, ())
        return getattr(Config(), name), problems, {name}
    kept = None if whole else _without(raw, heads)
    if kept is not None:
        again, _ = _validate(Config, {name: kept}, doc, ())
        if again is not None:
            return getattr(again, name), problems, {f"{name}.{head}" for head in heads}
    return getattr(Config(), name), problems, {name}


def _without(raw: Any, heads: set[str | int]) -> Any:
    """`raw` less the keys or list items in `heads`; None when nothing could be dropped."""
    if isinstance(raw, dict):
        kept = {k: v for k, v in raw.items() if k not in heads}
        return kept if len(kept) < len(raw) else None
    if isinstance(raw, list):
        items = [v for i, v in enumerate(raw) if i not in heads]
        return items if len(items) < len(raw) else None
    return None


def _settings(main: Located) -> tuple[Config, list[ConfigProblem], set[str]]:
    """The sections of the main file, each on its own (see _section)."""
    problems: list[ConfigProblem] = []
    failed: set[str] = set()
    sections: dict[str, Any] = {}
    for key, raw in main.data.items():
        if key == "targets":
            continue
        if not isinstance(key, str) or key not in Config.model_fields:
            problems.append(_problem(main, (str(key),), "unknown key"))
            continue
        sections[key], found, bad = _section(key, raw, main)
        problems.extend(found)
        failed |= bad
    return Config(**sections), problems, failed


def _intact(failed: set[str], *settings: str) -> bool:
    """None of `settings` (dotted) nor their sections failed validation."""
    return not any(s in failed or s.split(".")[0] in failed for s in settings)


# -- includes and targets ----------------------------------------------------------------


def _included(main: Located, path: Path) -> tuple[list[Located], list[ConfigProblem]]:
    """The files `include:` names (globs relative to the main file's folder), parsed."""
    patterns = main.data.get("include")
    if not isinstance(patterns, list):
        return [], []  # absent, or reported by the schema
    docs: list[Located] = []
    problems: list[ConfigProblem] = []
    seen = {path.absolute()}
    total = 0
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or "\0" in pattern:
            continue  # reported by the schema (or unusable as a file name)
        matches = bounded_glob(path.parent / pattern)
        if matches is None:
            why = f"{pattern!r} looks at more than {GLOB_BUDGET} files: name a folder"
            problems.append(_problem(main, ("include", index), why))
            continue
        if not matches:
            problems.append(_problem(main, ("include", index), f"no file matches {pattern!r}"))
        for match in matches:
            if Path(match).absolute() in seen:
                continue  # the main file itself, or a file two patterns match
            seen.add(Path(match).absolute())
            total += _regular_size(Path(match))
            if len(seen) > MAX_INCLUDED_FILES + 1 or total > MAX_INCLUDED_BYTES:
                why = (
                    f"more than {MAX_INCLUDED_FILES} included files, or more than "
                    f"{MAX_INCLUDED_BYTES} bytes in all"
                )
                return docs, [*problems, _problem(main, ("include", index), why)]
            try:
                docs.append(load_located(Path(match)))
            except ConfigError as exc:  # a file that cannot be read is named where it is included
                problems.extend(
                    _problem(main, ("include", index), f"{match}: {p.message}")
                    if p.key == "(file)" and p.line is None
                    else p
                    for p in exc.problems
                )
    return docs, problems


def _regular_size(path: Path) -> int:
    """The size of a regular file; 0 for anything else (load_located refuses it unread)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _catalog_problems(doc: Located) -> list[ConfigProblem]:
    if not isinstance(doc.data, dict):
        return [_problem(doc, (), "an included file must be a mapping holding `targets:`")]
    return [
        _problem(doc, (str(key),), "unknown key (an included catalog holds only targets)")
        for key in doc.data
        if key != "targets"
    ]


def _target_entries(docs: list[Located]) -> tuple[list[tuple[Located, int]], list[ConfigProblem]]:
    """Every (document, index) holding a target, in order."""
    entries: list[tuple[Located, int]] = []
    problems: list[ConfigProblem] = []
    for doc in docs:
        targets = doc.data.get("targets") if isinstance(doc.data, dict) else None
        if targets is not None and not isinstance(targets, list):
            problems.append(_problem(doc, ("targets",), "must be a list of targets"))
            continue
        entries.extend((doc, i) for i in range(len(targets or [])))
    return entries, problems


def _validate_target(raw: Any, doc: Located, path: KeyPath) -> tuple[Target | None, list[Any]]:
    target, problems = _validate(Target, raw, doc, path)
    if target is None:
        return None, problems
    if target.platform not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        why = f"unknown platform {target.platform!r} (known: {known})"
        return None, [_problem(doc, (*path, "platform"), why)]
    options, problems = _validate(
        REGISTRY[target.platform].options, target.options, doc, (*path, "options")
    )
    if options is None:
        return None, problems
    target._parsed_options = options
    return target, []


def _targets(
    entries: list[tuple[Located, int]], main: Located
) -> tuple[list[Target], Where, list[ConfigProblem]]:
    where: Where = {"": (main, ())}
    targets: list[Target] = []
    problems: list[ConfigProblem] = []
    for doc, index in entries:
        tpath: KeyPath = ("targets", index)
        target, found = _validate_target(doc.data["targets"][index], doc, tpath)
        problems.extend(found)
        if target is None:
            continue
        if target.id in where:
            first_doc, first_path = where[target.id]
            problems.append(
                _problem(
                    doc,
                    (*tpath, "id"),
                    f"duplicate target id {target.id!r} (first defined at "
                    f"{first_doc.file}:{first_doc.line_of(first_path)})",
                )
            )
            continue
        where[target.id] = (doc, tpath)
        targets.append(target)
    return targets, where, problems


# -- checks across sections --------------------------------------------------------------


def _floor_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    if not _intact(failed, "watchdog.min_interval"):
        return []
    floor = config.watchdog.min_interval
    all_loopback = all(is_loopback(t.host) for t in config.targets)
    absolute = LOOPBACK_MIN_INTERVAL if all_loopback else PUBLIC_MIN_INTERVAL
    main, _ = where[""]
    problems = []
    if floor < absolute:
        problems.append(
            _problem(
                main,
                ("watchdog", "min_interval"),
                f"below the politeness floor of {int(absolute.total_seconds())}s "
                "(shorter floors are allowed only when every target is on loopback)",
            )
        )
    for target in config.targets:
        doc, path = where[target.id]
        if target.interval < floor:
            problems.append(
                _problem(
                    doc,
                    (*path, "interval"),
                    f"{target.interval.total_seconds():g}s is under min_interval "
                    f"({floor.total_seconds():g}s)",
                )
            )
    return problems


def _host_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    if not _intact(failed, "watchdog.allowed_hosts"):
        return []
    hosts = config.watchdog.allowed_hosts
    problems = []
    for target in config.targets:
        if not host_allowed(target.host, hosts):
            doc, path = where[target.id]
            why = f"host {target.host!r} is not in watchdog.allowed_hosts {hosts}"
            problems.append(_problem(doc, (*path, "url"), why))
        for index, page in enumerate(target.substitute_pages):
            host = (urlsplit(page).hostname or "").lower()
            if not host_allowed(host, hosts):
                doc, path = where[target.id]
                why = f"host {host!r} is not in watchdog.allowed_hosts {hosts}"
                problems.append(_problem(doc, (*path, "substitute_pages", index), why))
    return problems


def _engine_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    """`engine: request` only where the platform has a request probe (else browser or auto)."""
    problems = []
    for t in config.targets:
        if t.engine is None and not _intact(failed, "probing.engine"):
            continue
        if config.engine_for(t) is EngineChoice.REQUEST and not REGISTRY[t.platform].request_probe:
            doc, path = where[t.id] if t.engine else where[""]
            key = (*path, "engine") if t.engine else ("probing", "engine")
            why = f"platform {t.platform} has no request engine: use browser or auto"
            problems.append(_problem(doc, key, why))
    return problems


def _client_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    """The aiohttp client speaks http:// and https:// proxies, not socks5://."""
    if not _intact(failed, "browser.request_client", "watchdog.proxy"):
        return []
    proxy = (config.watchdog.proxy or "").lower()
    if config.browser.request_client is RequestClient.AIOHTTP and proxy.startswith("socks5:"):
        main, _ = where[""]
        why = (
            "aiohttp cannot use a socks5:// proxy (watchdog.proxy): use playwright, "
            "or an http:// or https:// proxy"
        )
        return [_problem(main, ("browser", "request_client"), why)]
    return []


def _exposure_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    """An exposed listener takes Alertmanager webhooks only with a bearer token."""
    bridge = config.notifications.alertmanager
    if not _intact(failed, "listen", "notifications.alertmanager", "notifications.enabled"):
        return []
    exposed = not is_loopback(config.listen.host)
    if exposed and config.notifications.enabled and bridge.enabled and not bridge.bearer_token:
        main, _ = where[""]
        why = (
            "required when the listener is exposed (listen.expose: true): without it anyone "
            "who reaches the port can send notifications through your routes"
        )
        return [_problem(main, ("notifications", "alertmanager", "bearer_token"), why)]
    return []


def _retention_problems(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    """Every target and tag `retention` names must exist: a typo would lift a hold."""
    if not _intact(failed, "retention"):
        return []
    main, _ = where[""]
    ids = {t.id for t in config.targets}
    tags = {tag for t in config.targets for tag in t.tags}
    problems = [
        _problem(main, ("retention", "targets", name), "no target has this id")
        for name in config.retention.targets
        if name not in ids
    ]
    problems += [
        _problem(main, ("retention", "tags", name), "no target has this tag")
        for name in config.retention.tags
        if name not in tags
    ]
    return problems


def _cross_checks(config: Config, where: Where, failed: set[str]) -> list[ConfigProblem]:
    checks = (
        _floor_problems,
        _host_problems,
        _engine_problems,
        _client_problems,
        _exposure_problems,
        _retention_problems,
    )
    return [problem for check in checks for problem in check(config, where, failed)]


# -- paths -------------------------------------------------------------------------------


def _relative_to(root: Path, path: Path) -> Path:
    return path if path.is_absolute() else Path(os.path.normpath(root / path))


def _sqlite_relative_to(root: Path, url: str | None) -> str | None:
    """`sqlite:///relative.db` (three slashes: a relative file) against the config's folder;
    absolute files (four slashes), in-memory databases and other databases are left as is."""
    if url is None:
        return None
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite" or not rest or rest.startswith("/"):
        return url
    path, query = rest.partition("?")[::2]
    if path in ("", ":memory:"):
        return url
    absolute = _relative_to(root, Path(path))
    return f"{scheme}:///{absolute}" + (f"?{query}" if query else "")


def _resolve_paths(config: Config, root: Path) -> None:
    """Relative paths mean relative to the config file's folder, wherever the command runs."""
    watchdog = config.watchdog
    config.watchdog = watchdog.model_copy(
        update={
            "data_dir": _relative_to(root, watchdog.data_dir),
            "database_url": _sqlite_relative_to(root, watchdog.database_url),
        }
    )
    if config.checkpoints.tsa_ca is not None:
        tsa_ca = _relative_to(root, config.checkpoints.tsa_ca)
        config.checkpoints = config.checkpoints.model_copy(update={"tsa_ca": tsa_ca})
    if config.workers.file_sd_dir is not None:
        file_sd = _relative_to(root, config.workers.file_sd_dir)
        config.workers = config.workers.model_copy(update={"file_sd_dir": file_sd})
    executable = config.browser.executable_path
    if executable and os.sep in executable:  # a bare name is looked up as a command
        resolved = str(_relative_to(root, Path(executable)))
        config.browser = config.browser.model_copy(update={"executable_path": resolved})
    routes = [
        route.model_copy(update={"config_file": _relative_to(root, route.config_file)})
        if route.config_file is not None
        else route
        for route in config.notifications.routes
    ]
    config.notifications = config.notifications.model_copy(update={"routes": routes})


def load_config(path: Path) -> Config:
    """Load and validate `path` and its includes; raise ConfigError listing every problem."""
    main = load_located(path)
    if not isinstance(main.data, dict):
        raise_problem(main.file, 1, "(top level)", "the configuration must be a mapping")
    secret_problems = resolve_secrets(main, os.environ)
    config, problems, failed = _settings(main)
    problems[:0] = main.duplicates
    included, include_problems = _included(main, path)
    problems.extend(include_problems)
    for doc in included:
        secret_problems += resolve_secrets(doc, os.environ)
        problems.extend(p for p in [*doc.duplicates, *_catalog_problems(doc)] if p not in problems)
    entries, shape_problems = _target_entries([main, *included])
    config.targets, where, target_problems = _targets(entries, main)
    problems.extend(shape_problems + target_problems)
    problems.extend(_cross_checks(config, where, failed))
    if problems or secret_problems:
        # A secret that could not be read is reported once, not again as an invalid value.
        unread = {(p.file, p.key) for p in secret_problems}
        problems = [p for p in problems if (p.file, p.key) not in unread]
        raise ConfigError([*secret_problems, *problems])
    _resolve_paths(config, path.parent.absolute())
    config._source = str(path)
    return config
