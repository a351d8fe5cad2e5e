"""The soak's verdict (bench/soak.py): a leak is a trend, a swing of single samples is not."""

from __future__ import annotations

from typing import Any

from bench.soak import verdict


def samples(anon: list[float], processes: list[int] | None = None) -> list[dict[str, Any]]:
    """One sample a minute, PSS 150 MB above the cgroup's anonymous memory."""
    counts = processes or [11] * len(anon)
    return [
        {"minute": float(m), "pss_mb": a + 150, "cgroup_anon_mb": a, "processes": counts[m]}
        for m, a in enumerate(anon)
    ]


def swinging(minutes: int, level: float = 440.0, swing: float = 60.0) -> list[float]:
    """Chromium's swing: every third sample `swing` MB above the level, no trend."""
    return [level + (swing if m % 3 == 0 else 0.0) for m in range(minutes)]


def test_a_swing_of_single_samples_is_flat_by_window_medians() -> None:
    result = verdict(samples(swinging(120)), warmup=10)
    anon = result["cgroup_anon_mb"]
    assert anon["samples_within_10_percent"] is False  # 500 against 440: +14 %
    assert anon["within_10_percent"] is True
    assert result["window_minutes"] == 10
    assert set(anon["window_medians"]) == {440.0}
    assert result["flat"] is True


def test_a_steady_climb_is_not_flat() -> None:
    climbing = [400 + 1.0 * m for m in range(120)]  # +60 % over two hours
    result = verdict(samples(climbing), warmup=10)
    assert result["cgroup_anon_mb"]["within_10_percent"] is False
    assert result["cgroup_anon_mb_per_hour"] == 60.0
    assert result["flat"] is False


def test_a_climb_within_ten_percent_of_the_first_window_is_flat() -> None:
    slow = [430 + 0.3 * m for m in range(120)]  # +30 MB over the run: under 10 % of ≈ 434
    result = verdict(samples(slow), warmup=10)
    assert result["flat"] is True
    assert result["cgroup_anon_mb_per_hour"] == 18.0  # still shown: the reader judges the trend


def test_growing_processes_are_not_flat_whatever_the_memory() -> None:
    counts = [11] * 60 + [14] * 60
    result = verdict(samples(swinging(120), counts), warmup=10)
    assert result["processes"]["grows"] is True
    assert result["flat"] is False


def test_a_short_run_still_has_two_windows_and_a_short_tail_joins_the_last() -> None:
    result = verdict(samples([440.0, 441.0, 439.0, 700.0, 440.0, 441.0]), warmup=1)
    assert result["window_minutes"] == 2.0  # minutes 1–5: a span of 4
    assert result["cgroup_anon_mb"]["window_medians"] == [
        440.0,
        441.0,
    ]  # (441, 439), then (700, 440) with the tail 441
    assert result["flat"] is True
    assert "cgroup_anon_mb_per_hour" not in result  # under TREND_MINUTES: no trend claimed


def test_too_few_samples_are_not_judged() -> None:
    assert verdict(samples([440.0, 450.0]), warmup=1)["flat"] is None


def test_the_cgroup_judges_and_a_step_of_pss_alone_is_reported_beside_it() -> None:
    """Shared pages re-divided (other Chromium processes ended): PSS steps up, the cgroup's
    memory does not; the verdict follows the cgroup and still shows PSS outside ±10 %."""
    found = samples(swinging(120))
    for s in found[61:]:
        s["pss_mb"] += 120  # 650 -> 770 MB at the 61st minute, as in the second soak
    result = verdict(found, warmup=10)
    assert result["judged_by"] == "cgroup_anon_mb"
    assert result["pss_mb"]["within_10_percent"] is False
    assert result["cgroup_anon_mb"]["within_10_percent"] is True
    assert result["flat"] is True


def test_without_a_cgroup_pss_judges() -> None:
    found = samples([400 + 1.0 * m for m in range(120)])
    for s in found:
        s["cgroup_anon_mb"] = None
    result = verdict(found, warmup=10)
    assert result["judged_by"] == "pss_mb" and "cgroup_anon_mb" not in result
    assert result["flat"] is False
