"""Assisted sessions (issue 16): browser pages parked at a captcha that a person answers on
the assist desk, after which the watchdog keeps reading the slot page (docs/runbook.md
« Assisted sessions »). Software never answers a captcha: `Desk.submit_person_answer` is the
only code that types an answer, and only the workbench's form calls it."""
