"""The top-up of timed mail: reminders, task notices and check-ins are queued only
``mail.queue_ahead_days`` ahead (:meth:`engine.services.mailings.Mailings.queue_timed`,
:meth:`engine.services.checkins.CheckinDesk.requeue`, and creation); each milestone keeps the
due time of its first reminder or notice not queued yet (``milestones.timed_from``), each
programme that of its first check-in (``programmes.checkins_from``). :meth:`TimedMail.top_up`
queues, from those marks on, what has come within the horizon since.

It starts from the milestone's mark, not from now: after a time without a daemon, the
reminders that fell due meanwhile are queued with their own due times, and the delivery's
catch-up then records them as missed (or sends them, as its policy says), exactly as if they
had been queued when the milestone was planned. The dedupe keys make a second run, or two
processes at once, queue nothing twice. The leader runs it before the transitions
(``Fbh.advance``), and ``fbh outbox send`` before it sends.
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.domain.errors import FbhError
from engine.domain.horizon import BEFORE_MARK, horizon_end
from engine.domain.model import MilestoneState, ProgrammeState
from engine.domain.states import MILESTONE
from engine.services.context import ServiceContext
from engine.services.mailings import Mailings
from engine.store.store import Tx

log = logging.getLogger(__name__)

_QUEUEING = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value)


class TimedMail:
    """Tops up the queued reminders, task notices and check-ins to the horizon."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings

    def top_up(self, now: datetime) -> int:
        """Queue the timed mail that has come within the horizon, one transaction per
        programme under its row lock; returns how many rows were queued."""
        until = horizon_end(now, self.ctx.settings.mail.queue_ahead_days)
        with self.ctx.store.transaction() as tx:
            due = sorted({*tx.programmes.timed_due(until), *tx.programmes.checkins_due(until)})
        queued = 0
        for programme_id in due:
            try:
                with self.ctx.store.transaction() as tx:
                    queued += self._top_up_one(tx, programme_id, until, now)
            except FbhError as exc:  # one programme must not hold up the others
                log.error("programme %s: queueing its reminders failed: %s", programme_id, exc)
        if queued:
            log.info(
                "queued %d reminder(s), task notice(s) and check-in(s) coming within the horizon",
                queued,
            )
        return queued

    def _top_up_one(self, tx: Tx, programme_id: int, until: datetime, now: datetime) -> int:
        programme = tx.programmes.get(programme_id, for_update=True)
        loaded = None
        queued = 0
        mark = programme.checkins_from
        if mark is not None and mark < until:  # check-ins: also after the end
            loaded = self.ctx.load(tx, programme)
            queued += self.ctx.checkins.top_up(tx, loaded, now)
        if programme.state not in _QUEUEING:
            return queued
        loaded = loaded or self.ctx.load(tx, programme)
        for row in loaded.milestones:
            mark = row.timed_from
            if mark is None or mark >= until:
                continue
            if MILESTONE.is_terminal(MilestoneState(row.state)):
                row.timed_from = None
                tx.save(row)
                continue
            queued += self.mailings.queue_timed_from(tx, loaded, row, mark - BEFORE_MARK, now)
        return queued
