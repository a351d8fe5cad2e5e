"""The CLI's verb table: every verb is registered by the module it names, and `--help`
imports none of them (issue 14: the CLI starts at once)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from watchdog.cli.main import build_parser
from watchdog.cli.verbs import VERBS

HEAVY = ("playwright", "sqlalchemy", "apprise", "aiohttp", "jinja2", "pydantic", "probes")


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_is_registered_by_its_module_with_its_summary(verb: str) -> None:
    parser = build_parser([verb, "--help"])
    sub = next(a for a in parser._actions if a.dest == "command")
    assert verb in sub.choices, f"{VERBS[verb].module} does not register `{verb}`"
    assert sub.choices[verb].description == VERBS[verb].help
    assert _handlers(sub.choices[verb]), f"`{verb}` has no handler"


def _handlers(parser: argparse.ArgumentParser) -> bool:
    """A handler on the verb, or on every action of a verb that has actions (`dashboards build`)."""
    if parser.get_default("handler") is not None:
        return True
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return bool(actions) and all(_handlers(p) for a in actions for p in a.choices.values())


def test_every_verb_module_registers_only_verbs_of_the_table() -> None:
    for module in {v.module for v in VERBS.values()}:
        parser = build_parser(["--help"])  # a fresh parser, then register one module into it
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices.clear()
        importlib.import_module(module).register(sub, lambda a: None, lambda p: None)
        assert set(sub.choices) <= set(VERBS), module
        assert all(VERBS[name].module == module for name in sub.choices), module


@pytest.mark.parametrize("argv", [["--help"], ["check-config", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from watchdog.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = done.stdout.strip().splitlines()[-1].removeprefix("LOADED:")
    if argv == ["--help"]:
        assert loaded == "", f"`watchdog --help` imported {loaded}"
    else:  # the verb's module is imported, but it needs no browser, database or Apprise
        assert not {"playwright", "sqlalchemy", "apprise", "aiohttp"} & set(loaded.split(","))
