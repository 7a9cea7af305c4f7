"""The time budget's pure arithmetic: status, pace, alerts and the hours bar."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.budget import (
    BudgetPart,
    PartStatus,
    alert_level,
    bar_segments,
    budget_status,
    elapsed_share,
    expected_range,
    pace,
    text_bar,
)

BASE = BudgetPart(
    key="socialt-beredskab",
    title="Socialt beredskab",
    min_hours=14.8,
    max_hours=22.2,
    first_day=date(2027, 1, 4),
    last_day=date(2027, 3, 26),
    text="2–3 arbejdsdage (14,8–22,2 timer)",
)


@pytest.mark.parametrize(
    ("used", "status"),
    [
        (0, "under"),
        (14.79, "under"),
        (14.8, "within"),
        (7.4 + 7.4, "within"),  # 14.800000000000001 is still the minimum
        (22.2, "within"),
        (22.21, "over"),
    ],
)
def test_status_is_under_within_or_over_with_both_ends_inside(used: float, status: str) -> None:
    assert budget_status(used, 14.8, 22.2) == status


def test_sums_of_floats_compare_as_people_expect() -> None:
    assert budget_status(0.1 + 0.2, 0.3, 0.3) == "within"
    assert alert_level(0.1 + 0.7, 1.0) == "threshold"  # 0.7999999999999999 is 80 %


@pytest.mark.parametrize(
    ("today", "share"),
    [
        (date(2027, 1, 1), 0.0),
        (date(2027, 1, 4), 0.0),
        (date(2027, 2, 14), 41 / 81),
        (date(2027, 3, 26), 1.0),
        (date(2027, 5, 1), 1.0),
    ],
)
def test_elapsed_share_runs_from_zero_to_one_over_the_span(today: date, share: float) -> None:
    assert elapsed_share(date(2027, 1, 4), date(2027, 3, 26), today) == pytest.approx(share)


def test_expected_hours_are_the_range_times_the_share() -> None:
    assert expected_range(14.8, 22.2, 0.5) == (7.4, 11.1)


@pytest.mark.parametrize(
    ("used", "share", "expected"),
    [
        (0.0, 0.0, "on track"),
        (2.0, 0.1, "on track"),  # expected 1.48–2.22 h
        (3.0, 0.5, "behind"),  # expected at least 7.4 h, minus the 2.96 h slack
        (4.5, 0.5, "on track"),  # within the slack
        (11.1, 0.5, "on track"),
        (14.0, 0.5, "on track"),  # 11.1 h plus the 2.96 h slack
        (14.1, 0.5, "ahead"),
        (14.8, 1.0, "on track"),
        (10.0, 1.0, "behind"),
    ],
)
def test_pace_compares_hours_with_the_share_of_the_timeline(
    used: float, share: float, expected: str
) -> None:
    assert pace(used, 14.8, 22.2, share) == expected


@pytest.mark.parametrize(
    ("used", "level"),
    [(0, None), (17.75, None), (17.76, "threshold"), (22.2, "threshold"), (22.3, "over")],
)
def test_alerts_fire_at_80_percent_and_beyond_the_maximum(used: float, level: str | None) -> None:
    assert alert_level(used, 22.2) == level


def test_part_status_derives_everything_from_the_hours_and_the_day() -> None:
    status = PartStatus(BASE, 9.5, date(2027, 2, 14))

    assert status.status == "under"
    assert status.percent_of_max == 43
    assert status.remaining_hours == 12.7
    assert status.expected_hours == pytest.approx(7.49, abs=0.01)
    assert status.pace == "on track"
    data = status.to_json()
    assert {k: data[k] for k in ("min_hours", "max_hours", "used_hours", "status")} == {
        "min_hours": 14.8,
        "max_hours": 22.2,
        "used_hours": 9.5,
        "status": "under",
    }
    assert data["elapsed_share"] == 0.506 and data["pace"] == "on track"


def test_bar_under_the_minimum_shows_used_then_empty_then_the_budget_band() -> None:
    segments = bar_segments(9.5, 14.8, 22.2)
    assert [(s.kind, s.width) for s in segments] == [("used", 43), ("empty", 24), ("band", 33)]


def test_bar_within_the_range_fills_part_of_the_band() -> None:
    segments = bar_segments(18.0, 14.8, 22.2)
    assert [(s.kind, s.width) for s in segments] == [("used", 81), ("band", 19)]


def test_bar_over_the_maximum_rescales_and_shows_the_excess() -> None:
    segments = bar_segments(30.0, 14.8, 22.2)
    assert [(s.kind, s.width) for s in segments] == [("used", 74), ("over", 26)]


def test_bar_of_an_empty_budget_is_empty() -> None:
    assert [(s.kind, s.width) for s in bar_segments(0, 0, 0)] == [("empty", 100)]


@given(
    used=st.floats(min_value=0, max_value=200, allow_nan=False),
    low=st.floats(min_value=0, max_value=100, allow_nan=False),
    extra=st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_bar_widths_always_add_up_to_100(used: float, low: float, extra: float) -> None:
    segments = bar_segments(used, low, low + extra)
    assert sum(s.width for s in segments) == 100
    assert all(s.width > 0 for s in segments)
    assert len(text_bar(used, low, low + extra)) == 26


def test_text_bar_draws_used_empty_and_band() -> None:
    assert text_bar(9.5, 14.8, 22.2, width=20) == "[#########.....::::::]"
    assert text_bar(30.0, 14.8, 22.2, width=10) == "[#######!!!]"
