"""The delivery loop: catch-up decisions for late rows, then claim → render → send in batches
until nothing is due; then arm the next wake-up at the outbox's next due time."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from engine.daemon.core import RETRY_AFTER_ERROR, DaemonCore
from engine.domain.catchup import EXPIRY_PATHS, LateMessage, Verdict, decide, expiry
from engine.domain.errors import FbhError

log = logging.getLogger(__name__)


class Delivery(DaemonCore):
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
        options = self.options
        async with self.transport.session():  # SMTP: connections kept open for the whole pass
            try:
                while not self._stop.is_set():
                    report = await self.worker.deliver_due(
                        self.clock(), limit=options.batch_size, lease=options.claim_ahead
                    )
                    sent += report.sent
                    if report.claimed == 0:
                        break
                    if report.stalled or report.auth_failed:
                        stalled = True  # the transport is down or refuses fbh: wait for retries
                        break
                    await asyncio.sleep(0)
            finally:
                self.worker.give_back()  # rows claimed ahead that this pass did not send
        if sent:
            log.info("sent %d message(s)", sent)
        self._arm_delivery(stalled)
        return sent

    def _arm_delivery(self, stalled: bool) -> None:
        with self.fbh.store.transaction() as tx:
            due = tx.outbox.next_due()
        now = self.clock()
        if due is not None and stalled:
            due = max(due, now + timedelta(seconds=self.settings.mail.retry_base_seconds))
        paused_until = self.worker.paused_until  # the mail server rejected fbh's login
        if due is not None and paused_until is not None:
            due = max(due, paused_until)
        self._arm(self._deliver, due)

    def catch_up(self, now: datetime) -> int:
        """Record late rows the policy does not send as ``missed``; returns how many."""
        policy, missed = self.options.catch_up.policy(), 0
        with self.fbh.store.transaction() as tx:
            for row in tx.outbox.late_pending(now, EXPIRY_PATHS):
                late = LateMessage(row.kind, row.due_at, expiry(row.kind, row.payload, self._tz))
                decision = decide(late, now, policy)
                if decision.verdict is Verdict.MISS and tx.outbox.mark_missed(
                    row, now, actor=self.name, reason=decision.reason
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
