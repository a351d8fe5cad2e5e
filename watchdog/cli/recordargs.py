"""Arguments shared by the verbs that read the record: periods, outcomes, selectors."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from watchdog.config.loader import Config
from watchdog.domain.clock import PARIS
from watchdog.domain.models import Outcome
from watchdog.store.record import Selection, department_targets


def instant(text: str) -> datetime:
    """--from/--to: a Paris day (YYYY-MM-DD, its midnight) or an ISO 8601 instant with offset."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=PARIS)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date (YYYY-MM-DD) nor an instant (2026-11-23T09:00+01:00)"
        ) from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset (add Z or +01:00)")
    return value


def until(text: str) -> datetime:
    """--to: through a Paris day (the next midnight, excluded), or up to an instant."""
    end = instant(text)
    if len(text) == len("YYYY-MM-DD"):
        day = end.date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=PARIS)
    return end


def outcomes(text: str) -> list[Outcome]:
    """--outcome: one or more outcomes, comma-separated."""
    try:
        return [Outcome(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        known = ", ".join(o.value for o in Outcome)
        raise argparse.ArgumentTypeError(f"{text!r}: use outcomes among {known}") from exc


def _listed(values: Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated values, flattened."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def selection(args: argparse.Namespace, config: Config) -> Selection:
    targets = _listed(args.target) or None
    departments = _listed(args.department)
    if departments:
        in_departments = department_targets(config.targets, departments)
        targets = [t for t in targets if t in in_departments] if targets else in_departments
    chosen = tuple(o for group in args.outcome or () for o in group)
    return Selection(None if targets is None else tuple(targets), chosen, args.first, args.last)
