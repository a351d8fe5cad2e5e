"""The simulator's aiohttp application, its admin routes and the entry points for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web

from watchdog.domain.errors import ConfigError
from watchdog.domain.models import Platform
from watchdog.simulator import anef, eappointment, legacy, prefecture_info, rdv
from watchdog.simulator.log import BookingRoute, RequestLog, detect_booking, open_entry
from watchdog.simulator.scenario import Scenario, Target, load_scenario
from watchdog.simulator.state import LOG_ENTRY, SIM_STATE, SimState, system_clock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIX = "/__sim/"


class PlatformModule(Protocol):
    """What each platform module (legacy, rdv, eappointment, anef) provides."""

    @property
    def BOOKING_ROUTES(self) -> Sequence[BookingRoute]: ...  # a module constant

    def entry_path(self, target: Target) -> str: ...

    def add_routes(self, app: web.Application) -> None: ...


PLATFORM_MODULES: dict[Platform, PlatformModule] = {
    "legacy_booking": legacy,
    "rdv_prefecture": rdv,
    "eappointment": eappointment,
    "anef": anef,
}


def entry_path(target: Target) -> str:
    """Path of the page a journey starts from, for `target`."""
    return PLATFORM_MODULES[target.platform].entry_path(target)


def booking_routes() -> list[BookingRoute]:
    return [route for module in PLATFORM_MODULES.values() for route in module.BOOKING_ROUTES]


@web.middleware
async def simulator_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Mark every answer as simulated and log every request with its booking flags."""
    if request.path.startswith(ADMIN_PREFIX):
        response = await handler(request)
        response.headers["X-Simulated"] = "1"
        return response
    state = request.app[SIM_STATE]
    entry, pairs = await open_entry(request, state.now(), state.scenario.operator_token)
    detect_booking(entry, request, pairs, state.booking_routes)
    request[LOG_ENTRY] = entry
    state.log.add(entry)
    try:
        response = await handler(request)
        transport = request.transport
        entry.status = None if transport is None or transport.is_closing() else response.status
        response.headers["X-Simulated"] = "1"
        return response
    except web.HTTPException as exc:
        entry.status = exc.status
        exc.headers["X-Simulated"] = "1"
        raise
    finally:
        state.log.commit(entry)


async def _log(request: web.Request) -> web.Response:
    entries = request.app[SIM_STATE].log.entries
    return web.json_response([e.to_json() for e in entries])


async def _reset(request: web.Request) -> web.Response:
    request.app[SIM_STATE].reset()
    return web.json_response({"reset": True})


async def _health(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    return web.json_response(
        {"status": "ok", "simulated": True, "targets": [t.key for t in state.scenario.targets]}
    )


async def _index(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    rows = "".join(
        f'<li><a href="{entry_path(t)}">{t.key}</a> ({t.platform})</li>'
        for t in state.scenario.targets
    )
    body = f"<!DOCTYPE html><title>Simulator</title><h1>Simulated targets</h1><ul>{rows}</ul>"
    return web.Response(text=body, content_type="text/html")


CANARY_PATH = ADMIN_PREFIX + "canary"


async def _canary(request: web.Request) -> web.Response:
    """A known-good page of our own (not a platform's): a vantage's canary in tests and the
    demo (watchdog.canary.url), which answers whatever the simulated sites do."""
    body = (
        "<!DOCTYPE html><title>Simulator canary</title>"
        "<h1>Page témoin du simulateur (canary) — simulator canary page</h1>"
    )
    return web.Response(text=body, content_type="text/html")


async def _on_shutdown(app: web.Application) -> None:
    app[SIM_STATE].stopping.set()


def build_app(
    scenario: Scenario,
    *,
    clock: Callable[[], datetime] | None = None,
    log_path: str | Path | None = None,
) -> web.Application:
    """The simulator for `scenario`; its state is `app[SIM_STATE]` (log, journeys, counters)."""
    app = web.Application(middlewares=[simulator_middleware])
    app[SIM_STATE] = SimState(
        scenario=scenario,
        clock=clock or system_clock,
        log=RequestLog(log_path),
        booking_routes=booking_routes(),
    )
    for module in PLATFORM_MODULES.values():
        module.add_routes(app)
    prefecture_info.add_routes(app)  # our own test pages (substitute channel check)
    app.router.add_get(ADMIN_PREFIX, _index)
    app.router.add_get(ADMIN_PREFIX + "log", _log)
    app.router.add_post(ADMIN_PREFIX + "reset", _reset)
    app.router.add_get(ADMIN_PREFIX + "health", _health)
    app.router.add_get(CANARY_PATH, _canary)
    app.on_shutdown.append(_on_shutdown)
    return app


async def serve(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Callable[[], datetime] | None = None,
    log_path: str | Path | None = None,
) -> tuple[web.AppRunner, int]:
    """Start the simulator; return its runner (call `cleanup()` to stop) and the bound port."""
    runner = web.AppRunner(
        build_app(scenario, clock=clock, log_path=log_path), shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])


async def run_forever(
    scenario_path: str | Path,
    host: str,
    port: int,
    log_path: str | Path | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve `scenario_path` until SIGINT/SIGTERM (or `stop`); print where each target starts."""
    scenario = load_scenario(scenario_path)
    runner, bound = await serve(scenario, host, port, log_path=log_path)
    runner.app[SIM_STATE].log.echo_flags = True
    base = f"http://{host}:{bound}"
    print(f"Simulator listening on {base}/ ({len(scenario.targets)} targets)", flush=True)
    for target in scenario.targets:
        print(f"  {target.key:<28} {target.platform:<15} {base}{entry_path(target)}")
    print(f"  request log: {base}{ADMIN_PREFIX}log", flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


DEMO_SCENARIO = Path(__file__).with_name("scenarios") / "demo.yaml"


def main_simulate(scenario_path: str | None, host: str, port: int, log_path: str | None) -> int:
    """`watchdog simulate`: exit status 0 after a clean stop, 2 on a bad scenario.

    Without a scenario path, the bundled demo scenario is served.
    """
    scenario_path = scenario_path or str(DEMO_SCENARIO)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: the simulator is listening on {host}, not on loopback", file=sys.stderr)
    try:
        asyncio.run(run_forever(scenario_path, host, port, log_path))
    except ConfigError as exc:
        print(f"invalid scenario:\n{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot serve on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
