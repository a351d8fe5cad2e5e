"""A small real record for the tests of the reading verbs: two targets, five observations with
real evidence (PNG captures, a page kept as skeleton + volatile record)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from harness import write_config
from PIL import Image

from watchdog.cli.main import main
from watchdog.config.loader import Config
from watchdog.domain.models import EvidenceRefs, Observation, Outcome
from watchdog.evidence.volatile import keep_page
from watchdog.store import Store

MakeObs = Callable[..., Observation]
TOKEN = "a9F3kQ7zX2mB8vL5nR1tY6wE4uI0oP3s"  # a session-like token: cut out as volatile
# Quotes, a backslash, a line break, a non-Latin script and text that looks like a key.
TRICKY_MESSAGE = 'Aucun « créneau » \\ "libre"\n"message":"x", 预约 ⛔'
PAGE = f'<html><body><a href="/rdv;jsessionid={TOKEN}">Prendre rendez-vous</a></body></html>'


def png(label: int) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (32, 16), (label, 100, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def catalog_target(target_id: str, department: str, prefecture: str) -> dict[str, Any]:
    return {
        "id": target_id,
        "department": department,
        "prefecture": prefecture,
        "procedure": "premiere_demande",
        "label": f"Première demande {prefecture}",
        "platform": "legacy_booking",
        "url": f"http://127.0.0.1:9/booking/create/{target_id}/0",
        "interval": "15m",
    }


@dataclass
class Recorded:
    config: Config
    config_path: Path
    ids: dict[str, list[str]]  # target -> observation ids in chain order
    stored: dict[str, Observation]  # id -> sealed observation

    def run(self, *argv: str) -> int:
        return main([*argv, "--config", str(self.config_path)])


Plan = list[tuple[str, int, dict[str, Any]]]


def record(
    tmp_path: Path,
    database_url: str | None,
    make_observation: MakeObs,
    *,
    more: Plan | None = None,
    **sections: Any,
) -> Recorded:
    """paris-a (75): no_slot, available (8 slots), no_slot; bobigny-b (93): site_error, no_slot;
    then the observations of `more`. `sections` are more configuration sections."""
    settings = {"database_url": database_url} if database_url else {}
    config = write_config(
        tmp_path,
        [catalog_target("paris-a", "75", "Paris"), catalog_target("bobigny-b", "93", "Bobigny")],
        watchdog=settings,
        **sections,
    )
    plan: Plan = [
        ("paris-a", 0, {"final_url": f"http://127.0.0.1:9/booking/2;jsessionid={TOKEN}"}),
        ("bobigny-b", 1, {"outcome": Outcome.SITE_ERROR, "detail": "http_502", "message": None}),
        ("paris-a", 4, {"outcome": Outcome.AVAILABLE, "detail": "slots_offered", "message": None,
                        "slots": 8, "earliest_slot": datetime(2025, 3, 20, 9, 30)}),
        ("paris-a", 200, {"message": TRICKY_MESSAGE}),
        ("bobigny-b", 201, {}),
        *(more or []),
    ]  # fmt: skip
    ids: dict[str, list[str]] = {}
    stored: dict[str, Observation] = {}
    with Store.open(config.watchdog.data_dir, config.watchdog.database_url) as store:
        for target_id, n, fields in plan:
            refs = EvidenceRefs(
                screenshot=store.blobs.put(png(n % 250), "screenshot"),
                framed=store.blobs.put(png(n % 250 + 1), "framed"),
            )
            keep_page(refs, PAGE, store.blobs.put)
            sealed = store.append(make_observation(target_id, n, evidence=refs, **fields))
            ids.setdefault(target_id, []).append(sealed.id)
            stored[sealed.id] = sealed
    return Recorded(config, Path(config.source), ids, stored)


EXE = Path(sys.executable).parent / "watchdog"


def run_on_terminal(argv: list[str], timeout: float = 120) -> tuple[int, str, bytes]:
    """Run the installed `watchdog` with stderr on a pseudo-terminal: (exit, stdout, terminal)."""
    primary, secondary = pty.openpty()
    try:
        done = subprocess.Popen([str(EXE), *argv], stdout=subprocess.PIPE, stderr=secondary,
                                text=True)  # fmt: skip
        os.close(secondary)
        stdout, _ = done.communicate(timeout=timeout)
        seen = b""
        while select.select([primary], [], [], 1)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the other end is closed: everything was read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
    return done.returncode, stdout, seen
