"""Faithful local replicas of the booking platforms, driven by a scenario file (docs/design.md §7).

Observe-only by construction: every request is logged, and any request that a real site would
take as a booking attempt is flagged (`app[SIM_STATE].log.flagged`, `GET /__sim/log`).
"""

from watchdog.simulator.app import build_app, entry_path, main_simulate, run_forever, serve
from watchdog.simulator.scenario import Fault, Scenario, State, Target, load_scenario
from watchdog.simulator.state import SIM_STATE, SimState

__all__ = [
    "SIM_STATE",
    "Fault",
    "Scenario",
    "SimState",
    "State",
    "Target",
    "build_app",
    "entry_path",
    "load_scenario",
    "main_simulate",
    "run_forever",
    "serve",
]
