"""Leadership and presence: keep or try for the lead, write the heartbeat, notice steps of the
wall clock, and (as the leader) send the claims of stopped daemons again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from engine.daemon.leader import LeaderWork
from engine.domain.errors import FbhError
from notifications.outbox import DEFAULT_STUCK_AFTER

log = logging.getLogger(__name__)

CLOCK_STEP_SECONDS = 2.0  # the wall clock moved this much more (or less) than elapsed time
PRUNE_AFTER = timedelta(days=1)


class Presence(LeaderWork):
    # ----- leadership and heartbeats ----------------------------------------------------------

    async def _lead_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.options.leader_check_seconds)
            if self._stop.is_set():
                return
            self._check_clock()
            was = self._leading  # not is_leader: that turns false once the lease lapses
            now_leader = self._leading = await self.leadership.check()
            try:
                self._heartbeat(force=was != now_leader)
                if now_leader:
                    self._release_orphans(self.clock())
            except FbhError as exc:
                log.warning("heartbeat failed: %s", exc)
            except Exception:
                log.exception("heartbeat failed unexpectedly")
            if now_leader and not was:
                await self.became_leader()
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
            tx.daemons.beat(
                name=self.name,
                host=self.host,
                pid=self.pid,
                started_at=self.started_at,
                now=now,
                leader=self.is_leader,
            )
            if self.is_leader:
                tx.daemons.prune(now - PRUNE_AFTER)
        self._last_beat = now

    def _release_orphans(self, now: datetime, *, at_start: bool = False) -> None:
        """Claims of daemons without a fresh heartbeat go back to pending (the leader's job).

        Never a live daemon's: only claims of daemons unseen for ``heartbeat_timeout_seconds``.
        The one exception is SQLite at start: the daemon holds the lock on the database file,
        so no other daemon runs, and what others claimed was left by one that died."""
        if not self.is_leader:
            return
        if at_start and self.backend.single_daemon:
            alive = {self.name}
        else:
            fresh = now - timedelta(seconds=self.options.heartbeat_timeout_seconds)
            with self.fbh.store.transaction() as tx:
                alive = tx.daemons.alive_names(fresh) | {self.name}
        with self.fbh.store.transaction() as tx:
            released = tx.outbox.release_orphans(now, alive)
        stuck = self.worker.release_stuck(now, DEFAULT_STUCK_AFTER)
        for ident, worker in released:
            log.warning(
                "outbox row %s was in flight at %s, which stopped: sending again", ident, worker
            )
        if released or stuck:
            self._deliver.event.set()
