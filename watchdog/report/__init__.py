"""Evidence reports (issue 6): HTML and PDF in the style of institutional reports.

    paths = build_report(store, targets, since=…, until=…, out_dir=Path("reports"))

`since` and `until` are aware datetimes (until excluded); `select_targets` applies the
CLI's selectors to the catalog.
"""

from watchdog.report.api import (
    DEFAULT_ISSUER,
    ReportOptions,
    build_report,
    build_report_async,
    select_targets,
)

__all__ = [
    "DEFAULT_ISSUER",
    "ReportOptions",
    "build_report",
    "build_report_async",
    "select_targets",
]
