"""The benchmark harness's statistics and the report's verdicts (bench/harness.py, report.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import harness, report


def test_p99_of_1000_values_is_the_990th_smallest() -> None:
    values = [float(v) for v in range(1000, 0, -1)]
    assert harness.percentile(values, 0.99) == 990.0
    assert harness.percentile(values, 0.5) == 500.0
    assert harness.percentile(values, 1.0) == 1000.0


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0.01, 1.0))
def test_a_percentile_is_one_of_the_values_and_bounded(values: list[float], q: float) -> None:
    p = harness.percentile(values, q)
    assert p in values
    assert min(values) <= p <= max(values)
    assert sum(v <= p for v in values) >= q * len(values) - 1e-9


def test_summary_has_median_and_spread() -> None:
    summary = harness.summarise([10.0, 12.0, 8.0, 11.0, 9.0])
    assert summary["median"] == 10.0
    assert (summary["min"], summary["max"]) == (8.0, 12.0)
    assert summary["spread_pct"] == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("median", "higher", "expected"),
    [(9.0, False, True), (11.0, False, False), (350.0, True, True), (250.0, True, False)],
)
def test_metric_meets_its_target(median: float, higher: bool, expected: bool) -> None:
    target = 300.0 if higher else 10.0
    metric = harness.Metric("x", "s", target=target, higher_is_better=higher)
    assert metric.meets(median) is expected
    row: dict[str, Any] = {"median": median, "target": target, "higher_is_better": higher}
    assert ("✅" in report.verdict(row)) is expected


def test_peer_ratio_says_how_many_times_slower_the_peer_is() -> None:
    metrics = {
        "fbh": {"median": 0.02, "higher_is_better": False, "peer_of": None},
        "peer": {"median": 0.5, "higher_is_better": False, "peer_of": "fbh"},
    }
    assert report.ratio(metrics["peer"], metrics) == "peer ×25"
    assert report.ratio(metrics["fbh"], metrics) == ""


def test_the_runs_table_shows_the_load_around_the_runs() -> None:
    assert report.load_text({"before": [3.5, 2.0, 1.25], "after": [4.0, 2.5, 1.5]}) == (
        "3.50 / 2.00 / 1.25 → 4.00 / 2.50 / 1.50"
    )
    assert report.load_text(None) == "not recorded"
