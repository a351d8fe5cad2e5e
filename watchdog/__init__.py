"""prefecture-watchdog: an observe-only watchdog for French prefecture appointment sites."""

__version__ = "0.1.0"
