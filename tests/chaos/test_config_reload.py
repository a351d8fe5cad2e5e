"""SIGHUP with hostile files, then SIGTERM: a real `watchdog run` subprocess.

Issue 13: a billion-laughs file sent with SIGHUP grew the daemon to 4.5 GB, later reloads never
applied, and SIGTERM no longer stopped it. Here each hostile file is rejected (the daemon keeps
its configuration whole and /healthz says which reload failed and why), a good file sent next
applies, and SIGTERM stops the daemon promptly. No target is configured: no browser starts.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from polling import wait_until

REPO = Path(__file__).resolve().parents[2]
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
STOP_DEADLINE_S = 20


def laughs(levels: int = 9, fanout: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def good_config(folder: Path, port: int, vantage: str) -> str:
    return (
        f"watchdog: {{data_dir: data, vantage: {vantage}}}\n"
        f"listen: {{port: {port}}}\nscheduler: {{grace_period: 1s}}\ntargets: []\n"
    )


class Daemon:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.config = folder / "watchdog.yaml"
        self.config.write_text(good_config(folder, self.port, "first"), encoding="utf-8")
        self.log = folder / "run.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [WATCHDOG, "run", "--config", str(self.config)], stdout=out, stderr=out
            )
        wait_until(self.health, 60, "/healthz")

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                data: dict[str, Any] = json.loads(answer.read())
                return data
        except OSError:
            return None

    def reload_with(self, body: str | bytes) -> dict[str, Any]:
        """Write `body`, send SIGHUP, and return /healthz once that reload is reported."""
        before = (self.health() or {}).get("last_reload")
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.config.write_bytes(data)
        self.proc.send_signal(signal.SIGHUP)

        def reported() -> dict[str, Any] | None:
            health = self.health()
            if health and health["last_reload"] and health["last_reload"] != before:
                return health
            return None

        result: dict[str, Any] = wait_until(reported, 20, "the reload in /healthz")
        return result


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(10)


HOSTILE = {
    "billion_laughs": (laughs(), "once aliases are expanded"),
    "non_utf8": (b"watchdog: {vantage: caf\xe9}\n", "not UTF-8"),
    "python_tag": ("a: !!python/object/apply:os.system ['true']\n", "unsupported YAML tag"),
    "huge_duration": ("watchdog: {min_interval: 1.0e+400}\n", "outside 0"),
    "listen_everywhere": ("listen: {host: 0.0.0.0}\n", "listen.expose"),
}


def test_hostile_reloads_are_rejected_whole_then_a_good_one_applies_and_sigterm_stops(
    daemon: Daemon,
) -> None:
    for case, (body, fragment) in HOSTILE.items():
        started = time.monotonic()
        health = daemon.reload_with(body)
        assert time.monotonic() - started < 20, case
        last = health["last_reload"]
        assert last["ok"] is False and last["file"] == str(daemon.config), (case, last)
        assert any(fragment in p for p in last["problems"]), (case, last)
        assert last["error"].endswith("configuration problem(s)"), (case, last)
        assert health["status"] == "ok" and health["reloads"] == 0, (case, health)
        assert fragment in health["last_reload_error"], (case, health)
    health = daemon.reload_with(good_config(daemon.folder, daemon.port, "second"))
    assert health["last_reload"]["ok"] is True and health["last_reload"]["problems"] == []
    assert health["reloads"] == 1 and health["last_reload_error"] is None
    daemon.reload_with(laughs())  # a bomb again, then SIGTERM at once
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(STOP_DEADLINE_S) == 0
    log = daemon.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log
    assert log.count("reload rejected: ") >= 2 * (len(HOSTILE) + 1)  # each problem, each summary


def test_sigterm_during_a_reload_storm_stops_the_daemon(daemon: Daemon) -> None:
    daemon.config.write_text(laughs(), encoding="utf-8")
    for _ in range(20):
        daemon.proc.send_signal(signal.SIGHUP)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(STOP_DEADLINE_S) == 0
    assert "Traceback" not in daemon.log.read_text(encoding="utf-8", errors="replace")
