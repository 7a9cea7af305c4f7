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
  batches of ``daemon.batch_size`` until nothing is due; then arm at ``Tx.next_due()``.
* **advance** (leader): fire the transitions time has made due (``Fbh.advance``), then arm at
  the next moment one may fall due (``daemons.next_transition_bound``: aggregates in SQL, so
  a wake-up costs a few queries however many programmes there are).
* **lead** (every ``leader_check_seconds``): keep or try for the lead; write the heartbeat
  every ``heartbeat_seconds``; the leader releases claims of daemons without a fresh heartbeat.
* **watch**: LISTEN/NOTIFY (PostgreSQL) or the change counter ``PRAGMA user_version``
  (SQLite) wakes deliver and advance when a process commits a change to the schedule.

Timer jobs: the one-shot wake-ups, a safety poll every ``poll_seconds``, and cron jobs in the
engine's time zone: the request SLA check (``daemon.sla_cron``), the weekly digest
(``[digest]`` weekday and time; ``engine.services.digests.queue_weekly_digests``) and the check of
programmes that ended under their time budget (``daemon.budget_cron``;
``engine.services.timelog.check_budget_end``). A new leader runs these at once too (each queues its
mail once), the digest only if this week's digest time has passed, no leader has run it
since (the ``weekly-digest`` event it writes) and ``daemon.catch_up.digest`` is ``send``.

Stopping (SIGTERM/SIGINT → :meth:`Daemon.stop`): no new claims; the batch in flight gets
``shutdown_seconds`` to finish, then is cancelled; this daemon's remaining claims go back to
``pending`` (``Tx.release_claims``); the heartbeat row is removed and the lead released.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from engine.backends.leadership import Leadership, make_leadership
from engine.backends.watch import Watcher, make_watcher
from engine.domain import clock as default_clock
from engine.domain.catchup import EXPIRY_PATHS, LateMessage, Verdict, decide, expiry
from engine.domain.errors import FbhError
from engine.services.programmes import Fbh
from engine.services.requests import RequestDesk
from engine.store import daemons as daemon_store
from engine.store.database import redact
from notifications.outbox import DEFAULT_STUCK_AFTER, OutboxWorker
from notifications.transports import Transport

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
RETRY_AFTER_ERROR = timedelta(seconds=5)
QUIT_SECONDS = 2.0  # how long a loop other than delivery may take to end when stopping
PRUNE_AFTER = timedelta(days=1)
CLOCK_STEP_SECONDS = 2.0  # the wall clock moved this much more (or less) than elapsed time
WEEKLY_DIGEST_EVENT = "weekly-digest"  # the event a leader writes after the weekly digest job

Clock = Callable[[], datetime]
Hook = Callable[[Fbh, datetime], object]  # a leader's periodic job: hook(fbh, now)


def daemon_name(configured: str | None = None) -> str:
    """The daemon's name: its heartbeat row and the worker id of its outbox claims."""
    label = configured or f"{socket.gethostname()}:{os.getpid()}"
    return f"{daemon_store.DAEMON_PREFIX}{label}:{uuid.uuid4().hex[:6]}"


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


@dataclass
class _Wake:
    """A loop's wake-up event and the timer job that sets it."""

    job_id: str
    event: asyncio.Event


class Daemon:
    """One ``fbh serve`` process. ``run()`` until ``stop()``."""

    def __init__(
        self,
        fbh: Fbh,
        transport: Transport,
        *,
        clock: Clock = default_clock.utcnow,
        leadership: Leadership | None = None,
        watcher: Watcher | None = None,
        name: str | None = None,
    ) -> None:
        self.fbh = fbh
        self.settings = fbh.settings
        self.options = fbh.settings.daemon
        self.clock = clock
        self.name = name or daemon_name(self.options.name)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = clock()
        url = self.settings.database_url
        self.backend = make_url(url).get_backend_name()
        self.leadership = leadership or make_leadership(
            url, timeout=max(self.options.leader_check_seconds, 1.0)
        )
        self.watcher = watcher or make_watcher(url, interval=self.options.watch_seconds)
        self.transport = transport
        self.worker = OutboxWorker(fbh.store, transport, self.settings, worker_id=self.name)
        self.requests = RequestDesk(fbh)
        self.timer = Timer()
        self._deliver = _Wake("wake-deliver", asyncio.Event())
        self._advance = _Wake("wake-advance", asyncio.Event())
        self._stop = asyncio.Event()
        self._last_beat: datetime | None = None
        self._last_tick: tuple[datetime, float] | None = None  # wall clock, monotonic clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.digest_hook: Hook | None = _hook("engine.services.digests", "queue_weekly_digests")
        self.budget_hook: Hook | None = _hook("engine.services.timelog", "check_budget_end")

    # ----- life cycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the daemon to stop (safe to call from a signal handler)."""
        if not self._stop.is_set():
            log.info("stopping: no new claims; finishing the batch in flight")
        self._stop.set()

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    async def run(self) -> None:
        """Serve until :meth:`stop`; raises ConflictError if SQLite has a daemon already."""
        await self.leadership.start()
        try:
            self._heartbeat(force=True)
            self._release_orphans(self.clock())
            self._schedule_jobs()
            self._check_clock()  # the reference for noticing steps of the wall clock
            self._tasks = {
                "deliver": asyncio.create_task(self._deliver_loop(), name="deliver"),
                "advance": asyncio.create_task(self._advance_loop(), name="advance"),
                "lead": asyncio.create_task(self._lead_loop(), name="lead"),
                "watch": asyncio.create_task(self.watcher.run(self._changed), name="watch"),
            }
            if self.is_leader:
                await self._became_leader()
            self._wake_all()
            log.info(
                "fbh serve ready: %s on %s (%s), %s, delivering via %s",
                self.name,
                redact(self.settings.database_url),
                self.backend,
                "leader" if self.is_leader else "follower",
                type(self.transport).__name__,
            )
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
                released = tx.release_claims(self.name, now)
                daemon_store.forget(tx, self.name)
            if released:
                log.warning("released %d message(s) in flight; they will be sent again", released)
        except FbhError as exc:
            log.error("could not release this daemon's claims: %s", exc)
        await self.leadership.close()
        log.info("stopped")

    def _schedule_jobs(self) -> None:
        self.timer.start()
        self.timer.every("poll", self.options.poll_seconds, self._poll)
        tz = self.settings.tz
        sla = CronTrigger.from_crontab(self.options.sla_cron, timezone=tz)
        self.timer.add("sla-check", sla, self._sla_job)
        digest = self._digest_trigger()
        if digest is not None:
            self.timer.add("weekly-digest", digest, self._digest_job)
        if self.budget_hook is not None:
            budget = CronTrigger.from_crontab(self.options.budget_cron, timezone=tz)
            self.timer.add("budget-end", budget, self._budget_job)

    def _digest_trigger(self) -> CronTrigger | None:
        when = getattr(self.settings, "digest_time", None)
        if self.digest_hook is None or when is None:
            return None
        return CronTrigger(
            day_of_week=when.weekday,
            hour=when.at.hour,
            minute=when.at.minute,
            timezone=self.settings.tz,
        )

    # ----- waking -----------------------------------------------------------------------------

    def _changed(self) -> None:
        """Another process committed a change: read the due times again."""
        self._wake_all()

    def _wake_all(self) -> None:
        self._deliver.event.set()
        self._advance.event.set()

    async def _poll(self) -> None:
        self._wake_all()

    def _arm(self, wake: _Wake, when: datetime | None) -> None:
        if self._stop.is_set():
            return
        if when is None:
            self.timer.cancel(wake.job_id)
        else:
            self.timer.wake_at(wake.job_id, when, wake.event)

    # ----- delivery ---------------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        while True:
            await self._deliver.event.wait()
            self._deliver.event.clear()
            if self._stop.is_set():
                return
            if self.options.deliver == "leader" and not self.is_leader:
                continue
            try:
                await self.deliver_pass()
            except FbhError as exc:
                log.warning("delivery pass failed: %s; retrying shortly", exc)
                self._arm(self._deliver, self.clock() + RETRY_AFTER_ERROR)
            except Exception:
                log.exception("delivery pass failed unexpectedly; retrying shortly")
                self._arm(self._deliver, self.clock() + RETRY_AFTER_ERROR)

    async def deliver_pass(self) -> int:
        """Catch up on late rows, send everything due, arm the next wake-up; returns sent."""
        self.catch_up(self.clock())
        sent, stalled = 0, False
        while not self._stop.is_set():
            report = await self.worker.deliver_due(self.clock(), limit=self.options.batch_size)
            sent += report.sent
            if report.claimed == 0:
                break
            if report.stalled:
                stalled = True  # the transport is down: wait for the retry times
                break
            await asyncio.sleep(0)
        if sent:
            log.info("sent %d message(s)", sent)
        self._arm_delivery(stalled)
        return sent

    def _arm_delivery(self, stalled: bool) -> None:
        with self.fbh.store.transaction() as tx:
            due = tx.next_due()
        now = self.clock()
        if due is not None and stalled:
            due = max(due, now + timedelta(seconds=self.settings.mail.retry_base_seconds))
        self._arm(self._deliver, due)

    def catch_up(self, now: datetime) -> int:
        """Record late rows the policy does not send as ``missed``; returns how many."""
        policy, missed = self.options.catch_up, 0
        with self.fbh.store.transaction() as tx:
            for row in daemon_store.late_pending(tx, now, EXPIRY_PATHS):
                late = LateMessage(row.kind, row.due_at, expiry(row.kind, row.payload, self._tz))
                decision = decide(late, now, policy)
                if decision.verdict is Verdict.MISS and daemon_store.mark_missed(
                    tx, row, now, actor=self.name, reason=decision.reason
                ):
                    missed += 1
                    log.warning(
                        "outbox row %s (%s to %s, due %s) missed: %s",
                        row.id,
                        row.kind,
                        row.recipient,
                        row.due_at.isoformat(timespec="minutes"),
                        decision.reason,
                    )
        return missed

    @property
    def _tz(self) -> ZoneInfo:
        return self.settings.tz

    # ----- leader work ------------------------------------------------------------------------

    async def _advance_loop(self) -> None:
        while True:
            await self._advance.event.wait()
            self._advance.event.clear()
            if self._stop.is_set():
                return
            if not self.is_leader:
                continue
            try:
                self.advance()
            except FbhError as exc:
                log.warning("transitions failed: %s; retrying shortly", exc)
                self._arm(self._advance, self.clock() + RETRY_AFTER_ERROR)
            except Exception:
                log.exception("transitions failed unexpectedly; retrying shortly")
                self._arm(self._advance, self.clock() + RETRY_AFTER_ERROR)

    def advance(self) -> list[str]:
        """Fire due transitions, then arm the next wake-up."""
        now = self.clock()
        fired = self.fbh.advance(now)
        for what in fired:
            log.info("%s", what)
        # Not Fbh.next_transition, which computes every live programme's timeline: a bound
        # from a few aggregates in SQL, never later than the next transition.
        with self.fbh.store.transaction() as tx:
            self._arm(self._advance, daemon_store.next_transition_bound(tx, now, self._tz))
        return fired

    async def _sla_job(self) -> None:
        if self.is_leader and not self._stop.is_set():
            await self._leader_job("SLA check", lambda now: self.requests.check_sla(now))

    async def _digest_job(self) -> None:
        hook = self.digest_hook
        if hook is not None and self.is_leader and not self._stop.is_set():
            await self._leader_job("weekly digest", lambda now: self._weekly_digest(hook, now))

    def _weekly_digest(self, hook: Hook, now: datetime) -> None:
        """Queue the week's digests, then record that the job ran (an event), so a leader
        that starts later this week does not build every digest again only to find them
        queued: with thousands of programmes that takes minutes."""
        queued = hook(self.fbh, now)
        with self.fbh.store.transaction() as tx:
            tx.add_event(
                at=now,
                actor=self.name,
                entity="daemon",
                event=WEEKLY_DIGEST_EVENT,
                data={"queued": queued if isinstance(queued, int) else None},
            )

    async def _budget_job(self) -> None:
        hook = self.budget_hook
        if hook is not None and self.is_leader and not self._stop.is_set():
            await self._leader_job("budget check", lambda now: hook(self.fbh, now))

    async def _leader_job(self, what: str, job: Callable[[datetime], object]) -> None:
        try:
            job(self.clock())
        except FbhError as exc:
            log.warning("%s failed: %s", what, exc)
        except Exception:
            log.exception("%s failed unexpectedly", what)
        self._deliver.event.set()

    async def _became_leader(self) -> None:
        """Catch up on what only the leader does: transitions, SLA notices, a missed digest."""
        log.info("%s leads", self.name)
        self._advance.event.set()
        await self._sla_job()
        await self._budget_job()
        trigger = self._digest_trigger()
        now = self.clock()
        if (
            trigger is not None
            and self.options.catch_up.mode("digest") == "send"
            and fired_this_week(trigger, now, self._tz)
            and not self._digest_ran_since(last_fired(trigger, now))
        ):
            await self._digest_job()

    def _digest_ran_since(self, moment: datetime | None) -> bool:
        """Whether some leader ran the weekly digest job at or after ``moment``."""
        if moment is None:
            return False
        with self.fbh.store.transaction() as tx:
            return daemon_store.event_since(tx, WEEKLY_DIGEST_EVENT, moment)

    # ----- leadership and heartbeats ----------------------------------------------------------

    async def _lead_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.options.leader_check_seconds)
            if self._stop.is_set():
                return
            self._check_clock()
            was = self.is_leader
            now_leader = await self.leadership.check()
            try:
                self._heartbeat(force=was != now_leader)
                if now_leader:
                    self._release_orphans(self.clock())
            except FbhError as exc:
                log.warning("heartbeat failed: %s", exc)
            except Exception:
                log.exception("heartbeat failed unexpectedly")
            if now_leader and not was:
                await self._became_leader()
            elif was and not now_leader:
                log.warning("%s no longer leads", self.name)
                self.timer.cancel(self._advance.job_id)

    def _check_clock(self) -> None:
        """Notice a step of the wall clock (NTP, a resumed VM, ``date -s``): APScheduler waits
        on the monotonic clock for as long as it computed on the old wall time, so after a
        step backwards and then forwards it would sleep past everything that fell due. On a
        step, restart the safety poll, re-arm every timer from the database and run the
        delivery pass (its catch-up decides what is late) and the transitions at once."""
        wall, elapsed = self.clock(), time.monotonic()
        last, self._last_tick = self._last_tick, (wall, elapsed)
        if last is None:
            return
        step = (wall - last[0]).total_seconds() - (elapsed - last[1])
        if abs(step) < CLOCK_STEP_SECONDS:
            return
        log.warning("the wall clock stepped %+.0f s; re-arming the timers", step)
        self._last_beat = None  # a heartbeat on the new time at once
        self.timer.every("poll", self.options.poll_seconds, self._poll)
        self._wake_all()
        if self.timer.scheduler.running:
            self.timer.scheduler.wakeup()

    def _heartbeat(self, *, force: bool = False) -> None:
        now = self.clock()
        due = self._last_beat is None or (now - self._last_beat).total_seconds() >= (
            self.options.heartbeat_seconds
        )
        if not (due or force):
            return
        with self.fbh.store.transaction() as tx:
            daemon_store.beat(
                tx,
                name=self.name,
                host=self.host,
                pid=self.pid,
                started_at=self.started_at,
                now=now,
                leader=self.is_leader,
            )
            if self.is_leader:
                daemon_store.prune(tx, now - PRUNE_AFTER)
        self._last_beat = now

    def _release_orphans(self, now: datetime) -> None:
        """Claims of daemons without a fresh heartbeat go back to pending (the leader's job);
        on SQLite the one daemon knows every other claim is an orphan."""
        if not self.is_leader:
            return
        if self.backend == "sqlite":
            alive = {self.name}
        else:
            fresh = now - timedelta(seconds=self.options.heartbeat_timeout_seconds)
            with self.fbh.store.transaction() as tx:
                alive = daemon_store.alive_names(tx, fresh) | {self.name}
        with self.fbh.store.transaction() as tx:
            released = daemon_store.release_orphans(tx, now, alive)
        stuck = self.worker.release_stuck(now, DEFAULT_STUCK_AFTER)
        for ident, worker in released:
            log.warning(
                "outbox row %s was in flight at %s, which stopped: sending again", ident, worker
            )
        if released or stuck:
            self._deliver.event.set()


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    """Let ``task`` finish within ``grace`` seconds, else cancel it."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("%s did not finish in %.0f s; cancelling it", task.get_name(), grace)
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


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


def _hook(module: str, name: str) -> Hook | None:
    """``module.name(fbh, now)`` when that module provides it (the digests and time budgets
    are another part of fbh; the daemon only times them)."""
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None
