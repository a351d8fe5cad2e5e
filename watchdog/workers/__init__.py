"""The scale-out mode: `watchdog worker` processes sharing one PostgreSQL (procrastinate jobs).

Shared state (per-host budgets and back-off, per-target schedules, probe claims) lives in
PostgreSQL rows (`rows.py`); the dispatcher and the probe task are in `service.py`. The
embedded single process (`watchdog run`, watchdog/daemon/) stays as it is.
"""
