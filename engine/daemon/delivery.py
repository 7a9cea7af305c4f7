"""The delivery loop: catch-up decisions for late rows, then claim → send → record in batches
until nothing is due (the next batch claimed while one is sent); then arm the next wake-up at
the outbox's next due time."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from engine.daemon.core import RETRY_AFTER_ERROR, DaemonCore
from engine.domain.catchup import EXPIRY_PATHS, LateMessage, Verdict, decide, expiry
from engine.domain.errors import FbhError
from notifications.outbox import Claimed, SendReport

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
        async with self.transport.session():  # SMTP: connections kept open for the whole pass
            sent, stalled = await self._send_due()
        if sent:
            log.info("sent %d message(s)", sent)
        self._arm_delivery(stalled)
        return sent

    async def _send_due(self) -> tuple[int, bool]:
        """Batches until nothing is due: (sent, whether the transport stalled).

        While a batch is being sent, the next one is claimed (``_claim_ahead``), so the
        mail server is not left waiting for the claim between batches. A batch is still
        recorded before the next one is sent: what a crash can leave sent but unrecorded,
        and send again, stays one batch. A batch claimed ahead is sent only as far as its
        claims are still this daemon's (a daemon frozen meanwhile may have lost them).
        """
        sent = 0
        ahead: Claimed | None = None
        batch: Claimed | None
        try:
            while not self._stop.is_set():
                if ahead is not None:  # still ours? (this daemon may have been frozen)
                    batch, ahead = ahead, None
                    batch = self.worker.confirm(batch)
                    if batch is None:
                        continue
                else:  # nothing claimed ahead: claim now (after any recovery)
                    batch = self.worker.claim_next(self.clock(), limit=self.options.batch_size)
                    if batch is None:
                        break
                report, ahead = await self._send_and_claim(batch)
                sent += report.sent
                if report.stalled or report.auth_failed:
                    return sent, True  # the transport is down or refuses fbh: wait
        finally:
            if ahead is not None:  # claimed, never sent: pending again, no attempt spent
                self.worker.give_back(ahead, self.clock(), "not sent: delivery stopped first")
        return sent, False

    async def _send_and_claim(self, batch: Claimed) -> tuple[SendReport, Claimed | None]:
        """Send ``batch`` and claim the next one meanwhile; both finish before this returns."""
        report, ahead = await asyncio.gather(
            self.worker.send_claimed(batch), self._claim_ahead(), return_exceptions=True
        )
        if isinstance(report, BaseException):
            if isinstance(ahead, Claimed):
                self.worker.give_back(ahead, self.clock(), "not sent: the batch before it failed")
            raise report
        if isinstance(ahead, BaseException):
            raise ahead
        return report, ahead

    async def _claim_ahead(self) -> Claimed | None:
        """The next batch, claimed once the batch in flight has put its first commands on the
        wire; None when sending is paused, a recovery is pending, or nothing is due."""
        await asyncio.sleep(0)
        if self._stop.is_set() or not self.worker.may_claim_ahead:
            return None
        return self.worker.claim(self.clock(), limit=self.options.batch_size)

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
