"""The README's notifications section and the code cannot drift apart: every incident kind
has a row, and the documented defaults are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from watchdog.config.notifications import NotificationSettings
from watchdog.domain.incidents import AUDIENCE_KINDS, IncidentKind

README = Path(__file__).resolve().parent.parent / "README.md"


def section() -> str:
    text = README.read_text("utf-8")
    start = text.index("## Notifications\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_kind_has_a_row_naming_its_audience() -> None:
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", section(), re.M)}
    assert set(rows) == {k.value for k in IncidentKind}
    for audience, kinds in AUDIENCE_KINDS.items():
        for kind in kinds:
            assert rows[kind.value] == audience.value


def test_the_documented_example_loads_with_the_code_defaults() -> None:
    block = re.search(r"```yaml\n(notifications:.*?)```", section(), re.S)
    assert block is not None
    documented = NotificationSettings.model_validate(yaml.safe_load(block[1])["notifications"])
    defaults = NotificationSettings()
    assert documented.thresholds == defaults.thresholds
    assert documented.digest == defaults.digest
    assert documented.delivery == defaults.delivery
    assert documented.alertmanager == defaults.alertmanager
    for kind in IncidentKind:
        rule = getattr(defaults.thresholds, kind.value)
        row = next(line for line in section().splitlines() if line.startswith(f"| `{kind.value}`"))
        figures = re.findall(r"\d+", row)
        for value in rule.model_dump().values():
            shown = str(round(value * 100)) if isinstance(value, float) else str(value)
            assert shown in figures, f"{kind.value}: {value} is not in the README row"
