"""The daemon's inbox loop: read the inbox continuously (``fbh serve``).

Only the leader reads, so two daemons do not fetch the same messages (the inbox ledger's
unique Message-ID would keep them from applying one twice anyway). With IMAP IDLE the loop
wakes when mail arrives; otherwise it polls every ``[inbox] poll_seconds``. An unreachable
mailbox is logged and retried; a message that cannot be understood is set aside by the pass
itself (engine/services/inbox.py), so nothing here stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from engine.domain.errors import FbhError
from engine.services.facade import Fbh
from engine.services.inbox import InboxDesk, make_mailbox
from notifications.mailboxes import Mailbox

log = logging.getLogger(__name__)

IDLE_SLICE_SECONDS = 5.0  # one IDLE at most this long, so a stop is noticed soon
RETRY_SECONDS = 30.0


class InboxLoop:
    def __init__(
        self,
        fbh: Fbh,
        *,
        clock: Callable[[], datetime],
        is_leader: Callable[[], bool],
        on_change: Callable[[], None],
        stop: asyncio.Event,
    ) -> None:
        self.desk = InboxDesk(fbh)
        self.settings = fbh.settings
        self.clock = clock
        self.is_leader = is_leader
        self.on_change = on_change
        self.stop = stop
        self._mailbox: Mailbox | None = None

    async def run(self) -> None:
        poll = self.settings.inbox.poll_seconds
        try:
            while not self.stop.is_set():
                if not self.is_leader():
                    await self._sleep(poll)
                    continue
                try:
                    full = await asyncio.to_thread(self._pass)
                    if not full:
                        await self._wait(poll)
                except FbhError as exc:
                    log.warning("inbox: %s; retrying in %.0f s", exc, RETRY_SECONDS)
                    self._close()
                    await self._sleep(RETRY_SECONDS)
                except Exception:
                    log.exception("inbox pass failed unexpectedly")
                    self._close()
                    await self._sleep(RETRY_SECONDS)
        finally:
            self._close()

    def _pass(self) -> bool:
        """One pass; True when it was full (more may be waiting)."""
        if self._mailbox is None:
            self._mailbox = make_mailbox(self.settings)
        report = self.desk.process(self._mailbox, self.clock())
        if report.handled:
            log.info("inbox: %d processed, %d set aside", report.processed, report.set_aside)
            self.on_change()
        return report.handled + report.already >= self.settings.inbox.batch_size

    async def _wait(self, seconds: float) -> None:
        mailbox = self._mailbox
        if mailbox is None or not await asyncio.to_thread(lambda: mailbox.can_wait):
            await self._sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            if await asyncio.to_thread(mailbox.wait, IDLE_SLICE_SECONDS):
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    def _close(self) -> None:
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            mailbox.close()
