"""`watchdog simulate` in a process of its own, for tests that drive `watchdog run` or other
subprocesses against it: one way to start it, wait for its health page and stop it."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from notifyfix import free_port
from polling import wait_until

REPO = Path(__file__).resolve().parents[1]
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sim/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextmanager
def simulator_process(folder: Path, scenario: dict[str, Any]) -> Iterator[int]:
    """The simulator of `scenario` on a free loopback port (yielded) once it answers; its log
    in `folder`/simulator.log; stopped on leaving."""
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    port = free_port()
    with (folder / "simulator.log").open("wb") as out:
        proc = subprocess.Popen(
            [WATCHDOG, "simulate", "--scenario", str(path), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: _healthy(port), 20, "the simulator")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
