"""How long a command takes to start: `watchdog --help` and `check-config` against the
interpreter's own start (`python -c pass`), medians of fresh processes in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "examples" / "watchdog.yaml"


def _median_s(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=REPO, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def startup(repeats: int) -> dict[str, Any]:
    cli = [sys.executable, "-m", "watchdog.cli.main"]
    bare = _median_s([sys.executable, "-c", "pass"], repeats)
    help_s = _median_s([*cli, "--help"], repeats)
    check_s = _median_s([*cli, "check-config", "--config", str(EXAMPLE)], repeats)
    return {
        "python_pass_s": round(bare, 3),
        "help_s": round(help_s, 3),
        "check_config_s": round(check_s, 3),
        "help_over_python": round(help_s / bare, 1),
        "repeats": repeats,
    }


if __name__ == "__main__":
    print(startup(int(sys.argv[1]) if len(sys.argv) > 1 else 11))
