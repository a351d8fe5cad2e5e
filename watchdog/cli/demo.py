"""`watchdog demo`: the whole watchdog on the bundled simulator, with no configuration.

Starts the simulator (scenario `demo.yaml`) on loopback, writes the demo configuration
next to the data it produces, runs `watchdog run` on it for a few minutes at a demo cadence,
then prints what each target showed and where everything is. All of it is simulated.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from probes import REGISTRY
from watchdog.cli.tables import table
from watchdog.cli.verbs import AddConfig, Loader, Subparsers, add_verb
from watchdog.config.loader import Config, load_config
from watchdog.daemon.service import Daemon
from watchdog.domain import rates
from watchdog.domain.errors import WatchdogError
from watchdog.domain.models import Observation, Outcome, Platform
from watchdog.observatory import build_observatory, default_period
from watchdog.report.api import ReportOptions, build_report_async
from watchdog.simulator.app import serve
from watchdog.simulator.scenario import load_scenario
from watchdog.store import Store
from watchdog.store.verify import verify_store

DEFAULT_LISTEN_PORT = 9788
# The last line the demo prints: the workbench on its data (watchdog/workbench/serve.py).
WORKBENCH = "watchdog serve --config {config}  (then open the address it prints)"
BANNER = "SIMULATED DATA — every page below was served by the local simulator, not a real site"


@dataclass(frozen=True)
class DemoResult:
    config: Config
    metrics_url: str
    exit_code: int
    started: datetime
    report: list[Path] = field(default_factory=list)
    observatory: Path | None = None  # the observatory's home page


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_demo_config(data_dir: Path, base_url: str, listen_port: int) -> Path:
    """The demo catalog with the simulator's address, saved beside the demo's data."""
    template = resources.files("watchdog").joinpath("data/demo-catalog.yaml").read_text("utf-8")
    text = (
        template.replace("{base}", base_url)
        .replace("{data_dir}", str(data_dir.resolve()))
        .replace("{listen_port}", str(listen_port))
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def _run(data_dir: Path, minutes: float, listen_port: int) -> DemoResult:
    scenario_file = resources.files("watchdog").joinpath("simulator/scenarios/demo.yaml")
    with resources.as_file(scenario_file) as scenario_path:
        scenario = load_scenario(scenario_path)
    sim, port = await serve(scenario, "127.0.0.1", 0, log_path=data_dir / "simulator-log.jsonl")
    try:
        port_wanted = listen_port if _free(listen_port) else 0
        config = load_config(write_demo_config(data_dir, f"http://127.0.0.1:{port}", port_wanted))
        daemon = Daemon(config)
        print(f"{BANNER}\nsimulator on http://127.0.0.1:{port}/ — probing "
              f"{len(config.targets)} targets for {minutes:g} min…", flush=True)  # fmt: skip
        started = datetime.now(UTC)
        code = await daemon.run(minutes)
        metrics_url = f"http://127.0.0.1:{daemon.port}/metrics"
        report = await _report(config, started)
        observatory = await asyncio.to_thread(_observatory, config)
        return DemoResult(config, metrics_url, code, started, report, observatory)
    finally:
        await sim.cleanup()


async def _report(config: Config, started: datetime) -> list[Path]:
    """The evidence report of what the demo saw (HTML and PDF, watermarked as simulated)."""
    out = config.watchdog.data_dir / "report"
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        try:
            return await build_report_async(
                store, config.targets, since=started - timedelta(minutes=1),
                until=datetime.now(UTC) + timedelta(minutes=1), out_dir=out,
                options=ReportOptions(
                    chromium=config.browser.executable_path, simulated=config.watchdog.simulated
                ),
            )  # fmt: skip
        except WatchdogError as exc:  # the demo's data is shown even when a PDF cannot be made
            print(f"report not produced: {exc}")
            return []


def _observatory(config: Config) -> Path | None:
    """The public observatory of the demo's record (watermarked as simulated)."""
    out = config.watchdog.data_dir / "observatory"
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        period = default_period(store, config.targets, None, None)
        if period is None:
            return None
        build_observatory(store, config.targets, period, out, simulated=config.watchdog.simulated)
    return out / "index.html"


def _rate(platform: Platform, counts: Counter[Outcome]) -> str:
    if not REGISTRY[platform].books:
        return "n/a"  # a portal books nothing: never in the no-slot rate (docs/design.md §2)
    k, n = rates.no_slot_rate(counts)
    return f"{100 * k / n:.0f} %" if n else "-"


def summary(config: Config, observations: dict[str, list[Observation]]) -> str:
    rows = []
    for target in config.targets:
        seen = observations.get(target.id, [])
        counts = Counter(o.outcome for o in seen)
        mix = ", ".join(f"{o.value} {n}" for o, n in counts.most_common()) or "(none yet)"
        last = seen[-1] if seen else None
        rows.append((target.id, target.platform, str(len(seen)),
                     _rate(target.platform, counts), mix, _last(last)))  # fmt: skip
    headers = ("target", "platform", "probes", "no-slot", "outcomes", "last")
    return table(headers, rows)


def _last(obs: Observation | None) -> str:
    if obs is None:
        return "-"
    if obs.outcome is Outcome.AVAILABLE and obs.slots:
        first = f", first {obs.earliest_slot:%d/%m %H:%M}" if obs.earliest_slot else ""
        return f"available: {obs.slots} slot(s){first}"
    text = f"{obs.outcome.value}: {obs.message or obs.detail}"
    return text if len(text) <= 60 else text[:59] + "…"


def report(result: DemoResult) -> str:
    config = result.config
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        observations: dict[str, list[Observation]] = {}
        for obs in store.iter_observations():
            observations.setdefault(obs.target, []).append(obs)
        verified = verify_store(store)
        database = store.url
    total = sum(len(v) for v in observations.values())
    data_dir = config.watchdog.data_dir
    lines = [
        "", BANNER, summary(config, observations), "",
        f"{total} observations, hash chains and evidence: "
        f"{'verified' if verified.ok else 'VERIFICATION FAILED'}",
        f"  database        {database}",
        f"  evidence        {data_dir / 'evidence'} (frames say « DONNÉES SIMULÉES »)",
        f"  configuration   {config.source}",
        f"  simulator log   {data_dir / 'simulator-log.jsonl'}",
        *(f"  report          {path}" for path in result.report),
        *([f"  observatory     {result.observatory} (static site, open it in a browser)"]
          if result.observatory else []),
        f"  metrics         {result.metrics_url} (served while the demo ran)",
        f"next: watchdog status --config {config.source}",
        f"      watchdog verify --config {config.source}",
        f"workbench: {WORKBENCH.format(config=config.source)}",
    ]  # fmt: skip
    return "\n".join(lines)


def main_demo(data_dir: Path, minutes: float, listen_port: int = DEFAULT_LISTEN_PORT) -> int:
    logging.getLogger("watchdog.daemon.service").setLevel(
        logging.INFO
    )  # one line per probe: progress
    result = asyncio.run(_run(data_dir, minutes, listen_port))
    print(report(result))
    return result.exit_code


def register(sub: Subparsers, load: Loader, add_config: AddConfig) -> None:
    def cmd_demo(args: argparse.Namespace) -> int:
        return main_demo(Path(args.data), args.minutes, args.port)

    p = add_verb(sub, "demo")
    p.add_argument("--minutes", type=float, default=3.0, help="how long to probe (default 3)")
    p.add_argument("--data", default="data/demo", help="where the demo keeps its data")
    p.add_argument("--port", type=int, default=9788, help="/metrics port (default 9788)")
    p.set_defaults(handler=cmd_demo)
