"""Property-based fuzzing of the config loader (hypothesis): 0 tracebacks, 0 hangs.

Three generators, each starting from the real example configuration (config/examples/):
  - structured: one to three settings replaced by arbitrary YAML values, deleted, or joined
    by unknown keys, anywhere in the tree;
  - textual: the file's text cut, spliced with YAML syntax, tags, anchors, control
    characters or arbitrary bytes;
  - alias bombs of every depth and fan-out, at the top or as the targets;
and one deterministic sweep: every setting of that configuration in turn given each value
of a list of hostile ones.
Whatever is generated, loading returns a Config or raises ConfigError whose problems all name
the file, a key and a message, each once; anything else is a traceback, and a load still
running after LOAD_DEADLINE_S is a hang. The runs are derandomized (the same examples in CI
every time) and bounded; WATCHDOG_FUZZ_SCALE=10 runs ten times as many.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.config.loader import Config, load_config
from watchdog.config.yamlpos import KeyPath, dotted
from watchdog.domain.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
# A hang detector, not a speed check: a load that is merely slow on a busy machine (a
# million-line file takes ~3 s alone, 10 s under a loaded CI) must not fail; one that never
# returns must. Speed is measured in `make bench`.
LOAD_DEADLINE_S = 90.0
SCALE = int(os.environ.get("WATCHDOG_FUZZ_SCALE", "1"))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=5000,  # ms per example; a real hang is caught by the thread deadline below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def base_config() -> dict[str, Any]:
    """The example configuration with its catalog inlined, plus a notification route."""
    main = yaml.safe_load((EXAMPLES / "watchdog.yaml").read_text(encoding="utf-8"))
    catalog = yaml.safe_load((EXAMPLES / "catalog.yaml").read_text(encoding="utf-8"))
    main.pop("include")
    main["watchdog"]["data_dir"] = "data"
    main["listen"] = {"host": "127.0.0.1", "port": 9788}
    main["notifications"] = {
        "routes": [{"id": "oncall", "audience": "sre", "urls": ["json://127.0.0.1:9/hook"]}],
        "alertmanager": {"enabled": True, "bearer_token": "t0ken"},
    }
    main["maintenance"] = {"www.ain.gouv.fr": [{"weekdays": [6], "hours": "22:00-02:00"}]}
    main["targets"] = catalog["targets"]
    return dict(main)


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: writing is not under test
BASE = base_config()
BASE_TEXT = yaml.safe_dump(BASE, allow_unicode=True, sort_keys=False)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, 10**20, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["15m", "0s", "1e9d", "999999999999d", "-5m", ".inf", "*", "*.*", "0.0.0.0", "",
         "http://[/x", "https://www.ain.gouv.fr:99999/", "(unclosed", "[", "\x00", "\ud7ff",
         "a" * 3000, "../../etc", "/dev/zero", "01", "2A", "request", "steps"]
    ),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
SNIPPETS = st.sampled_from(
    ["&a ", "*a", "*nowhere", "!!python/object:os.system ", "!!binary ", "!Ref ", "!!int ",
     "!!timestamp ", "<<: *a\n", "{", "}", "[", "]", ": ", "\n- ", "---\n", "...\n", "? ",
     "|\n", ">-\n", "\t", "\x01", "\x00", "\ufeff", "'", '"', "%YAML 1.1\n", "#", "\\",
     "include: 5\n", "include: ['/dev/zero']\n", "1.0e+400", "9" * 400]
)  # fmt: skip


def bounded(path: Path) -> Config | ConfigError:
    """Load `path` in a worker thread: the Config, or the ConfigError; else the test fails."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(_load, path).result(timeout=LOAD_DEADLINE_S)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"hang: {path} still loading after {LOAD_DEADLINE_S}s")
    finally:
        pool.shutdown(wait=False)


def _load(path: Path) -> Config | ConfigError:
    try:
        return load_config(path)
    except ConfigError as exc:
        return exc


def check(path: Path) -> Config | ConfigError:
    """The loader's contract on any input: a Config, or located problems, each once."""
    result = bounded(path)
    if isinstance(result, ConfigError):
        problems = [str(p) for p in result.problems]
        assert problems, "a ConfigError without problems"
        assert len(problems) == len(set(problems)), problems
        for problem in result.problems:
            assert problem.file == str(path), problem
            assert problem.key and problem.message, problem
            assert problem.line is None or problem.line >= 1, problem
    return result


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """BASE with one to three settings replaced, deleted or joined by an unknown key."""
    doc: Any = yaml.safe_load(BASE_TEXT)
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, dict | list) or draw(st.booleans()):
                operation = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
                if operation == "replace":
                    node[key] = draw(VALUES)
                elif operation == "delete":
                    del node[key]
                elif isinstance(node, dict):
                    node[draw(st.text(max_size=12))] = draw(VALUES)
                else:
                    node.append(draw(VALUES))
                break
            node = child
    return dict(doc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_base_config_loads(folder: Path) -> None:
    path = folder / "base.yaml"
    path.write_text(BASE_TEXT, encoding="utf-8")
    config = bounded(path)
    assert isinstance(config, Config), config
    assert len(config.targets) == 6


@settings(FUZZ, max_examples=150 * SCALE)
@given(doc=mutated())
def test_structured_fuzz_never_crashes_nor_hangs(folder: Path, doc: dict[str, Any]) -> None:
    path = folder / "structured.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    check(path)


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """BASE_TEXT (as bytes) with one to four cuts, splices or arbitrary bytes."""
    data = BASE_TEXT.encode("utf-8")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["snippet", "snippet", "bytes", "cut", "repeat"]))
        if operation == "snippet":
            data = data[:at] + draw(SNIPPETS).encode("utf-8") + data[at:]
        elif operation == "bytes":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif operation == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 200)) :]
        else:
            data = data[:at] + data[at : at + draw(st.integers(1, 200))] * 2 + data[at:]
    return data


@settings(FUZZ, max_examples=150 * SCALE)
@given(data=spliced())
def test_textual_fuzz_never_crashes_nor_hangs(folder: Path, data: bytes) -> None:
    path = folder / "textual.yaml"
    path.write_bytes(data)
    check(path)


@settings(FUZZ, max_examples=25 * SCALE)
@given(
    levels=st.integers(1, 12),
    fanout=st.integers(1, 12),
    as_targets=st.booleans(),
)
def test_alias_bombs_are_refused_or_loaded_in_bounded_time(
    folder: Path, levels: int, fanout: int, as_targets: bool
) -> None:
    leaf = "{id: x}" if as_targets else "lol"
    lines = [f"x0: &l0 [{', '.join([leaf] * fanout)}]"]
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    lines.append(f"targets: *l{levels}" if as_targets else "")
    path = folder / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check(path)


HOSTILE = [None, True, -1, 10**400, float("inf"), float("nan"), "", "*", "http://[/x",
           "(unclosed", "\x00", "a" * 3000, [], {"x": [1]}, "1e9d"]  # fmt: skip


def leaves(node: Any, path: KeyPath = ()) -> list[KeyPath]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, (*path, key))]
    if isinstance(node, list) and node:
        return [leaf for index, value in enumerate(node) for leaf in leaves(value, (*path, index))]
    return [path]


def related(key: str, setting: str) -> bool:
    """`key` is the setting itself, one of its parents or one of its parts."""
    first, second = sorted((key, setting), key=len)
    return second == first or second.startswith((f"{first}.", f"{first}["))


def test_every_setting_against_hostile_values(folder: Path) -> None:
    """Each refused value is reported at its own setting (or its parent), and nothing else is:
    no setting elsewhere replaced by defaults, no check leaning on the refused value."""
    path = folder / "sweep.yaml"
    base = {**BASE, "targets": [BASE["targets"][1], BASE["targets"][5]]}  # options, steps
    loads, unrelated = 0, []
    for leaf in leaves(base):
        setting = dotted(leaf)
        for value in HOSTILE:
            doc: Any = copy.deepcopy(base)
            node = doc
            for part in leaf[:-1]:
                node = node[part]
            node[leaf[-1]] = value
            path.write_text(yaml.dump(doc, Dumper=DUMPER, allow_unicode=True), encoding="utf-8")
            result = check(path)
            loads += 1
            if isinstance(result, ConfigError):
                keys = [p.key for p in result.problems]
                if any(related(k, setting) for k in keys):
                    unrelated += [(setting, value, k) for k in keys if not related(k, setting)]
    assert loads == len(leaves(base)) * len(HOSTILE) > 700
    assert unrelated == []
