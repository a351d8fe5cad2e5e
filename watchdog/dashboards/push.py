"""`watchdog dashboards push`: upload the dashboards, the TestData source of the map, and
incidents as annotations, through Grafana's HTTP API (grafana-client).

grafana-client is an optional dependency (extra `grafana`): its HTTP stack, niquests on
urllib3-future, replaces the installed urllib3 when installed the default way, so it is
imported only here, and scripts/setup.sh installs it with URLLIB3_NO_OVERRIDE=1.
Pushing twice changes nothing more: dashboards are overwritten by uid, the data source is
created only when missing, and an incident already annotated (tag `incident:<id>`) is
skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watchdog.dashboards.common import TESTDATA_UID
from watchdog.domain.errors import WatchdogError

INCIDENT_TAG = "watchdog-incident"
TESTDATA_SOURCE = {
    "name": "Départements (watchdog)",
    "type": "grafana-testdata-datasource",
    "uid": TESTDATA_UID,
    "access": "proxy",
}


@dataclass(frozen=True)
class Annotation:
    """One incident as a Grafana region annotation (times in ms since the epoch)."""

    key: str
    start_ms: int
    end_ms: int | None
    text: str
    tags: tuple[str, ...]


@dataclass
class PushReport:
    dashboards: list[str] = field(default_factory=list)  # URLs Grafana answered
    datasource_created: bool = False
    annotations_added: int = 0
    annotations_skipped: int = 0


def incident_annotations(incidents: Iterable[dict[str, Any]]) -> list[Annotation]:
    """Annotations from `watchdog incidents --json` records (id, kind, target, department,
    opened_at, resolved_at)."""
    found = []
    for item in incidents:
        try:
            start = _ms(item["opened_at"])
            end = _ms(item["resolved_at"]) if item.get("resolved_at") else None
            key, kind, target = str(item["id"]), str(item["kind"]), str(item["target"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WatchdogError(f"incident record without a valid {exc}: {item!r}") from exc
        department = str(item.get("department", ""))
        tags = (INCIDENT_TAG, f"incident:{key}", kind, target, f"departement:{department}")
        found.append(Annotation(key, start, end, f"{kind} — {target}", tags))
    return found


def _ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def push(
    url: str,
    token: str | None,
    dashboards: Sequence[dict[str, Any]],
    annotations: Sequence[Annotation] = (),
    folder_uid: str | None = None,
) -> PushReport:
    """Upload everything to the Grafana at `url`; raise WatchdogError on any refusal."""
    try:
        from grafana_client.api import GrafanaApi
        from grafana_client.client import GrafanaException
    except ImportError as exc:
        raise WatchdogError(
            "`watchdog dashboards push` needs grafana-client: pip install "
            "'prefecture-watchdog[grafana]' (see README, Monitoring stack, about urllib3)"
        ) from exc
    api: Any = GrafanaApi.from_url(url, credential=token, timeout=30.0)
    report = PushReport()
    try:
        report.datasource_created = _ensure_testdata(api)
        for model in dashboards:
            report.dashboards.append(_upload(api, model, folder_uid))
        for note in annotations:
            _annotate(api, note, report)
    except GrafanaException as exc:
        raise WatchdogError(f"Grafana at {url} refused: {exc}") from exc
    except OSError as exc:
        raise WatchdogError(f"cannot reach Grafana at {url}: {exc}") from exc
    return report


def _ensure_testdata(api: Any) -> bool:
    from grafana_client.client import GrafanaClientError

    try:
        api.datasource.get_datasource_by_uid(TESTDATA_UID)
        return False
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
    api.datasource.create_datasource(dict(TESTDATA_SOURCE))
    return True


def _upload(api: Any, model: dict[str, Any], folder_uid: str | None) -> str:
    payload: dict[str, Any] = {
        "dashboard": {**model, "id": None},
        "overwrite": True,
        "message": "watchdog dashboards push",
    }
    if folder_uid:
        payload["folderUid"] = folder_uid
    answer = api.dashboard.update_dashboard(payload)
    return str(answer.get("url") or answer.get("uid") or model["uid"])


def _annotate(api: Any, note: Annotation, report: PushReport) -> None:
    if api.annotations.find_annotations(tags=[f"incident:{note.key}"], limit=1):
        report.annotations_skipped += 1
        return
    api.annotations.add_annotation(
        time_from=note.start_ms, time_to=note.end_ms, tags=list(note.tags), text=note.text
    )
    report.annotations_added += 1


def read_incidents(text: str) -> list[dict[str, Any]]:
    """A JSON list of incident records (or one object per line)."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise WatchdogError(f"incidents: not JSON ({exc})") from exc
    records = data if isinstance(data, list) else [data]
    return [r for r in records if isinstance(r, dict)]
