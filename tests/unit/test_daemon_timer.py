"""The daemon's timer rules: APScheduler never drops a late job, and a missed weekly job is
caught up within its own ISO week only."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from engine.daemon.runner import JOB_DEFAULTS, daemon_name, fired_this_week

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY_7 = CronTrigger(day_of_week=0, hour=7, minute=0, timezone=CPH)


def test_late_jobs_are_never_dropped_and_run_once() -> None:
    assert JOB_DEFAULTS["misfire_grace_time"] is None
    assert JOB_DEFAULTS["coalesce"] is True


@pytest.mark.parametrize(
    ("now", "caught_up"),
    [
        (datetime(2027, 3, 29, 6, 59, tzinfo=CPH), False),  # this week's time is still ahead
        (datetime(2027, 3, 29, 7, 0, tzinfo=CPH), True),
        (datetime(2027, 4, 1, 12, 0, tzinfo=CPH), True),  # Thursday: still this week
        (datetime(2027, 4, 4, 23, 59, tzinfo=CPH), True),  # Sunday night
    ],
)
def test_a_weekly_job_is_caught_up_in_its_own_week(now: datetime, caught_up: bool) -> None:
    assert fired_this_week(MONDAY_7, now, CPH) is caught_up


def test_daemon_names_are_unique_worker_ids() -> None:
    first, second = daemon_name("fbh-1"), daemon_name("fbh-1")
    assert first.startswith("daemon:fbh-1:") and first != second
