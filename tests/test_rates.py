"""The rates are defined once (watchdog/domain/rates.py), and everything that states one agrees.

The report's statistics, the daily-rate incident rules, the open-data aggregates and
`watchdog demo` compute them through the module; the Prometheus recording rules, the Grafana
panels and docs/design.md restate them in their own language, and are read back here into
outcome sets to compare with the module's.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from watchdog.cli.demo import _rate
from watchdog.domain import rates
from watchdog.domain.incidents import IncidentKind
from watchdog.domain.models import Outcome
from watchdog.notify.evaluate import causes, day_share
from watchdog.opendata.export import _figures
from watchdog.report import causes as causes_of
from watchdog.stats.calendar import Period
from watchdog.stats.series import SeriesStats

REPO = Path(__file__).resolve().parent.parent
RECORDING = REPO / "config" / "prometheus" / "rules" / "watchdog-recording.yml"
EXCLUDED = {Outcome.PROBE_ERROR, Outcome.UNRECOGNIZED}  # docs/design.md §2, rule 3
SAMPLES = [
    {},
    {"probe_error": 4, "unrecognized": 2},  # nothing counted: no rate at all
    {"available": 3, "no_slot": 9},
    {"available": 1, "no_slot": 5, "captcha": 7, "site_error": 2, "probe_error": 30},
    {"closed": 6, "timeout": 1, "unrecognized": 9},  # barriers only: no no-slot rate
    {"no_slot": 57, "available": 143, "blocked": 3, "from_a_newer_watchdog": 8},
]


def test_our_faults_and_unknown_pages_enter_no_rate() -> None:
    assert set(rates.EXCLUDED) == EXCLUDED
    assert set(rates.COUNTED) == set(Outcome) - EXCLUDED
    for rate in rates.RATES:
        assert not EXCLUDED & {*rate.numerator, *rate.denominator}, rate.name
    base = Counter({"available": 2, "no_slot": 6, "queue": 2})
    noisy = base + Counter({"probe_error": 50, "unrecognized": 7, "from_a_newer_watchdog": 3})
    for rate in rates.RATES:
        assert rate.of(noisy) == rate.of(base)
    assert rates.no_slot_rate(base) == (6, 8)
    assert rates.failure_rate(base) == (8, 10)
    assert rates.Share(0, 0).value is None


@pytest.mark.parametrize("sample", SAMPLES)
def test_stats_notify_open_data_and_demo_state_the_same_rates(sample: dict[str, int]) -> None:
    stored = Counter(sample)  # as the database groups them: by stored value
    known = Counter({Outcome(v): n for v, n in sample.items() if v in set(Outcome)})
    no_slot, failure = rates.no_slot_rate(stored), rates.failure_rate(stored)
    assert (rates.no_slot_rate(known), rates.failure_rate(known)) == (no_slot, failure)

    period = Period(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))
    series = SeriesStats("t", period, outcomes=known)
    assert (series.no_slot_rate.k, series.no_slot_rate.n) == no_slot
    assert (series.failure_rate.k, series.failure_rate.n) == failure
    assert series.attempts == rates.attempts(stored)

    assert day_share(IncidentKind.HIGH_NO_SLOT_RATE, stored) == no_slot
    assert day_share(IncidentKind.HIGH_FAILURE_RATE, stored) == failure
    failing = {o for o in rates.FAILURE_RATE.numerator if stored[o]}
    assert set(causes({datetime(2026, 1, 5).date(): stored}, [datetime(2026, 1, 5).date()])) == {
        o.value for o in failing
    }

    figures = _figures(stored)
    assert (figures["no_slot_rate"], figures["failure_rate"]) == (no_slot.value, failure.value)
    assert figures["attempts"] == failure.n

    shown = _rate("legacy_booking", known)
    assert shown == ("-" if no_slot.n == 0 else f"{100 * no_slot.k / no_slot.n:.0f} %")


# -- the same definitions, restated in PromQL and in the docs --------------------------------


def _matcher(selector: str) -> set[Outcome]:
    """The outcomes an `outcome` label matcher selects (=, =~, !~ over a `|` list)."""
    found = re.search(r'outcome(=~|!~|=)"([^"]*)"', selector)
    assert found is not None, selector
    named = {Outcome(v) for v in found.group(2).split("|")}
    return set(Outcome) - named if found.group(1) == "!~" else named


def _recording() -> dict[str, str]:
    groups = yaml.safe_load(RECORDING.read_text(encoding="utf-8"))["groups"]
    return {r["record"]: " ".join(r["expr"].split()) for g in groups for r in g["rules"]}


def _side(expr: str, kinds: dict[str, set[Outcome]]) -> Counter[Outcome]:
    """How many times each outcome is counted by a sum/difference of recorded kinds."""
    total: Counter[Outcome] = Counter()
    for sign, kind in re.findall(r"(^|[+-])?\s*watchdog:probe_(\w+):rate\w+", expr):
        for outcome in kinds[kind]:
            total[outcome] += -1 if sign == "-" else 1
    return +total


def test_the_recording_rules_count_what_the_rates_module_counts() -> None:
    recorded = _recording()
    kinds = {
        name.split(":")[1].removeprefix("probe_"): _matcher(expr)
        for name, expr in recorded.items()
        if name.startswith("watchdog:probe_") and name.endswith(":rate5m")
    }
    assert kinds["attempts"] == set(rates.COUNTED)
    ratios = {"no_slot_ratio": rates.NO_SLOT_RATE, "failure_ratio": rates.FAILURE_RATE}
    checked = 0
    for name, expr in recorded.items():
        found = re.fullmatch(r"(?:watchdog|department:watchdog_?):?(\w+_ratio):rate\w+", name)
        if found is None:
            continue
        rate = ratios[found.group(1)]
        numerator, denominator = expr.split(" / ")
        assert _side(numerator, kinds) == Counter(rate.numerator), name
        assert _side(denominator, kinds) == Counter(rate.denominator), name
        checked += 1
    assert checked == 12  # two rates, three windows, per target and per département
    header = RECORDING.read_text(encoding="utf-8").split("groups:")[0]
    stated = re.search(r"attempts\s+= every outcome that counts in rates \(all but (.+)\)", header)
    assert stated is not None
    assert {Outcome(v) for v in stated.group(1).split(" and ")} == set(rates.EXCLUDED)


def test_panels_and_rules_that_leave_our_faults_out_leave_out_exactly_those() -> None:
    sources = [*(REPO / "watchdog" / "dashboards").glob("*.py"), RECORDING]
    matchers = [
        m
        for path in sources
        for m in re.findall(r'outcome(?:=~|!~|=)"[^"]*"', path.read_text(encoding="utf-8"))
    ]
    counted = [m for m in matchers if "!~" in m]
    ours = [m for m in matchers if "probe_error" in m and "!~" not in m]
    assert counted and ours
    for matcher in counted:
        assert _matcher(matcher) == set(rates.COUNTED), matcher
    for matcher in ours:
        assert _matcher(matcher) == set(rates.EXCLUDED), matcher


@pytest.mark.parametrize(
    ("document", "excluded_mark"),
    [("docs/design.md", "**no**"), ("watchdog/data/opendata-README.md", "non / no")],
)
def test_the_documents_outcome_tables_say_which_outcomes_count(
    document: str, excluded_mark: str
) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", text, re.MULTILINE)
    table = {v: mark for v, mark in rows if v in set(Outcome)}
    assert set(table) == set(Outcome)
    assert {Outcome(v) for v, mark in table.items() if mark == excluded_mark} == set(rates.EXCLUDED)


def test_the_reports_groups_keep_our_faults_out_of_the_applicants_view() -> None:
    applicant = {*causes_of.REACHED, *causes_of.BARRIERS, *causes_of.PROBE_SIDE}
    assert not applicant & set(rates.EXCLUDED)
    assert set(rates.EXCLUDED) <= set(causes_of.NOT_APPLICANT)
    assert applicant | set(causes_of.NOT_APPLICANT) == set(Outcome)
