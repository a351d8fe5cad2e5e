"""The public observatory (issue 15 item 4): a static site built from the record."""

from watchdog.observatory.build import BuildResult, build_observatory, default_period

__all__ = ["BuildResult", "build_observatory", "default_period"]
