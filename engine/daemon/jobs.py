"""The leader's periodic jobs, passed to the daemon explicitly.

The daemon only times them: the weekly digests and the tovholders' reminders (``[digest]``
weekday and time) and the check of programmes that ended under their time budget
(``daemon.budget_cron``). A job is called as ``job(fbh, now)``; ``None`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the jobs' imports (the digests' rendering) load when a job first runs
    from engine.services.facade import Fbh

Job = Callable[["Fbh", datetime], object]
WEEKLY_DIGEST_EVENT = "weekly-digest"  # the event a leader writes after the weekly digest job


@dataclass(frozen=True)
class LeaderJobs:
    digest: Job | None = None  # queue the week's digests; returns how many were queued
    budget: Job | None = None  # alerts for programmes that ended under budget


def weekly_mail(fbh: Fbh, now: datetime) -> int:
    """The weekly job: the digests, and the reminders with the link to the tovholder's page;
    returns how many mails were newly queued."""
    from engine.services.digests import queue_weekly_digests
    from engine.services.tovholder_mail import queue_tovholder_reminders

    return queue_weekly_digests(fbh, now) + queue_tovholder_reminders(fbh, now)


def budget_end(fbh: Fbh, now: datetime) -> object:
    """The check of programmes that ended under their time budget."""
    from engine.services.timelog import check_budget_end

    return check_budget_end(fbh, now)


def standard_jobs() -> LeaderJobs:
    """What ``fbh serve`` runs."""
    return LeaderJobs(digest=weekly_mail, budget=budget_end)
