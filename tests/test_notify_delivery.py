"""Delivery through Apprise to real local receivers: json://, form://, mailto:// (aiosmtpd) with
the framed screenshot attached; failing receivers (500, refused, hang) retried with back-off
and given up, while the engine keeps answering at once; the Alertmanager bridge."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from notifyfix import (
    HttpReceiver,
    Rig,
    SmtpReceiver,
    config,
    free_port,
    observe,
    paris,
    receivers,
    rig,
    target,
)
from polling import until

from watchdog.config.loader import load_config
from watchdog.daemon.listener import start_listener
from watchdog.domain.models import Outcome
from watchdog.notify.repo import FAILED, PENDING, SENT, Repo
from watchdog.notify.service import Notifications
from watchdog.store import Store

AIN = "ain-premiere-demande"
NBSP = "\u00a0"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    for _, receiver in receivers():
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver()
    yield server
    server.close()


def open_incident(r: Rig) -> None:
    for step in range(3):
        r.feed(AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR, detail="http_502")


def test_json_and_form_receivers_get_title_body_and_the_capture(
    store: Store, http: HttpReceiver
) -> None:
    routes = [
        {"id": "json-route", "audience": "sre", "urls": [http.url("json", "/j/abc")]},
        {"id": "form-route", "audience": "sre", "urls": [http.url("form", "/f/abc")],
         "language": "en"},
    ]  # fmt: skip
    r = rig(store, config(routes), paris(2025, 3, 3, 9))
    open_incident(r)
    assert r.deliver() == 2
    by_path = {x.path: x for x in http.received}
    sent = by_path["/j/abc"].json
    assert sent["title"].startswith("Site en panne — Ain (01)")
    assert sent["type"] == "failure"
    [attachment] = sent["attachments"]
    framed = Repo(store.engine).incidents()[0].facts["evidence"][0]
    assert base64.b64decode(attachment["base64"]) == store.blobs.get(framed)
    form = by_path["/f/abc"]
    assert form.form["title"].startswith("Site down — Ain (01)")
    assert (
        "site is not working for “Première demande de titre de séjour” since 3\u00a0March 2025"
        in (form.form["message"])
    )
    assert list(form.files.values()) == [store.blobs.get(framed)]
    r.close()


def test_email_carries_the_message_and_the_framed_screenshot(
    store: Store, smtp: SmtpReceiver
) -> None:
    route = {"id": "mail", "audience": "sre", "urls": [smtp.url()]}
    r = rig(store, config([route]), paris(2025, 3, 3, 9))
    open_incident(r)
    assert r.deliver() == 1
    [mail] = smtp.messages
    assert "Site en panne" in str(mail["Subject"]) or "Site_en_panne" in str(mail["Subject"])
    parts = list(mail.walk())
    text = next(p for p in parts if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"3{NBSP}tentatives consécutives" in body
    [image] = [p for p in parts if p.get_content_type() == "image/png"]
    framed = Repo(store.engine).incidents()[0].facts["evidence"][0]
    assert image.get_payload(decode=True) == store.blobs.get(framed)
    assert image.get_filename() == f"capture-{framed[:12]}.png"
    r.close()


def failing_rig(store: Store, url: str, **delivery: Any) -> Rig:
    route = {"id": "flaky", "audience": "sre", "urls": [url]}
    policy = {"attempts": 3, "backoff": "30s", "backoff_cap": "10m", **delivery}
    return rig(store, config([route], delivery=policy), paris(2025, 3, 3, 9))


def retried_then_given_up(r: Rig) -> list[str]:
    """Drive the worker through every attempt; return the row's status after each pass."""
    statuses = []
    repo = Repo(r.store.engine)
    for wait in (0, 29, 1, 59, 1):  # back-off: 30 s after the first failure, then 60 s
        r.clock.advance(timedelta(seconds=wait))
        r.deliver()
        [row] = repo.outbox_rows()
        statuses.append(f"{row.status}/{row.attempts}")
    return statuses


@pytest.mark.parametrize("failure", ["http_500", "refused", "hang"])
def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    store: Store, http: HttpReceiver, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = http.url()
    if failure == "http_500":
        http.mode = "fail"
    elif failure == "hang":
        http.mode = "hang"
    else:
        url = f"json://127.0.0.1:{free_port()}/hook"  # nothing listens there
    r = failing_rig(store, url, timeout="1s")
    open_incident(r)
    assert retried_then_given_up(r) == [
        f"{PENDING}/1", f"{PENDING}/1", f"{PENDING}/2", f"{PENDING}/2", f"{FAILED}/3",
    ]  # fmt: skip
    assert r.counts == [("flaky", "retry"), ("flaky", "retry"), ("flaky", "failed")]
    [gave_up] = [m for m in caplog.messages if "given up" in m]
    assert "flaky" in gave_up and "after 3 attempts" in gave_up
    if failure != "refused":
        assert http.hits == 3
    r.close()


def test_probing_is_not_held_up_by_a_hanging_receiver(store: Store, http: HttpReceiver) -> None:
    http.mode = "hang"
    # The send hangs until its 10 s timeout, then is retried (a second hit): every observation
    # below is taken while the first send still hangs, so none of them waited for it.
    r = failing_rig(store, http.url(), timeout="10s", poll="50ms")
    target = r.config.targets[0]

    async def scenario() -> None:
        r.service.start()
        for step in range(3):
            obs = observe(store, AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
            await r.service.on_observation(obs, target)
        await until(lambda: http.hits, 10, "the worker to try a send (it then hangs in it)")
        for step in range(3, 13):
            obs = observe(store, AIN, paris(2025, 3, 3, 9, step), Outcome.SITE_ERROR)
            await r.service.on_observation(obs, target)
        assert http.hits == 1, "still the one hanging send"
        await r.service.stop()

    asyncio.run(scenario())


def test_sent_rows_are_marked_and_never_sent_again(store: Store, http: HttpReceiver) -> None:
    r = rig(store, config([{"id": "a", "audience": "sre", "urls": [http.url()]}]),
            paris(2025, 3, 3, 9))  # fmt: skip
    open_incident(r)
    r.deliver()
    r.clock.advance(timedelta(hours=1))
    r.deliver()
    assert [row.status for row in Repo(store.engine).outbox_rows()] == [SENT]
    assert len(http.received) == 1
    r.close()


WEBHOOK = {
    "version": "4",
    "status": "firing",
    "groupKey": '{}:{alertname="WatchdogSiteDown"}',
    "commonLabels": {"alertname": "WatchdogSiteDown"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "WatchdogSiteDown", "target": "ain-premiere-demande"},
            "annotations": {"summary": "Le site ne répond plus depuis 10 minutes"},
            "startsAt": "2025-03-03T08:00:00Z",
        }
    ],
}


def post(url: str, payload: Any, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_alertmanager_webhooks_go_out_through_the_sre_routes(
    store: Store, http: HttpReceiver
) -> None:
    routes = [
        {"id": "oncall", "audience": "sre", "urls": [http.url("json", "/sre")]},
        {"id": "asso", "audience": "investigator", "urls": [http.url("json", "/asso")]},
    ]
    cfg = config(routes, alertmanager={"enabled": True, "bearer_token": "am-shared-secret"})
    r = rig(store, cfg, paris(2025, 3, 3, 9, 5))

    async def scenario() -> list[tuple[int, Any]]:
        service: Notifications = r.service
        runner, port = await start_listener("127.0.0.1", 0, dict, bytes, service.add_routes)
        base = f"http://127.0.0.1:{port}/alertmanager"
        try:
            answers = [
                await asyncio.to_thread(post, base, WEBHOOK),
                await asyncio.to_thread(post, base, {"alerts": "nope"}, "am-shared-secret"),
                await asyncio.to_thread(post, base, WEBHOOK, "am-shared-secret"),
            ]
            await service.deliverer.run_once()
        finally:
            await runner.cleanup()
        return answers

    answers = asyncio.run(scenario())
    assert [code for code, _ in answers] == [401, 400, 200]
    assert answers[2][1] == {"queued": 1, "alerts": 1}
    [got] = http.received
    assert got.path == "/sre"
    assert got.json["title"] == f"Alertmanager — 1 alerte(s) en cours{NBSP}: WatchdogSiteDown"
    assert got.json["message"] == (
        "• [en cours] WatchdogSiteDown (target=ain-premiere-demande) — Le site ne répond plus "
        f"depuis 10 minutes, depuis le 3{NBSP}mars 2025 à 9{NBSP}h{NBSP}00"
    )
    r.close()


def test_an_apprise_config_file_and_its_tags_select_the_services(
    tmp_path: Path, store: Store, http: HttpReceiver
) -> None:
    apprise_file = tmp_path / "apprise.yaml"
    apprise_file.write_text(
        yaml.safe_dump({"urls": [
            {http.url("json", "/cimade"): [{"tag": "cimade"}]},
            {http.url("json", "/other"): [{"tag": "other"}]},
        ]}),
        "utf-8",
    )  # fmt: skip
    main = tmp_path / "watchdog.yaml"
    main.write_text(yaml.safe_dump({
        "notifications": {"routes": [{"id": "asso", "audience": "sre",
                                      "config_file": "apprise.yaml", "tags": ["cimade"]}]},
        "targets": [target()],
    }, allow_unicode=True), "utf-8")  # fmt: skip
    cfg = load_config(main)
    r = rig(store, cfg, paris(2025, 3, 3, 9))
    open_incident(r)
    assert r.deliver() == 1
    assert [x.path for x in http.received] == ["/cimade"], "relative to the config file, by tag"
    r.close()
