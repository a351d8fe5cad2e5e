"""Vantage points (issue 17): « our network » versus « the site ».

A vantage is the network a probe leaves from (`watchdog.vantage`, with its own
`watchdog.proxy`). Each vantage checks a known-good page of its own, the canary
(`watchdog.canary.url`); a canary check is never an observation of any target and counts in
no rate. A failure to reach a site (`site_error`, `timeout`, `network_error`) is attributed
to our network, recorded as `probe_error` and so kept out of every rate (rule 3), when:

- `vantage_network`: this vantage's last canary check failed (its network is broken), or
- `vantage_only`: another vantage reached the site within one interval of the target before
  this probe started (the site was up; only this vantage could not reach it).

The site's own answer is kept in the observation's message, and the tag `vantage_failure`
marks it. The incident engine reads the vantages together (`agree`): `site_down` opens only
when every vantage that saw the target lately saw it down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watchdog.domain.models import Observation, Outcome

VANTAGE_NETWORK = "vantage_network"  # detail: this vantage's canary failed
VANTAGE_ONLY = "vantage_only"  # detail: another vantage saw the site up meanwhile
VANTAGE_TAG = "vantage_failure"  # tag of an observation attributed to our network
# The outcomes that say « the site could not be reached or served nothing » (not `blocked`,
# aimed at us but an answer of the site; not `maintenance`, announced by the site).
UNREACHED = frozenset({Outcome.SITE_ERROR, Outcome.TIMEOUT, Outcome.NETWORK_ERROR})


@dataclass(frozen=True)
class CanaryCheck:
    """One check of a vantage's known-good page: did our network work at `at`?"""

    vantage: str
    at: datetime
    ok: bool
    url: str
    duration_s: float
    status: int | None = None  # HTTP status, None when no answer came
    detail: str = ""  # why it failed (one line), empty when ok


def canary_failed(check: CanaryCheck | None, at: datetime, stale_after: timedelta) -> bool:
    """True when the vantage's last canary check, recent enough at `at`, failed."""
    return check is not None and not check.ok and at - check.at <= stale_after


def attribute(
    obs: Observation,
    canary: CanaryCheck | None,
    stale_after: timedelta,
    others: Iterable[Observation],
    interval: timedelta,
) -> Observation:
    """`obs`, or `obs` turned into `probe_error` when its failure is our network's.

    `others` are recent observations of the same target (any vantage, any order). When the
    newest that another vantage made at most `interval` before `obs` (of those that say
    something of the site) found it up, the failure is this vantage's own.
    """
    if obs.outcome not in UNREACHED:
        return obs
    said = f"{obs.outcome.value}/{obs.detail}"
    if canary_failed(canary, obs.started_at, stale_after):
        assert canary is not None
        why = canary.detail or f"HTTP {canary.status}"
        return _ours(obs, VANTAGE_NETWORK, (
            f"our network: the canary of vantage {obs.vantage} ({canary.url}) failed at "
            f"{canary.at.isoformat()} ({why}); the site's answer ({said}) says nothing of "
            "the site"
        ))  # fmt: skip
    newest: dict[str, Observation] = {}  # each other vantage's view just before this probe
    for o in others:
        if o.vantage == obs.vantage or o.outcome.site_up is None:
            continue  # this vantage's own view, or one that says nothing of the site
        before = obs.started_at - o.started_at
        newer = o.vantage not in newest or o.started_at > newest[o.vantage].started_at
        if timedelta(0) <= before <= interval and newer:
            newest[o.vantage] = o
    seen_up = [o for o in newest.values() if o.outcome.site_up]
    if seen_up:
        up = max(seen_up, key=lambda o: o.started_at)
        return _ours(obs, VANTAGE_ONLY, (
            f"our network: vantage {up.vantage} reached the site at {up.started_at.isoformat()} "
            f"({up.outcome.value}) while vantage {obs.vantage} could not ({said})"
        ))  # fmt: skip
    return obs


def _ours(obs: Observation, detail: str, why: str) -> Observation:
    message = f"{why}: {obs.message}" if obs.message else why
    tags = [*obs.tags, VANTAGE_TAG] if VANTAGE_TAG not in obs.tags else obs.tags
    return obs.model_copy(
        update={"outcome": Outcome.PROBE_ERROR, "detail": detail, "message": message, "tags": tags}
    )


def proxy_label(proxy: str | None) -> str:
    """The proxy as an observation records it: its address without any user:password@."""
    if not proxy:
        return "none"
    scheme, _, rest = proxy.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def wanted_here(vantages: list[str], vantage: str) -> bool:
    """Whether a target asking for `vantages` (empty: any one) is probed from `vantage`."""
    return not vantages or vantage in vantages
