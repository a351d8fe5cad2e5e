"""config/alertmanager/alertmanager.yml delivering for real: Debian's Alertmanager with the
repository's routing tree (only the addresses and the waits changed), a real SMTP server
(aiosmtpd) standing for the mail relay and an HTTP server standing for the watchdog's
`/alertmanager` bridge. The watchdog's own critical alerts and the heartbeat arrive by e-mail
and never at the bridge; the investigators' receiver works; site alerts use the bridge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import LoopThread
from notifyfix import HttpReceiver, SmtpReceiver, free_port
from polling import wait_until

REPO = Path(__file__).resolve().parent.parent
ALERTMANAGER = REPO / "config" / "alertmanager" / "alertmanager.yml"
DEADLINE = 60


def alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "instance": "127.0.0.1:9788", **labels},
        "annotations": {"summary": f"test {name}"},
        "startsAt": datetime.now(UTC).isoformat(),
    }


ALERTS = [
    alert("WatchdogDown", severity="critical", audience="sre", delivery="direct"),
    alert("WatchdogNotificationsFailing", severity="critical", audience="sre", delivery="direct",
          route="oncall"),
    alert("WatchdogHeartbeat", severity="info", audience="sre", delivery="deadmans-switch"),
    alert("WatchdogNoSlotPersistent", severity="warning", audience="investigator", target="ain",
          department="01"),
    alert("WatchdogSiteDown", severity="critical", audience="sre", target="bobigny"),
    alert("WatchdogProbeErrors", severity="warning", audience="sre", target="ain"),
]  # fmt: skip


def configured(folder: Path, smtp_port: int, bridge: str) -> Path:
    """The repository's file with the test's addresses and waits of a second."""
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    for route in [config["route"], *config["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["url"].endswith("/alertmanager")
            hook["url"] = bridge
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def receivers() -> Iterator[tuple[SmtpReceiver, HttpReceiver]]:
    loop = LoopThread()
    smtp, bridge = SmtpReceiver(), HttpReceiver(loop)
    try:
        yield smtp, bridge
    finally:
        bridge.close()
        smtp.close()
        loop.stop()


def post(port: int, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_self_alerts_are_mailed_by_alertmanager_and_never_reach_the_bridge(
    tmp_path: Path, receivers: tuple[SmtpReceiver, HttpReceiver]
) -> None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "Alertmanager is missing (Debian package prometheus-alertmanager): make setup"
    smtp, bridge = receivers
    config = configured(tmp_path, smtp.port, f"http://127.0.0.1:{bridge.port}/alertmanager")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: ready(port), DEADLINE, "Alertmanager /-/ready")
        post(port, ALERTS)

        def mailed() -> dict[str, str]:
            return {str(m["To"]): str(m["Subject"]) for m in smtp.messages}

        def bridged() -> set[str]:
            return {a["labels"]["alertname"] for r in bridge.received if r.json is not None
                    for a in r.json["alerts"]}  # fmt: skip

        wanted = {"sre@watchdog.example.org", "heartbeat@deadmans-switch.example.org",
                  "observatoire@watchdog.example.org"}  # fmt: skip
        wait_until(lambda: wanted <= set(mailed()), DEADLINE, f"e-mails to {wanted}")
        wait_until(lambda: {"WatchdogSiteDown", "WatchdogProbeErrors"} <= bridged(), DEADLINE,
                   "site alerts at the bridge")  # fmt: skip
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    # Nothing about the watchdog's own failures went through the watchdog: they were mailed.
    assert bridged() == {"WatchdogSiteDown", "WatchdogProbeErrors"}
    subjects = {(str(m["To"]), str(m["Subject"])) for m in smtp.messages}
    for name, to in [
        ("WatchdogDown", "sre@watchdog.example.org"),
        ("WatchdogNotificationsFailing", "sre@watchdog.example.org"),
        ("WatchdogNoSlotPersistent", "observatoire@watchdog.example.org"),
    ]:
        assert any(to == got_to and name in subject for got_to, subject in subjects), name
    assert ("heartbeat@deadmans-switch.example.org", "WatchdogHeartbeat") in subjects
