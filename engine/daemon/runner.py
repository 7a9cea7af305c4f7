"""``fbh serve``: an APScheduler timer over the database.

The database is the only source of truth; the scheduler (APScheduler 3.11, ``AsyncIOScheduler``
with a ``MemoryJobStore``, UTC) only wakes the daemon. Its jobs are tiny: a one-shot date job
at the next due time read from the database sets an :class:`asyncio.Event`, and a loop task
waiting on that event does the work and arms the next wake-up. Jobs keep
``misfire_grace_time=None`` and ``coalesce=True``: a late timer still fires, once, and the
database decides what is due.

Loops (each an asyncio task):

* **deliver** (every daemon, or only the leader with ``daemon.deliver = "leader"``): catch-up
  decisions for the due rows (:mod:`engine.domain.catchup`), then claim → render → send in
  batches of ``daemon.batch_size`` until nothing is due, over SMTP connections kept for the
  pass (``Transport.session``); then arm at ``Tx.next_due()``.
* **advance** (leader): queue the reminders and task notices that have come within
  ``mail.queue_ahead_days`` (``Fbh.top_up``: at start, and on every wake-up, so at least every
  ``poll_seconds``), fire the transitions time has made due (``Fbh.advance``), then arm at
  the next moment one may fall due (``daemons.next_transition_bound``: aggregates in SQL, so
  a wake-up costs a few queries however many programmes there are).
* **lead** (every ``leader_check_seconds``): keep or try for the lead (on PostgreSQL a lease:
  a leader silent for ``heartbeat_timeout_seconds`` is replaced, see
  :mod:`engine.backends.postgres`); write the heartbeat every ``heartbeat_seconds``; the leader
  releases claims of daemons without a fresh heartbeat (never a live daemon's).
* **render** (every daemon that delivers): render pending mail due within
  ``daemon.render_ahead_seconds`` and keep its bytes in the row
  (:mod:`engine.daemon.prerender`), so at due time delivery only claims and writes.
* **watch**: LISTEN/NOTIFY (PostgreSQL) or the change counter ``PRAGMA user_version``
  (SQLite) wakes deliver and advance when a process commits a change to the schedule.

Timer jobs: the one-shot wake-ups, a safety poll every ``poll_seconds``, and cron jobs in the
engine's time zone: the request SLA check (``daemon.sla_cron``), the weekly digest
(``[digest]`` weekday and time; ``engine.services.digests.queue_weekly_digests``) and the check of
programmes that ended under their time budget (``daemon.budget_cron``;
``engine.services.timelog.check_budget_end``). A new leader runs these at once too (each queues its
mail once), the digest only if this week's digest time has passed, no leader has run it
since (the ``weekly-digest`` event it writes) and ``daemon.catch_up.digest`` is ``send``.
A daemon that leads from its start runs this catch-up in a task right after its ``ready``
line, as its first delivery pass and transitions run: ``ready`` never waits for a digest.

Stopping (SIGTERM/SIGINT → :meth:`Daemon.stop`): no new claims; the batch in flight gets
``shutdown_seconds`` to finish, then is cancelled; this daemon's remaining claims go back to
``pending`` (``tx.outbox.release_claims``); the heartbeat row is removed and the lead released.

The parts: :mod:`engine.daemon.timer` (APScheduler as a timer), :mod:`engine.daemon.jobs` (the
leader's periodic jobs, passed in), :mod:`engine.daemon.core` (shared state and wake-ups),
:mod:`engine.daemon.delivery`, :mod:`engine.daemon.leader` and :mod:`engine.daemon.presence`
(the loops); :class:`Daemon` here puts them together and runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger

from engine.daemon.core import Clock, DaemonCore, daemon_name
from engine.daemon.delivery import Delivery
from engine.daemon.jobs import WEEKLY_DIGEST_EVENT, LeaderJobs, standard_jobs
from engine.daemon.prerender import RenderAhead
from engine.daemon.presence import Presence
from engine.daemon.timer import JOB_DEFAULTS, Timer, fired_this_week, last_fired
from engine.domain.errors import FbhError
from engine.store.database import redact

if TYPE_CHECKING:
    from engine.daemon.inbox import InboxLoop

__all__ = [
    "JOB_DEFAULTS",
    "WEEKLY_DIGEST_EVENT",
    "Clock",
    "Daemon",
    "DaemonCore",
    "LeaderJobs",
    "Timer",
    "daemon_name",
    "fired_this_week",
    "last_fired",
    "standard_jobs",
]

log = logging.getLogger(__name__)

QUIT_SECONDS = 2.0  # how long a loop other than delivery may take to end when stopping


class Daemon(Delivery, Presence, RenderAhead):
    """One ``fbh serve`` process. ``run()`` until ``stop()``."""

    async def run(self) -> None:
        """Serve until :meth:`stop`; raises ConflictError if SQLite has a daemon already."""
        await self.leadership.start()
        try:
            await self.watcher.start()  # before the first read of the due times below
            self._heartbeat(force=True)
            self._leading = self.is_leader
            self._release_orphans(self.clock(), at_start=True)
            self._schedule_jobs()
            self._check_clock()  # the reference for noticing steps of the wall clock
            self._tasks = {
                "deliver": asyncio.create_task(self._deliver_loop(), name="deliver"),
                "advance": asyncio.create_task(self._advance_loop(), name="advance"),
                "lead": asyncio.create_task(self._lead_loop(), name="lead"),
                "watch": asyncio.create_task(self.watcher.run(self._changed), name="watch"),
                "render": asyncio.create_task(self._render_loop(), name="render"),
            }
            if self.settings.inbox.enabled:
                self._tasks["inbox"] = asyncio.create_task(self._run_inbox(), name="inbox")
            if self.is_leader:  # like the first delivery pass and transitions: once serving
                self._tasks["catch-up"] = asyncio.create_task(self.became_leader(), name="catch-up")
            self._wake_all()
            log.info(
                "fbh serve ready: %s on %s (%s), %s, delivering via %s",
                self.name,
                redact(self.settings.database_url),
                self.backend,
                "leader" if self.is_leader else "follower",
                type(self.transport).__name__,
            )
            self.ready.set()
            await self._stop.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        self._stop.set()
        self._wake_all()
        await self.timer.shutdown()
        watch = self._tasks.pop("watch", None)
        if watch is not None:
            watch.cancel()
        deliver = self._tasks.pop("deliver", None)
        if deliver is not None:
            await _finish(deliver, self.options.shutdown_seconds)
        for task in (watch, *self._tasks.values()):
            if task is not None:  # the other loops end at their next wait
                await _finish(task, QUIT_SECONDS)
        self._tasks.clear()
        now = self.clock()
        try:
            self.worker.recover(now)  # outcomes a database error kept from being recorded
            with self.fbh.store.transaction() as tx:
                released = tx.outbox.release_claims(self.name, now)
                tx.daemons.forget(self.name)
            if released:
                log.warning("released %d message(s) in flight; they will be sent again", released)
        except FbhError as exc:
            log.error("could not release this daemon's claims: %s", exc)
        await self.leadership.close()
        log.info("stopped")

    async def _run_inbox(self) -> None:
        await self._inbox().run()

    def _inbox(self) -> InboxLoop:
        """Inbound mail (engine/daemon/inbox.py): what it applies may queue mail to deliver.
        Imported only with ``[inbox]`` enabled (IMAP, iCalendar parsing)."""
        from engine.daemon.inbox import InboxLoop

        return InboxLoop(
            self.fbh,
            clock=self.clock,
            is_leader=lambda: self.is_leader,
            on_change=self._deliver.event.set,
            stop=self._stop,
        )

    def _schedule_jobs(self) -> None:
        self.timer.start()
        self.timer.every("poll", self.options.poll_seconds, self._poll)
        tz = self.settings.tz
        sla = CronTrigger.from_crontab(self.options.sla_cron, timezone=tz)
        self.timer.add("sla-check", sla, self._sla_job)
        digest = self.digest_trigger()
        if digest is not None:
            self.timer.add("weekly-digest", digest, self.digest_job)
        if self.jobs.budget is not None:
            budget = CronTrigger.from_crontab(self.options.budget_cron, timezone=tz)
            self.timer.add("budget-end", budget, self._budget_job)


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    """Let ``task`` finish within ``grace`` seconds, else cancel it."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("%s did not finish in %.0f s; cancelling it", task.get_name(), grace)
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
