"""The platform plugins: one module per booking platform, listed once below (docs/architecture.md).

A platform is its module here (its `SPEC`: name, labels, whether it books, options, journey,
classifier, engines), its simulator routes and its tests; the core knows platforms only
through `REGISTRY`.
"""

from __future__ import annotations

from pydantic import BaseModel

from probes import anef, eappointment, legacy_booking, rdv_prefecture, steps
from watchdog.domain.target import Target
from watchdog.probe.session import PlatformSpec

REGISTRY: dict[str, PlatformSpec] = {
    spec.name: spec
    for spec in (legacy_booking.SPEC, rdv_prefecture.SPEC, eappointment.SPEC, anef.SPEC, steps.SPEC)
}


def options_of(target: Target) -> BaseModel:
    """The target's options, validated against its platform's schema (once, then kept)."""
    if target._parsed_options is None:
        target._parsed_options = REGISTRY[target.platform].options.model_validate(target.options)
    return target._parsed_options
