"""Hostile configurations, by name: each is refused with file:line:key problems, quickly.

The table holds the cases issue 13 found (tracebacks and hangs of `check-config` and of a
SIGHUP reload) and their neighbours. Every load runs in a worker thread with a deadline, so a
hang fails the test instead of stalling the suite; any exception other than ConfigError is a
traceback the user would have seen.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watchdog.config.loader import MAX_INCLUDED_BYTES, MAX_INCLUDED_FILES, Config, load_config
from watchdog.config.yamlpos import MAX_BYTES
from watchdog.domain.errors import ConfigError

# A hang detector, not a speed check: a load that is merely slow on a busy machine (a
# million-line file takes ~3 s alone, 10 s under a loaded CI) must not fail; one that never
# returns must. Speed is measured in `make bench`.
LOAD_DEADLINE_S = 90.0
TARGET = """\
  - id: ain-premiere-demande
    department: "01"
    prefecture: Ain
    procedure: premiere_demande
    label: "Première demande"
    platform: legacy_booking
    url: https://www.ain.gouv.fr/booking/create/804/0
    interval: 15m
"""
TARGETS = "targets:\n" + TARGET
STEPS = TARGET.replace("legacy_booking", "steps")


def laughs(levels: int, fanout: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


# name: (file body, fragment of the expected problem, key the problem names)
CASES: dict[str, tuple[str | bytes, str, str]] = {
    "billion_laughs": (laughs(9), "once aliases are expanded", "(syntax)"),
    "laughs_as_targets": (
        laughs(6).replace("l0: &l0 [lol", "l0: &l0 [{id: x}") + "targets: *l6\n",
        "once aliases are expanded",
        "(syntax)",
    ),
    "alias_cycle": ("a: &a [*a]\n", "refers to the node that contains it", "(syntax)"),
    "a_million_values": ("a: [" + "1," * 1_000_000 + "1]\n", "more than 100000 values", "(syntax)"),
    "a_million_lines": ("a:\n" + "- 1\n" * 500_000, "more than 100000 values", "(syntax)"),
    "deep_nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than", "(syntax)"),
    "deep_through_aliases": (
        "".join(f"a{i}: &a{i} [[[[[[[[[[{f'*a{i - 1}' if i else 1}]]]]]]]]]]\n" for i in range(9)),
        "nested deeper than",
        "(syntax)",
    ),
    "non_utf8": (b"watchdog:\n  vantage: caf\xe9\n", "not UTF-8 (byte 0xe9)", "(file)"),
    "control_character": ("watchdog:\n  vantage: a\x01b\n", "special characters", "(syntax)"),
    "nul_character": ("watchdog:\n  vantage: a\x00b\n", "special characters", "(syntax)"),
    "python_tag": (
        "a: !!python/object/apply:os.system ['echo pwned']\n",
        "unsupported YAML tag",
        "(syntax)",
    ),
    "binary_tag": ("a: !!binary aGVsbG8=\n", "unsupported YAML tag", "(syntax)"),
    "custom_tag": ("a: !Ref other\n", "unsupported YAML tag", "(syntax)"),
    "int_tag_on_text": ("a: !!int twelve\n", "invalid YAML value", "(syntax)"),
    "impossible_date": (
        TARGETS + "    maintenance: [{start: 2025-13-45, end: 2025-12-01}]\n",
        "invalid YAML value",
        "(syntax)",
    ),
    "int_of_5000_digits": ("a: " + "9" * 5000 + "\n", "invalid YAML value", "(syntax)"),
    "unhashable_key": ("? [a, b]\n: c\n", "unhashable", "(syntax)"),
    "merge_of_a_scalar": ("a: {<<: 5}\n", "invalid YAML", "(syntax)"),
    "two_documents": ("a: 1\n---\nb: 2\n", "invalid YAML", "(syntax)"),
    "top_level_list": ("- a\n- b\n", "must be a mapping", "(top level)"),
    "huge_integer_duration": (
        TARGETS.replace("15m", "99999999999999999999"),
        "outside 0 to 3650d",
        "targets[0].interval",
    ),
    "infinite_duration": (TARGETS.replace("15m", ".inf"), "outside 0", "targets[0].interval"),
    "nan_duration": (TARGETS.replace("15m", ".nan"), "outside 0", "targets[0].interval"),
    "huge_unit_duration": (
        TARGETS.replace("15m", "999999999d"),
        "outside 0",
        "targets[0].interval",
    ),
    "negative_duration": (TARGETS.replace("15m", "-5"), "outside 0", "targets[0].interval"),
    "overflowing_floor": (
        "watchdog: {min_interval: 1.0e+400}\n" + TARGETS,
        "outside 0",
        "watchdog.min_interval",
    ),
    "bad_steps_regex": (
        "targets:\n"
        + STEPS
        + "    options:\n      rules: [{regex: '(unclosed', outcome: no_slot}]\n",
        "invalid regular expression",
        "targets[0].options.rules[0].regex",
    ),
    "bad_count_regex": (
        "targets:\n" + STEPS + "    options:\n      rules: [{text: x, outcome: available, "
        "count: '*'}]\n",
        "invalid regular expression",
        "targets[0].options.rules[0].count",
    ),
    "step_not_a_mapping": (
        "targets:\n" + STEPS + "    options:\n      steps: [5]\n      rules: [{text: x, "
        "outcome: no_slot}]\n",
        "a step needs one of goto",
        "targets[0].options.steps[0]",
    ),
    "unclosed_ipv6_url": (
        TARGETS.replace("https://www.ain.gouv.fr/booking/create/804/0", "'http://[/x'"),
        "not a usable URL",
        "targets[0].url",
    ),
    "port_out_of_range": (
        TARGETS.replace("www.ain.gouv.fr", "www.ain.gouv.fr:99999"),
        "not a usable URL",
        "targets[0].url",
    ),
    "include_a_number": ("include: 5\n" + TARGETS, "valid list", "include"),
    "include_dev_zero": ("include: ['/dev/zero']\n" + TARGETS, "not a regular file", "include[0]"),
    "include_a_directory": ("include: ['/']\n" + TARGETS, "not a regular file", "include[0]"),
    "include_walking_the_disk": (
        "include: ['/*/*/*/*/*/*/none.yaml']\n" + TARGETS,
        "looks at more than 20000 files",
        "include[0]",
    ),
    "include_missing": ("include: ['nowhere/*.yaml']\n", "no file matches", "include[0]"),
    "allowed_hosts_star": (
        "watchdog: {allowed_hosts: ['*']}\n" + TARGETS,
        "allows every host",
        "watchdog.allowed_hosts",
    ),
    "allowed_hosts_star_dot_star": (
        "watchdog: {allowed_hosts: ['*.*']}\n" + TARGETS,
        "allows every host",
        "watchdog.allowed_hosts",
    ),
    "listen_on_every_interface": (
        "listen: {host: '0.0.0.0'}\n" + TARGETS,
        "listen.expose: true",
        "listen",
    ),
    "listen_on_empty_host": ("listen: {host: ''}\n" + TARGETS, "every interface", "listen"),
    "exposed_bridge_without_token": (
        "listen: {host: '0.0.0.0', expose: true}\n"
        "notifications: {alertmanager: {enabled: true}}\n" + TARGETS,
        "required when the listener is exposed",
        "notifications.alertmanager.bearer_token",
    ),
    "nul_in_data_dir": (
        'watchdog: {data_dir: "a\\0b"}\n' + TARGETS,
        "NUL",
        "watchdog.data_dir",
    ),
    "user_agent_with_newline": (
        'watchdog: {user_agent: "ua\\r\\nX-Evil: 1"}\n' + TARGETS,
        "control characters",
        "watchdog.user_agent",
    ),
    "section_not_a_mapping": ("watchdog: 5\n" + TARGETS, "valid dictionary", "watchdog"),
    "targets_not_a_list": ("targets: {a: 1}\n", "must be a list", "targets"),
    "target_not_a_mapping": ("targets: [5]\n", "valid dictionary", "targets[0]"),
}


def bounded(load: Callable[[], Config], deadline: float = LOAD_DEADLINE_S) -> Config:
    """`load()` in a worker thread; a hang fails here instead of stalling the suite."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(load).result(timeout=deadline)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"config load still running after {deadline}s (a hang)")
    finally:
        pool.shutdown(wait=False)


def write(folder: Path, body: str | bytes, name: str = "watchdog.yaml") -> Path:
    path = folder / name
    path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    return path


def refused(path: Path) -> list[str]:
    """The problems of `path` (it must be refused), each as printed by check-config."""
    with pytest.raises(ConfigError) as info:
        bounded(lambda: load_config(path))
    return [str(problem) for problem in info.value.problems]


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_config_is_one_located_problem_not_a_traceback(tmp_path: Path, case: str) -> None:
    body, fragment, key = CASES[case]
    path = write(tmp_path, body)
    started = time.monotonic()
    problems = refused(path)
    assert time.monotonic() - started < LOAD_DEADLINE_S
    matching = [p for p in problems if fragment in p and f": {key}: " in p]
    assert len(matching) == 1, problems  # reported, and once
    assert matching[0].startswith(f"{path}:"), matching  # file:line: key: message
    assert len(problems) == len(set(problems)), problems
    assert all(p.startswith(str(path)) for p in problems), problems


def test_an_included_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "catalog.yaml")  # opening it to read would wait for a writer
    problems = refused(write(tmp_path, "include: ['catalog.yaml']\n"))
    assert problems == [
        f"{tmp_path / 'watchdog.yaml'}:1: include[0]: {tmp_path / 'catalog.yaml'}: "
        "not a regular file"
    ]


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.yaml"
    with path.open("wb") as handle:  # sparse: the test writes no 4 MiB
        handle.truncate(MAX_BYTES + 1)
    assert refused(path) == [f"{path}: (file): larger than {MAX_BYTES} bytes ({MAX_BYTES + 1})"]


def test_included_files_are_bounded_in_all(tmp_path: Path) -> None:
    for name in "abc":  # each under the cap of one file, together over the cap of all
        write(tmp_path, "#" + "x" * (MAX_BYTES - 10) + "\n", f"{name}.yaml")
    path = write(tmp_path, "include: ['a.yaml', 'b.yaml', 'c.yaml']\n")
    assert refused(path) == [
        f"{path}:1: include[2]: more than {MAX_INCLUDED_FILES} included files, or more than "
        f"{MAX_INCLUDED_BYTES} bytes in all"
    ]


def test_a_bad_value_outside_targets_costs_only_that_setting(tmp_path: Path) -> None:
    # Issue 13: one bad value replaced the whole `watchdog:` section by its defaults, adding
    # « not in allowed_hosts » and « under min_interval » errors for every target.
    targets = "".join(
        TARGET.replace("ain-premiere-demande", f"local-{i}")
        .replace("https://www.ain.gouv.fr", f"http://127.0.0.1:{8000 + i}")
        .replace("15m", "20s")
        for i in range(6)
    )
    body = (
        "watchdog:\n  allowed_hosts: ['127.0.0.1']\n  min_interval: 10s\n  vantage: [1]\n"
        "politeness: {jitter: 3}\ntargets:\n" + targets
    )
    path = write(tmp_path, body)
    assert refused(path) == [
        f"{path}:4: watchdog.vantage: Input should be a valid string",
        f"{path}:5: politeness.jitter: Input should be less than or equal to 0.5",
    ]


def test_no_check_leans_on_a_setting_that_failed(tmp_path: Path) -> None:
    body = "watchdog: {allowed_hosts: 5, min_interval: often}\nprobing: {engine: fast}\n"
    local = TARGET.replace("https://www.ain.gouv.fr", "http://127.0.0.1:8000")
    path = write(tmp_path, body + "targets:\n" + local.replace("15m", "1s"))
    problems = refused(path)
    assert [p.split(": ")[1] for p in problems] == [
        "watchdog.allowed_hosts",
        "watchdog.min_interval",
        "probing.engine",
    ], problems


HOSTILE_CLI = ("billion_laughs", "non_utf8", "include_dev_zero", "bad_steps_regex", "alias_cycle")


@pytest.mark.parametrize("case", HOSTILE_CLI)
def test_check_config_on_hostile_files_exits_2_without_traceback(tmp_path: Path, case: str) -> None:
    body, fragment, _ = CASES[case]
    path = write(tmp_path, body)
    proc = subprocess.run(
        [sys.executable, "-m", "watchdog.cli.main", "check-config", "--config", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1].endswith("configuration problem(s)")
    assert any(line.startswith(f"error: {path}:") and fragment in line for line in lines), lines
