"""Apprise URLs carry tokens: run every path that logs or renders with tokens in the URLs
(config errors, check-config, notify test ok and failing, the engine, retries and give-up,
incidents, metrics, the database) and assert the tokens appear nowhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from notifyfix import (
    PASSWORD,
    TOKEN,
    Clock,
    HttpReceiver,
    SmtpReceiver,
    free_port,
    observe,
    paris,
    receivers,
    target,
)
from prometheus_client import CollectorRegistry, generate_latest

from watchdog.cli.main import main
from watchdog.config.loader import load_config
from watchdog.config.secrets import display, fragments
from watchdog.domain.models import Outcome
from watchdog.notify.service import Notifications
from watchdog.store import Store

SECRETS = (TOKEN, PASSWORD, "QuerySecret1234", "Bot5ecretHost77")
AIN = "ain-premiere-demande"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver()
    yield server
    server.close()


def routes(http: HttpReceiver, smtp: SmtpReceiver) -> list[dict[str, Any]]:
    dead = free_port()
    return [
        {"id": "ok", "audience": "sre", "reminder_interval": "1h",
         "urls": [f"json://watch:{PASSWORD}@127.0.0.1:{http.port}/hook/{TOKEN}"
                  f"?token=QuerySecret1234"]},
        {"id": "refused", "audience": "sre",
         "urls": [f"json://127.0.0.1:{dead}/hook/{TOKEN}", f"form://127.0.0.1:{dead}/{TOKEN}"]},
        {"id": "mail-auth", "audience": "sre",  # AUTH against a server without it: fails
         "urls": [f"mailto://watch:{PASSWORD}@127.0.0.1:{smtp.port}?mode=insecure"
                  "&from=w@example.org&to=sre@example.org"]},
        {"id": "telegram", "audience": "investigator",  # a token in the host position
         "urls": ["tgram://123456789:Bot5ecretHost77/987654/"]},
    ]  # fmt: skip


def write(folder: Path, notifications: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "watchdog.yaml"
    document = {
        "watchdog": {"data_dir": str(folder / "data")},
        "notifications": notifications,
        "targets": [target()],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return path


def database_text(store: Store) -> str:
    parts = []
    with store.engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{name}"')).all()
            parts.append(f"{name}: {rows!r}")
    return "\n".join(parts)


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into {where}"


def run_everything(folder: Path, http: HttpReceiver, smtp: SmtpReceiver) -> dict[str, str]:
    """Every path that logs or renders; returns the rendered texts it can capture itself."""
    path = write(
        folder, {"routes": routes(http, smtp), "delivery": {"attempts": 2, "timeout": "2s"}}
    )
    assert main(["check-config", "--config", str(path)]) == 0
    assert main(["notify", "test", "ok", "--config", str(path)]) == 0
    assert main(["notify", "test", "refused", "--config", str(path)]) == 1
    assert main(["notify", "test", "mail-auth", "--config", str(path)]) == 1
    bad = write(
        folder / "bad",
        {
            "routes": [
                {"id": "x", "audience": "sre", "urls": [f"nosuch://{TOKEN}:{PASSWORD}@h/{TOKEN}"]}
            ]
        },
    )
    assert main(["check-config", "--config", str(bad)]) == 2
    config = load_config(path)
    registry = CollectorRegistry()
    texts: dict[str, str] = {}
    with Store.open(config.watchdog.data_dir) as store:
        service = Notifications.for_daemon(config, store, registry)
        service.engine.clock = service.deliverer.clock = clock = Clock(paris(2025, 3, 3, 9))
        for step in range(4):
            obs = observe(store, AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
            service.engine.evaluate(obs, config.targets[0])
        for _ in range(4):  # first attempts, retries, give-ups, a reminder
            asyncio.run(service.engine.tick())
            asyncio.run(service.deliverer.run_once())
            clock.advance(timedelta(minutes=40))
        service.deliverer.close()
        texts["metrics"] = generate_latest(registry).decode()
        failed = {"route": "refused", "result": "failed"}
        assert registry.get_sample_value("watchdog_notifications_total", failed) == 1
        texts["database"] = database_text(store)
    assert main(["incidents", "--config", str(path), "--json"]) == 0
    assert main(["incidents", "--config", str(path)]) == 0
    return texts


def test_tokens_never_appear_in_logs_output_metrics_or_database(
    tmp_path: Path,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("apprise", "urllib3", "watchdog"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts = run_everything(tmp_path, http, smtp)
    out = capsys.readouterr()
    assert len(http.received) >= 2, "the ok route really delivered (test and incident)"
    apprise_records = [r for r in caplog.records if r.name.startswith("apprise")]
    assert apprise_records, "Apprise logged: the filter was exercised"
    assert "***" in caplog.text, "something was redacted"
    assert "given up" in caplog.text
    for where, text in {"logs": caplog.text, "stdout": out.out, "stderr": out.err,
                        **texts}.items():  # fmt: skip
        assert_clean(where, text)
    assert "json://…@127.0.0.1" in out.out


def test_display_and_fragments() -> None:
    assert (
        display(f"json://u:{PASSWORD}@127.0.0.1:8080/hook/{TOKEN}") == "json://…@127.0.0.1:8080/…"
    )
    assert display("tgram://123456789:Bot5ecretHost77/987654/") == "tgram://…/…"
    assert display("mailto://mail.example.org?to=a@example.org") == "mailto://mail.example.org/…"
    found = fragments(f"json://u:{PASSWORD}@h.example.org/hook/{TOKEN}?token=QuerySecret1234")
    assert {PASSWORD, TOKEN, "QuerySecret1234"} <= found
    assert "h.example.org" not in found
