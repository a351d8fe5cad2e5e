"""`watchdog dashboards push` through grafana-client against a local aiohttp server that
stands in for Grafana's HTTP API (no Grafana server is installable here): what is sent,
the bearer token, idempotence, refusals. Also: grafana-client left urllib3 alone.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from harness import LoopThread

from watchdog.dashboards import build_all
from watchdog.dashboards.common import TESTDATA_UID
from watchdog.dashboards.push import incident_annotations, push
from watchdog.domain.errors import WatchdogError

REPO = Path(__file__).resolve().parent.parent
WATCHDOG = str(REPO / ".venv" / "bin" / "watchdog")
TOKEN = "glsa_test_token"
INCIDENTS = [
    {"id": "inc-1", "kind": "site_down", "target": "bobigny-502", "department": "93",
     "status": "resolved", "opened_at": "2026-11-23T08:00:00Z",
     "resolved_at": "2026-11-23T09:30:00Z", "facts": {}},
    {"id": "inc-2", "kind": "no_slot_persistent", "target": "ain-no-slot", "department": "01",
     "status": "open", "opened_at": "2026-11-20T07:00:00+00:00", "resolved_at": None},
]  # fmt: skip


@dataclass
class FakeGrafana:
    """The few endpoints the push uses, with Grafana's answers and status codes."""

    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    refuse_dashboards: bool = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.check_token])
        app.router.add_get("/api/datasources/uid/{uid}", self.get_datasource)
        app.router.add_post("/api/datasources", self.add_datasource)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        app.router.add_get("/api/annotations", self.find_annotations)
        app.router.add_post("/api/annotations", self.add_annotation)
        return app

    @web.middleware
    async def check_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.auth.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def get_datasource(self, request: web.Request) -> web.Response:
        found = self.datasources.get(request.match_info["uid"])
        if found is None:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response(found)

    async def add_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.datasources[body["uid"]] = body
        return web.json_response({"message": "Datasource added", "id": 7, "datasource": body})

    async def save_dashboard(self, request: web.Request) -> web.Response:
        if self.refuse_dashboards:
            return web.json_response({"message": "Dashboard title cannot be empty"}, status=400)
        body = await request.json()
        uid = body["dashboard"]["uid"]
        self.dashboards[uid] = body
        return web.json_response({"status": "success", "uid": uid, "url": f"/d/{uid}/x"})

    async def find_annotations(self, request: web.Request) -> web.Response:
        tags = set(request.query.getall("tags", []))
        return web.json_response([a for a in self.annotations if tags <= set(a["tags"])])

    async def add_annotation(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.annotations.append(body)
        return web.json_response({"message": "Annotation added", "id": len(self.annotations)})


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    loop = LoopThread()
    fake = FakeGrafana()

    async def start() -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(fake.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = loop.run(start())
    yield fake, f"http://127.0.0.1:{port}"
    loop.run(runner.cleanup())
    loop.stop()


def test_push_uploads_every_dashboard_the_map_source_and_incidents(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    built = build_all()
    report = push(url, TOKEN, list(built.values()), incident_annotations(INCIDENTS))
    assert sorted(fake.dashboards) == sorted(m["uid"] for m in built.values())
    for model in built.values():
        sent = fake.dashboards[model["uid"]]
        assert sent["overwrite"] is True and sent["dashboard"]["id"] is None
        assert {k: v for k, v in sent["dashboard"].items() if k != "id"} == {
            k: v for k, v in model.items() if k != "id"
        }
    assert fake.datasources[TESTDATA_UID]["type"] == "grafana-testdata-datasource"
    assert report.datasource_created and report.annotations_added == 2
    assert report.dashboards == [f"/d/{m['uid']}/x" for m in built.values()]
    first = next(a for a in fake.annotations if "incident:inc-1" in a["tags"])
    assert first["time"] == 1795420800000 and first["timeEnd"] == 1795426200000
    assert {"watchdog-incident", "site_down", "bobigny-502", "departement:93"} <= set(first["tags"])
    second = next(a for a in fake.annotations if "incident:inc-2" in a["tags"])
    assert second["timeEnd"] is None
    assert set(fake.auth) == {f"Bearer {TOKEN}"}


def test_pushing_twice_adds_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    models = list(build_all().values())
    push(url, TOKEN, models, incident_annotations(INCIDENTS))
    again = push(url, TOKEN, models, incident_annotations(INCIDENTS))
    assert not again.datasource_created
    assert (again.annotations_added, again.annotations_skipped) == (0, 2)
    assert len(fake.annotations) == 2 and len(fake.datasources) == 1


@pytest.mark.parametrize(("token", "refuse", "words"), [
    ("wrong-token", False, "Unauthorized"),
    (TOKEN, True, "Dashboard title cannot be empty"),
])  # fmt: skip
def test_a_refusal_is_one_clear_error(
    grafana: tuple[FakeGrafana, str], token: str, refuse: bool, words: str
) -> None:
    fake, url = grafana
    fake.refuse_dashboards = refuse
    with pytest.raises(WatchdogError, match=words):
        push(url, token, list(build_all().values()))


def test_an_unreachable_grafana_is_one_clear_error() -> None:
    with pytest.raises(WatchdogError, match=re.escape("Grafana at http://127.0.0.1:9")):
        push("http://127.0.0.1:9", TOKEN, list(build_all().values()))


def test_the_cli_pushes_with_incidents_from_a_file(
    grafana: tuple[FakeGrafana, str], tmp_path: Path
) -> None:
    fake, url = grafana
    incidents = tmp_path / "incidents.json"
    incidents.write_text(json.dumps(INCIDENTS), encoding="utf-8")
    result = subprocess.run(
        [WATCHDOG, "dashboards", "push", "--url", url, "--token", TOKEN,
         "--incidents", str(incidents)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "annotations: 2 added, 0 already there" in result.stdout
    assert len(fake.dashboards) == 4
    bad = subprocess.run(
        [WATCHDOG, "dashboards", "push", "--url", url, "--token", "nope"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1 and "Unauthorized" in bad.stderr and "nope" not in bad.stderr


def push_cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAFANA_")}
    return subprocess.run(
        [WATCHDOG, "dashboards", "push", "--url", url, *args],
        capture_output=True, text=True, timeout=120, env={**clean, **env},
    )  # fmt: skip


def test_the_cli_takes_the_token_from_the_environment_or_a_file(
    grafana: tuple[FakeGrafana, str], tmp_path: Path
) -> None:
    """No token on the command line: $GRAFANA_TOKEN, --token-file or $GRAFANA_TOKEN_FILE."""
    fake, url = grafana
    token_file = tmp_path / "grafana-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")  # as Docker secrets end
    for args, env in [((), {"GRAFANA_TOKEN": TOKEN}),
                      (("--token-file", str(token_file)), {}),
                      ((), {"GRAFANA_TOKEN_FILE": str(token_file)})]:  # fmt: skip
        result = push_cli(url, *args, **env)
        assert result.returncode == 0, (args, env, result.stderr)
        assert "warning" not in result.stderr
    # The fake answers 401 to any other token: the right one came through each way.
    refused = push_cli(url, **{"GRAFANA_TOKEN": "glsa_wrong_one"})
    assert refused.returncode == 1 and "Unauthorized" in refused.stderr
    assert "glsa_wrong_one" not in refused.stderr
    # The old way still works, with a warning that it shows the token.
    old = push_cli(url, "--token", TOKEN)
    assert old.returncode == 0 and "--token shows the token" in old.stderr
    assert TOKEN not in old.stderr
    assert len(fake.dashboards) == 4


def test_a_missing_token_file_is_one_clear_error(grafana: tuple[FakeGrafana, str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    _, url = grafana
    missing = tmp_path / "nope"
    result = push_cli(url, "--token-file", str(missing))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: Grafana token: cannot read secret file {missing}: No such file or directory"
    )


def test_grafana_client_left_urllib3_alone() -> None:
    """urllib3-future installed beside urllib3 (URLLIB3_NO_OVERRIDE), not over it."""
    import urllib3

    assert urllib3.__version__ == importlib.metadata.version("urllib3")
    assert importlib.metadata.version("urllib3-future") != urllib3.__version__
