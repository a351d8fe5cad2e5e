"""The domain model, at the bottom of the package: what every layer may import.

Owns the closed vocabularies (outcomes, procedures, platforms, engines), the observation record,
the target, the rates and the outcomes they count (`rates`), durations, the one Europe/Paris
zone and the package's exception hierarchy. Imports nothing from `watchdog` but the package
version; nothing here does I/O.
"""
