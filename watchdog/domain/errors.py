"""One exception hierarchy for the whole package (docs/design.md §8)."""

from __future__ import annotations

from dataclasses import dataclass


class WatchdogError(Exception):
    """Base of every error raised on purpose by the watchdog."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, located by file, line and key."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}"


class ConfigError(WatchdogError):
    """The configuration is invalid; carries every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigMissing(WatchdogError):
    """No configuration file was given or found (exit code 2, like a bad one)."""


class StoreError(WatchdogError):
    """The observation store cannot be read or written."""


class StoreUnavailable(StoreError):
    """The database cannot be opened or reached (its URL is given with the password masked)."""


class InvalidObservation(StoreError):
    """An observation cannot be sealed as given (e.g. a naive `started_at`)."""


class EvidenceMissing(StoreError):
    """An evidence blob is not in the evidence store."""


class ProbeError(WatchdogError):
    """A probe met a condition it reports as our own fault (outcome `probe_error`).

    `detail` becomes the observation's detail code; `message` is kept as its message.
    """

    detail = "probe_error"

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        if detail is not None:
            self.detail = detail


class SiteFault(WatchdogError):
    """The site answered with something that is not a page to read (outcome `site_error`):
    a redirect loop, a file to download, a page that crashed its renderer, an oversized page.
    """

    detail = "site_fault"

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        if detail is not None:
            self.detail = detail


class HostNotAllowed(ProbeError):
    """A navigation or redirect left `allowed_hosts` and was refused."""

    detail = "host_not_allowed"


class BookingStepRefused(ProbeError):
    """A probe tried to go past the step where availability is visible (rule 1)."""

    detail = "booking_step_refused"


class NeedsBrowser(ProbeError):
    """The request engine met a page that only a renderer can read (a script-built page)."""

    detail = "needs_browser"


class TargetNotFound(WatchdogError):
    """No target with this id in the catalog."""
