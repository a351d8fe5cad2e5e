"""Accessibility audits of the booking journeys (issue 18): axe-core, shipped in a pinned
registry package and loaded offline, run on every step page a probe visits; its rules mapped
to RGAA 4.1 criteria by the table watchdog/data/a11y-rgaa.yaml."""
