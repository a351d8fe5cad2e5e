"""The monitoring stack for real, on loopback: `watchdog simulate`, `watchdog run` and
Debian's `prometheus` as subprocesses, Prometheus configured from config/prometheus/ with
a 1 s scrape and evaluation interval and a temporary TSDB; and a small HTTPS server with a
self-signed certificate (one more target, whose certificate expiry the watchdog exports).
Used by test_stack_live.py and scripts/render_panels.py. Every wait polls against a deadline.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from polling import wait_until

from watchdog.cli.demo import write_demo_config
from watchdog.simulator.app import entry_path
from watchdog.simulator.scenario import load_scenario
from watchdog.simulator.testing import SCENARIO_DIR

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
PROM_CONFIG = REPO / "config" / "prometheus"
# (scenario key in all.yaml, target id, département, prefecture, procedure): one outcome each.
TARGETS = [
    ("legacy-no-slot", "ain-no-slot", "01", "Ain", "premiere_demande"),
    ("legacy-slots", "ain-slots", "01", "Ain", "renouvellement"),
    ("legacy-http-502", "bobigny-502", "93", "Seine-Saint-Denis", "premiere_demande"),
    ("legacy-blocked", "paris-blocked", "75", "Paris", "premiere_demande"),
    ("rdv-no-slot", "versailles-captcha", "78", "Yvelines", "renouvellement"),
    ("eapp-no-slot", "creteil-no-slot", "94", "Val-de-Marne", "remise_titre"),
]


TLS_TARGET = ("tls-self-signed", "75", "Paris", "other")  # id, département, prefecture, procedure


class StackError(RuntimeError):
    pass


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>Portail</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def self_signed(folder: Path, days: int = 30) -> tuple[Path, Path]:
    cert, key = folder / "tls-cert.pem", folder / "tls-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextmanager
def tls_server(folder: Path) -> Iterator[int]:
    """An HTTPS server on loopback (self-signed: browsers refuse it, the certificate is read
    all the same); yields its port."""
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """`polling.wait_until`, failing as a StackError (the stack did not come up)."""
    try:
        return wait_until(check, timeout, what, every)
    except AssertionError as exc:
        raise StackError(str(exc)) from exc


def http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return None


@dataclass
class Stack:
    folder: Path
    simulator: int
    watchdog: int
    prometheus: int

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus}"

    def api(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def query(self, expr: str, *, instant: bool, span: float = 120.0) -> list[dict[str, Any]]:
        """The result of `expr` (instant at now, or over the last `span` seconds)."""
        now = time.time()
        if instant:
            answer = self.api("query", query=expr, time=f"{now:.3f}")
        else:
            answer = self.api("query_range", query=expr, start=f"{now - span:.3f}",
                              end=f"{now:.3f}", step="2")  # fmt: skip
        if answer.get("status") != "success":
            raise StackError(f"{expr}: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def metrics(self) -> bytes:
        body = http_get(f"http://127.0.0.1:{self.watchdog}/metrics")
        if body is None:
            raise StackError("the watchdog's /metrics does not answer")
        return body


def watchdog_config(
    folder: Path, sim_port: int, port: int, interval: str, tls_port: int | None = None
) -> Path:
    scenario = load_scenario(SCENARIO_DIR / "all.yaml")
    base = f"http://127.0.0.1:{sim_port}"
    targets = [
        {"id": tid, "department": dep, "prefecture": pref, "procedure": proc,
         "label": f"Démarche de démonstration {tid}",
         "platform": scenario.by_key(key).platform,
         "url": base + entry_path(scenario.by_key(key)), "interval": interval,
         "options": {"postal_code": "94000", "motives": ["20"]} if key.startswith("eapp") else {}}
        for key, tid, dep, pref, proc in TARGETS
    ]  # fmt: skip
    # The prefecture dashboard's substitute channel panel needs a check: one of our own
    # prefecture information test pages (watchdog/simulator/prefecture_info.py).
    targets[0]["substitute_pages"] = [f"{base}/prefecture-info/all"]
    if tls_port is not None:
        tid, dep, pref, proc = TLS_TARGET
        targets.append({"id": tid, "department": dep, "prefecture": pref, "procedure": proc,
                        "label": "Portail en HTTPS (certificat auto-signé)", "platform": "anef",
                        "url": f"https://127.0.0.1:{tls_port}/particuliers/",
                        "interval": interval})  # fmt: skip
    body = {
        "watchdog": {"data_dir": str(folder / "data"), "allowed_hosts": ["127.0.0.1"],
                     "min_interval": "1s", "simulated": True,
                     "canary": {"url": f"{base}/__sim/canary", "every": "5s", "timeout": "2s"}},
        "browser": {"probe_timeout": "30s", "max_contexts": 2},
        "politeness": {"per_host": {"requests_per_minute": 600, "concurrent": 2}},
        "listen": {"port": port},
        "targets": targets,
    }  # fmt: skip
    path = folder / "watchdog.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def prometheus_config(folder: Path, watchdog_port: int, prom_port: int) -> Path:
    """config/prometheus/prometheus.yml, pointed at this run, scraping every second."""
    config = yaml.safe_load((PROM_CONFIG / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROM_CONFIG / "rules" / "*.yml")]
    config.pop("alerting", None)
    targets = folder / "targets.yml"
    targets.write_text(yaml.safe_dump([{"targets": [f"127.0.0.1:{watchdog_port}"],
                                        "labels": {"worker": "test"}}]))  # fmt: skip
    for job in config["scrape_configs"]:
        if "file_sd_configs" in job:
            job["file_sd_configs"] = [{"files": [str(targets)], "refresh_interval": "1s"}]
        else:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


AUDITED = "ain-no-slot"  # the target audited and checked before the daemon starts


def side_checks(config: Path, folder: Path, target_id: str) -> None:
    """`watchdog audit` and `watchdog substitute` of one target, stored before `watchdog run`
    starts (it reads their last results for the accessibility and substitute gauges)."""
    for verb in ("audit", "substitute"):
        with (folder / f"{verb}.log").open("ab") as out:
            done = subprocess.run([WATCHDOG, verb, target_id, "--config", str(config)],
                                  stdout=out, stderr=subprocess.STDOUT, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise StackError(f"watchdog {verb} {target_id} exited with {done.returncode}")


@contextmanager
def running_stack(folder: Path, interval: str = "5s", demo: bool = False) -> Iterator[Stack]:
    """Simulator, watchdog and Prometheus up and answering (not yet holding data). `demo`:
    the bundled demo scenario and catalog (watchdog demo's) instead of TARGETS on all.yaml."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise StackError("prometheus is missing (Debian package prometheus): run `make setup`")
    stack = Stack(folder, free_port(), free_port(), free_port())
    scenario = str(SCENARIO_DIR / ("demo.yaml" if demo else "all.yaml"))
    with ExitStack() as stop:
        stop.enter_context(process(
            [WATCHDOG, "simulate", "--scenario", scenario, "--port", str(stack.simulator)],
            folder / "simulator.log"))  # fmt: skip
        poll(lambda: http_get(f"http://127.0.0.1:{stack.simulator}/__sim/health"), 30,
             "the simulator")  # fmt: skip
        base = f"http://127.0.0.1:{stack.simulator}"
        tls_port = None if demo else stop.enter_context(tls_server(folder))
        config = (
            write_demo_config(folder / "data", base, stack.watchdog)
            if demo
            else watchdog_config(folder, stack.simulator, stack.watchdog, interval, tls_port)
        )
        if not demo:  # the last audit and substitute check, which `watchdog run` reads at start
            side_checks(config, folder, AUDITED)
        stop.enter_context(process([WATCHDOG, "run", "--config", str(config)],
                                   folder / "watchdog.log"))  # fmt: skip
        poll(lambda: http_get(f"http://127.0.0.1:{stack.watchdog}/healthz"), 30, "/healthz")
        prom_config = prometheus_config(folder, stack.watchdog, stack.prometheus)
        stop.enter_context(process(
            [prometheus, f"--config.file={prom_config}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{stack.prometheus}", "--log.level=warn"],
            folder / "prometheus.log"))  # fmt: skip
        poll(lambda: http_get(f"{stack.prometheus_url}/-/ready"), 30, "Prometheus /-/ready")
        yield stack
