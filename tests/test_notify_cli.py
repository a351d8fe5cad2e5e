"""The notifications config section (defaults, file:line:key errors) and the CLI verbs
`watchdog incidents [--json]` and `watchdog notify test ROUTE`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from notifyfix import TOKEN, HttpReceiver, observe, paris, receivers, target

from watchdog.cli.main import main
from watchdog.config.loader import Config, load_config
from watchdog.domain.errors import ConfigError
from watchdog.domain.incidents import IncidentKind
from watchdog.domain.models import Outcome
from watchdog.notify.service import Notifications
from watchdog.store import Store

AIN = "ain-premiere-demande"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


def write(folder: Path, notifications: dict[str, Any]) -> Path:
    path = folder / "watchdog.yaml"
    document = {
        "watchdog": {"data_dir": str(folder / "data")},
        "notifications": notifications,
        "targets": [target()],
    }
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_defaults_are_documented_values() -> None:
    settings = Config().notifications
    t = settings.thresholds
    assert (settings.enabled, settings.language, settings.routes) == (True, "fr", [])
    assert (t.site_down.open_after, t.site_down.resolve_after) == (3, 2)
    assert (t.captcha_wall.open_after, t.page_closed.open_after, t.blocked.open_after) == (3, 2, 2)
    assert (t.high_no_slot_rate.rate, t.high_no_slot_rate.days) == (0.9, 3)
    assert (t.high_failure_rate.rate, t.high_failure_rate.min_attempts) == (0.95, 8)
    assert (settings.digest.weekday, settings.digest.time) == (0, "08:00")
    assert settings.delivery.attempts == 5


def test_route_defaults_follow_the_audience(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"routes": [
        {"id": "oncall", "audience": "sre", "urls": ["json://127.0.0.1/x"]},
        {"id": "asso", "audience": "investigator", "urls": ["json://127.0.0.1/y"]},
    ]}))  # fmt: skip
    oncall, asso = config.notifications.routes
    assert oncall.wanted_kinds == {IncidentKind.SITE_DOWN} and oncall.reminder is not None
    assert IncidentKind.SITE_DOWN not in asso.wanted_kinds and asso.reminder is None
    assert (oncall.wants_digest, asso.wants_digest) == (False, True)


def test_bad_routes_are_reported_with_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, {"routes": [
        {"id": "oncall", "audience": "sre", "urls": [f"nosuch://{TOKEN}@example.org/{TOKEN}"]},
        {"id": "Bad Id", "audience": "nobody", "urls": ["json://127.0.0.1/x"], "colour": "red"},
        {"id": "quiet", "audience": "sre", "urls": ["json://127.0.0.1/x"],
         "quiet_hours": "25:00-07:00"},
    ]})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    lines = path.read_text("utf-8").splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if fragment in line)

    assert f"{path}:{line_of('nosuch://')}: notifications.routes[0].urls[0]: " in text
    assert "not a URL the installed Apprise can use (scheme 'nosuch')" in text
    assert f"{path}:{line_of('Bad Id')}: notifications.routes[1].id: " in text
    assert f"{path}:{line_of('nobody')}: notifications.routes[1].audience: " in text
    assert f"{path}:{line_of('colour')}: notifications.routes[1].colour: unknown key" in text
    assert "notifications.routes[2].quiet_hours: Value error, '25:00' is not a time" in text
    assert TOKEN not in text


def test_incidents_verb_lists_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {})
    config = load_config(path)
    with Store.open(config.watchdog.data_dir) as store:
        service = Notifications(config, store)
        for step in range(3):
            obs = observe(store, AIN, paris(2025, 3, 3, 9, step), Outcome.TIMEOUT)
            service.engine.evaluate(obs, config.targets[0])
    assert main(["incidents", "--config", str(path), "--all"]) == 0
    table = capsys.readouterr().out
    assert "site_down" in table and AIN in table and "open" in table
    assert main(["incidents", "--config", str(path), "--json"]) == 0
    [incident] = json.loads(capsys.readouterr().out)
    assert (incident["kind"], incident["target"], incident["status"]) == ("site_down", AIN, "open")
    assert incident["facts"]["count"] == 3 and incident["facts"]["outcomes"] == {"timeout": 3}
    assert incident["notifications"] == [], "no route configured"


def test_notify_test_sends_through_the_route(
    tmp_path: Path, http: HttpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {"routes": [
        {"id": "oncall", "audience": "sre", "urls": [http.url()]},
        {"id": "dead", "audience": "sre", "urls": [http.url("json", "/x").replace(
            str(http.port), "1")]},
    ]})  # fmt: skip
    assert main(["notify", "test", "oncall", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"test message sent through route oncall (json://127.0.0.1:{http.port}/…)"
    [got] = http.received
    assert got.json["title"] == "Test de notification — prefecture-watchdog"
    assert "Ceci est un message de test de la route oncall\u00a0:" in got.json["message"]
    assert main(["notify", "test", "dead", "--config", str(path)]) == 1
    assert "route dead (json://127.0.0.1:1/…): the service did not accept" in (
        capsys.readouterr().err
    )
    assert main(["notify", "test", "nope", "--config", str(path)]) == 1
    assert "unknown route 'nope' (routes: oncall, dead)" in capsys.readouterr().err
