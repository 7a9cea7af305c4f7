"""APScheduler 3 used only as a timer: wake-ups at due times, a safety poll, cron jobs.

The database is the only source of truth; the scheduler (``AsyncIOScheduler`` with a
``MemoryJobStore``, UTC) only wakes the daemon. Jobs keep ``misfire_grace_time=None`` and
``coalesce=True``: a late timer still fires, once, and the database decides what is due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:  # the digests' module loads with the first digest, after `ready`
    from engine.domain.digest import WeeklyTime

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


class Timer:
    """APScheduler used only as a timer: wake-ups at due times, a poll, cron jobs."""

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults=JOB_DEFAULTS,
            timezone=UTC,
        )

    def start(self) -> None:
        self.scheduler.start()

    async def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown runs on the loop

    def wake_at(self, job_id: str, when: datetime, event: asyncio.Event) -> None:
        """Set ``event`` at ``when`` (at once if it has passed); replaces an earlier wake-up."""
        self.add(job_id, DateTrigger(run_date=when, timezone=UTC), _setter(event))

    def cancel(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)

    def every(self, job_id: str, seconds: float, func: Callable[[], Awaitable[None]]) -> None:
        self.add(job_id, IntervalTrigger(seconds=seconds, timezone=UTC), func)

    def add(self, job_id: str, trigger: BaseTrigger, func: Callable[[], Awaitable[None]]) -> None:
        self.scheduler.add_job(func, trigger, id=job_id, name=job_id, replace_existing=True)

    def next_run(self, job_id: str) -> datetime | None:
        job = self.scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def wake() -> None:
        event.set()

    return wake


def weekly_trigger(when: WeeklyTime, tz: ZoneInfo) -> CronTrigger:
    """A cron trigger at ``when`` (weekday and local time) every week, in ``tz``."""
    return CronTrigger(
        day_of_week=when.weekday, hour=when.at.hour, minute=when.at.minute, timezone=tz
    )


def last_fired(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """When ``trigger`` (a weekly job) last fired, or should have, in the 7 days to ``now``."""
    last, moment = None, trigger.get_next_fire_time(None, now - timedelta(days=7))
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return last


def fired_this_week(trigger: BaseTrigger, now: datetime, tz: ZoneInfo) -> bool:
    """Whether ``trigger`` (a weekly job) last fired, or should have, in ``now``'s ISO week:
    then a leader that was not running at that moment runs the job late (catch-up), unless a
    leader ran it since (``WEEKLY_DIGEST_EVENT``). The job itself queues each week's mail
    once."""
    last = last_fired(trigger, now)
    if last is None:
        return False
    week = now.astimezone(tz).isocalendar()[:2]
    return last.astimezone(tz).isocalendar()[:2] == week
