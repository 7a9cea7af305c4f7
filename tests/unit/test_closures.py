"""Closure periods (issue 12, "Planning around Danish holidays"): no meetings in them, and
milestone windows stretch past them by the working days they take."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.config.settings import load_settings
from engine.domain.errors import ConfigError
from engine.domain.planning import plan_programme
from engine.domain.workdays import CHRISTMAS, Closure, WorkingCalendar
from engine.domain.workflow import WorkflowDefinition

PLAIN = WorkingCalendar.danish()
CLOSED = WorkingCalendar.danish(closures=[CHRISTMAS])
SUMMER = Closure("sommerferie", (7, 6), (7, 31))


@pytest.fixture(scope="module")
def sb(python_workflows: dict[str, WorkflowDefinition]) -> WorkflowDefinition:
    return python_workflows["socialt-beredskab"]


def test_a_closure_over_the_new_year_covers_both_ends() -> None:
    assert CHRISTMAS.covers(date(2026, 12, 24)) and CHRISTMAS.covers(date(2027, 1, 1))
    assert not CHRISTMAS.covers(date(2026, 12, 23)) and not CHRISTMAS.covers(date(2027, 1, 2))
    assert CHRISTMAS.period(date(2027, 1, 1)) == (date(2026, 12, 24), date(2027, 1, 1))
    assert CHRISTMAS.period(date(2026, 12, 28)) == (date(2026, 12, 24), date(2027, 1, 1))
    assert SUMMER.covers(date(2027, 7, 6)) and not SUMMER.covers(date(2027, 8, 1))
    with pytest.raises(ConfigError, match="02-29"):
        Closure("skud", (2, 29), (3, 1))


def test_a_meeting_in_the_closure_moves_past_it_and_says_why(sb: WorkflowDefinition) -> None:
    # Week 0 of a start on Monday 28 December is wholly closed: without closures the first
    # meeting lands on 28 December, with them on the first open working day.
    before = plan_programme(sb, date(2026, 12, 28), PLAIN).milestones[0]
    after = plan_programme(sb, date(2026, 12, 28), CLOSED).milestones[0]
    assert before.start is not None and before.start.date() == date(2026, 12, 28)
    assert after.start is not None and after.start.date() == date(2027, 1, 4)
    assert after.start.time() == before.start.time()  # the definition's time of day
    # 28–31 December are four working days (31 December is not a public holiday)
    assert (after.window_start, after.window_end) == (date(2027, 1, 4), date(2027, 1, 7))
    assert after.moved is not None
    assert "jul og nytår (2026-12-24 – 2027-01-01)" in after.moved
    assert "2027-01-04 – 2027-01-07 i stedet for 2026-12-28 – 2026-12-31" in after.moved


def test_no_meeting_lands_in_a_closure_and_windows_keep_their_length(
    sb: WorkflowDefinition,
) -> None:
    for offset in range(0, 12 * 7, 7):  # every Monday start from mid-October to January
        start = date(2026, 10, 12).toordinal() + offset
        monday = date.fromordinal(start)
        plain = plan_programme(sb, monday, PLAIN)
        closed = plan_programme(sb, monday, CLOSED)
        for was, now in zip(plain.milestones, closed.milestones, strict=True):
            if now.start is not None:
                assert not CHRISTMAS.covers(now.start.date()), (monday, now.key, now.start)
            open_days = [
                d
                for d in CLOSED.working_days(now.window_start, now.window_end)
                if not CHRISTMAS.covers(d)
            ]
            assert len(open_days) == len(PLAIN.working_days(was.window_start, was.window_end))
            same_window = (now.window_start, now.window_end) == (was.window_start, was.window_end)
            assert (now.moved is None) == same_window, (monday, now.key)


def test_plans_clear_of_the_closure_are_unchanged(sb: WorkflowDefinition) -> None:
    # The golden dates of the worked example (start 2027-01-04) do not touch the closure.
    assert plan_programme(sb, date(2027, 1, 4), CLOSED) == plan_programme(
        sb, date(2027, 1, 4), PLAIN
    )


def test_config_default_closure_summer_weeks_and_none(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[engine]\n", encoding="utf-8")
    assert load_settings(config).calendar.closures == (CHRISTMAS,)
    config.write_text(
        '[engine]\nclosures = [{ name = "jul og nytår", start = "12-24", end = "01-01" },\n'
        '  { name = "sommerferie", start = "07-06", end = "07-31" }]\n',
        encoding="utf-8",
    )
    assert load_settings(config).calendar.closures == (CHRISTMAS, SUMMER)
    config.write_text("[engine]\nclosures = []\n", encoding="utf-8")
    assert load_settings(config).calendar.closures == ()
    config.write_text('[engine]\nclosures = [{ name = "x", start = "13-01", end = "01-01" }]\n')
    with pytest.raises(ConfigError, match=r"engine\.closures\.0\.start: .*MM-DD"):
        load_settings(config)
