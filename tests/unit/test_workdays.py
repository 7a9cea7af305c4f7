"""The Danish working-day calendar and week arithmetic (docs/workflows.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.errors import ConfigError
from engine.domain.workdays import CHRISTMAS, WorkingCalendar, iso_week, week_friday, week_monday

PLAIN = WorkingCalendar.danish()
ALL_OPTIONAL = WorkingCalendar.danish(["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"])


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2027, 1, 1), "Nytårsdag"),
        (date(2027, 3, 25), "Skærtorsdag"),
        (date(2027, 3, 26), "Langfredag"),
        (date(2027, 3, 29), "Anden påskedag"),
        (date(2027, 5, 6), "Kristi himmelfartsdag"),
        (date(2027, 5, 17), "Anden pinsedag"),
        (date(2028, 4, 13), "Skærtorsdag"),
        (date(2028, 4, 14), "Langfredag"),
        (date(2028, 4, 17), "Anden påskedag"),
        (date(2028, 5, 25), "Kristi himmelfartsdag"),
        (date(2028, 6, 5), "Anden pinsedag"),
        (date(2030, 4, 18), "Skærtorsdag"),
        (date(2030, 4, 19), "Langfredag"),
        (date(2030, 4, 22), "Anden påskedag"),
        (date(2030, 5, 30), "Kristi himmelfartsdag"),
        (date(2030, 6, 10), "Anden pinsedag"),
        (date(2038, 4, 22), "Skærtorsdag"),
        (date(2038, 4, 23), "Langfredag"),
        (date(2038, 4, 26), "Anden påskedag"),
        (date(2038, 6, 3), "Kristi himmelfartsdag"),
        (date(2038, 6, 14), "Anden pinsedag"),
        (date(2025, 12, 25), "Juledag"),
        (date(2025, 12, 26), "Anden juledag"),
        (date(2023, 5, 5), "Store bededag"),
    ],
)
def test_public_holidays_are_never_working_days(day: date, name: str) -> None:
    assert day.weekday() < 5  # a weekday that is off only because of the holiday
    for calendar in (PLAIN, ALL_OPTIONAL):
        assert not calendar.is_working_day(day)
        assert calendar.holiday_name(day) == name


def test_store_bededag_is_a_working_day_from_2024() -> None:
    assert PLAIN.is_working_day(date(2024, 4, 26))
    assert PLAIN.holiday_name(date(2024, 4, 26)) is None


def test_may_day_is_a_working_day_even_with_every_optional_day() -> None:
    assert ALL_OPTIONAL.is_working_day(date(2026, 5, 1))  # a Friday


@pytest.mark.parametrize(
    ("option", "day", "name"),
    [
        ("grundlovsdag", date(2026, 6, 5), "Grundlovsdag"),
        ("juleaftensdag", date(2025, 12, 24), "Juleaftensdag"),
        ("nytaarsaftensdag", date(2025, 12, 31), "Nytårsaftensdag"),
    ],
)
def test_optional_days_are_excluded_only_when_configured(option: str, day: date, name: str) -> None:
    assert PLAIN.is_working_day(day)
    assert PLAIN.holiday_name(day) is None
    only = WorkingCalendar.danish([option])
    assert not only.is_working_day(day)
    assert only.holiday_name(day) == name
    others = WorkingCalendar.danish(o for o in ALL_OPTIONAL.optional if o != option)
    assert others.is_working_day(day)


def test_christmas_week_with_and_without_optional_days() -> None:
    week = [date(2025, 12, 22) + timedelta(days=i) for i in range(12)]  # Mon 22 … Fri 2 Jan
    assert PLAIN.working_days(week[0], week[-1]) == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2025, 12, 31),
        date(2026, 1, 2),
    ]
    assert ALL_OPTIONAL.working_days(week[0], week[-1]) == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2026, 1, 2),
    ]


def test_a_public_name_wins_when_an_optional_day_coincides() -> None:
    # 5 June 2028 is both Grundlovsdag and Anden pinsedag.
    assert WorkingCalendar.danish(["grundlovsdag"]).holiday_name(date(2028, 6, 5)) == (
        "Anden pinsedag"
    )


def test_weekends_are_not_working_days_and_have_no_name() -> None:
    assert not PLAIN.is_working_day(date(2027, 1, 9))
    assert not PLAIN.is_working_day(date(2027, 1, 10))
    assert PLAIN.holiday_name(date(2027, 1, 9)) is None


def test_optional_names_are_normalised_and_validated() -> None:
    assert WorkingCalendar.danish([" Nytårsaftensdag "]) == WorkingCalendar.danish(
        ["nytaarsaftensdag"]
    )
    with pytest.raises(ConfigError, match="arbejdernes"):
        WorkingCalendar.danish(["arbejdernes kampdag"])


def test_calendars_are_immutable_values_whatever_their_cache() -> None:
    used = WorkingCalendar.danish(["juleaftensdag"])
    used.is_working_day(date(2030, 1, 1))
    fresh = WorkingCalendar.danish(["juleaftensdag"])
    assert used == fresh
    assert hash(used) == hash(fresh)
    assert used != PLAIN
    assert {used, fresh} == {fresh}
    with pytest.raises(AttributeError):
        used.optional = frozenset()  # type: ignore[misc]


def test_working_days_is_inclusive_and_empty_when_reversed() -> None:
    assert PLAIN.working_days(date(2027, 3, 8), date(2027, 3, 8)) == [date(2027, 3, 8)]
    assert PLAIN.working_days(date(2027, 3, 9), date(2027, 3, 8)) == []
    assert PLAIN.working_days(date(2027, 3, 25), date(2027, 3, 29)) == []


def test_add_working_days_skips_weekends_and_holidays() -> None:
    assert PLAIN.add_working_days(date(2027, 3, 30), -1) == date(2027, 3, 24)
    assert PLAIN.add_working_days(date(2027, 3, 24), 1) == date(2027, 3, 30)
    assert PLAIN.add_working_days(date(2027, 3, 8), -2) == date(2027, 3, 4)
    assert PLAIN.add_working_days(date(2027, 3, 27), 0) == date(2027, 3, 27)
    assert PLAIN.add_working_days(date(2027, 3, 27), 1) == date(2027, 3, 30)


def test_week_monday_friday_and_iso_week() -> None:
    assert week_monday(date(2027, 1, 4), 0) == date(2027, 1, 4)
    assert week_monday(date(2027, 1, 10), 0) == date(2027, 1, 4)  # Sunday: same ISO week
    assert week_monday(date(2027, 1, 6), 9) == date(2027, 3, 8)
    assert week_monday(date(2027, 1, 4), 12) == date(2027, 3, 29)
    assert week_friday(date(2027, 1, 4), 18) == date(2027, 5, 14)
    assert iso_week(date(2027, 1, 4)) == (2027, 1)
    assert iso_week(date(2027, 1, 1)) == (2026, 53)
    assert iso_week(date(2027, 3, 8)) == (2027, 10)


dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
optionals = st.sets(st.sampled_from(["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"]))


@settings(max_examples=300, deadline=None)
@given(day=dates, n=st.integers(min_value=-30, max_value=30), optional=optionals)
def test_add_working_days_counts_exactly_n_working_days(
    day: date, n: int, optional: set[str]
) -> None:
    calendar = WorkingCalendar.danish(optional)
    result = calendar.add_working_days(day, n)
    if n == 0:
        assert result == day
        return
    assert calendar.is_working_day(result)
    if n > 0:
        assert len(calendar.working_days(day + timedelta(days=1), result)) == n
    else:
        assert len(calendar.working_days(result, day - timedelta(days=1))) == -n
    if calendar.is_working_day(day):
        assert calendar.add_working_days(result, -n) == day


@settings(max_examples=300, deadline=None)
@given(day=dates, week=st.integers(min_value=0, max_value=60))
def test_week_monday_is_the_monday_week_weeks_later(day: date, week: int) -> None:
    monday = week_monday(day, week)
    assert monday.weekday() == 0
    assert 0 <= (day - week_monday(day, 0)).days < 7
    assert (monday - week_monday(day, 0)).days == 7 * week
    assert week_friday(day, week) == monday + timedelta(days=4)


def test_past_closures_gives_the_same_days_again_as_lists_of_its_own() -> None:
    calendar = WorkingCalendar.danish(closures=[CHRISTMAS])
    days = calendar.working_days(date(2027, 12, 20), date(2027, 12, 31))
    opened, closed = calendar.past_closures(days)
    assert closed == [d for d in days if d >= date(2027, 12, 24)]  # jul og nytår
    assert opened[:4] == [date(2027, 12, d) for d in (20, 21, 22, 23)]
    assert len(opened) == len(days) and opened[4] > date(2028, 1, 1)
    opened.clear()  # the caller's to change: the remembered answer stays whole
    closed.append(date(2030, 1, 1))
    assert calendar.past_closures(days) == calendar._past_closures(days)
    assert calendar.past_closures(days)[1] == [d for d in days if d >= date(2027, 12, 24)]
