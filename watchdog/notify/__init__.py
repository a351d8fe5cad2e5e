"""Incidents and notifications through Apprise (issue 5).

Kept import-light: the configuration schema imports `watchdog.config.notifications`.
"""
