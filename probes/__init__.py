"""One module per booking platform, listed in one explicit registry (docs/design.md §8)."""

from __future__ import annotations

from pydantic import BaseModel

from probes import anef, eappointment, legacy_booking, rdv_prefecture, steps
from watchdog.domain.models import Platform
from watchdog.domain.target import Target
from watchdog.probe.session import PlatformSpec

REGISTRY: dict[Platform, PlatformSpec] = {
    Platform.LEGACY_BOOKING: legacy_booking.SPEC,
    Platform.RDV_PREFECTURE: rdv_prefecture.SPEC,
    Platform.EAPPOINTMENT: eappointment.SPEC,
    Platform.ANEF: anef.SPEC,
    Platform.STEPS: steps.SPEC,
}


def options_of(target: Target) -> BaseModel:
    """The target's options, validated against its platform's schema (once, then kept)."""
    if target._parsed_options is None:
        target._parsed_options = REGISTRY[target.platform].options.model_validate(target.options)
    return target._parsed_options
