"""The leader's work: time-driven transitions, the request SLA check, the weekly digest and the
budget check, and catching up on them when a daemon becomes the leader."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from engine.daemon.core import RETRY_AFTER_ERROR, DaemonCore
from engine.daemon.jobs import WEEKLY_DIGEST_EVENT, Job
from engine.daemon.timer import fired_this_week, last_fired
from engine.domain.errors import FbhError

log = logging.getLogger(__name__)


class LeaderWork(DaemonCore):
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
        """Queue the timed mail that has come within the horizon (on every wake-up, so at
        least every ``poll_seconds``), fire due transitions, then arm the next wake-up."""
        now = self.clock()
        if self.fbh.top_up(now):  # reminders may be due at once after a time without a leader
            self._deliver.event.set()
        fired = self.fbh.transitions.advance(now)
        for what in fired:
            log.info("%s", what)
        # Not Fbh.next_transition, which computes every live programme's timeline: a bound
        # from a few aggregates in SQL, never later than the next transition.
        with self.fbh.store.transaction() as tx:
            self._arm(self._advance, tx.schedule.next_transition_bound(now, self._tz))
        return fired

    async def _sla_job(self) -> None:
        if self.is_leader and not self._stop.is_set():
            await self._leader_job("SLA check", lambda now: self.fbh.requests.check_sla(now))

    async def digest_job(self) -> None:
        hook = self.jobs.digest
        if hook is not None and self.is_leader and not self._stop.is_set():
            await self._leader_job("weekly digest", lambda now: self._weekly_digest(hook, now))

    def _weekly_digest(self, hook: Job, now: datetime) -> None:
        """Queue the week's digests, then record that the job ran (an event), so a leader
        that starts later this week does not build every digest again only to find them
        queued: with thousands of programmes that takes minutes."""
        queued = hook(self.fbh, now)
        with self.fbh.store.transaction() as tx:
            tx.events.add(
                at=now,
                actor=self.name,
                entity="daemon",
                event=WEEKLY_DIGEST_EVENT,
                data={"queued": queued if isinstance(queued, int) else None},
            )

    async def _budget_job(self) -> None:
        hook = self.jobs.budget
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

    async def became_leader(self) -> None:
        """Catch up on what only the leader does: transitions, SLA notices, a missed digest."""
        log.info("%s leads", self.name)
        self._advance.event.set()
        await self._sla_job()
        await self._budget_job()
        trigger = self.digest_trigger()
        now = self.clock()
        if (
            trigger is not None
            and self.options.catch_up.mode("digest") == "send"
            and fired_this_week(trigger, now, self._tz)
            and not self._digest_ran_since(last_fired(trigger, now))
        ):
            await self.digest_job()

    def _digest_ran_since(self, moment: datetime | None) -> bool:
        """Whether some leader ran the weekly digest job at or after ``moment``."""
        if moment is None:
            return False
        with self.fbh.store.transaction() as tx:
            return tx.events.exists_since(WEEKLY_DIGEST_EVENT, moment)
