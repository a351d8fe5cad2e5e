"""Logging an export in the access log (watchdog/store/access.py), for the verbs that export."""

from __future__ import annotations

import sys

from watchdog.config.loader import Config
from watchdog.store import access


def log_access(config: Config, entry: access.Access) -> None:
    """Append `entry`, silently; a log that cannot be written is said on stderr (the export
    stands: it is written already)."""
    try:
        access.record(config.watchdog.data_dir, entry)
    except access.AccessLogError as exc:
        print(f"warning: this {entry.action} is not in the access log: {exc}", file=sys.stderr)
