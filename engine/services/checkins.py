"""Maintenance check-ins after a programme: queue their mail, show them, close them.

The offsets come from the base workflow's ``checkins`` (in the programme's snapshot); each is
a mail to the tovholder, due months after the end, and a task that ``fbh milestone done ID
checkin-N`` closes (engine/domain/checkins.py). Its mail is queued in the outbox only once it
falls due within ``mail.queue_ahead_days``, as reminders are: the programme keeps the due time
of its first check-in not queued yet (``programmes.checkins_from``), from which the top-up
(engine/services/horizon.py) queues the rest. A move or a handover queues them anew, from
now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from engine.domain.checkins import CheckinView, checkin_views, due_at
from engine.domain.horizon import BEFORE_MARK, Split
from engine.domain.model import ProgrammeState
from engine.domain.workdays import WorkingCalendar
from engine.domain.workflow import WorkflowDefinition
from engine.store.store import Programme, Tx
from notifications import checkins as checkin_mail
from notifications.compose import ProgrammeFacts


@dataclass(frozen=True)
class CheckinDesk:
    """The check-ins of programmes, on one calendar and time zone."""

    calendar: WorkingCalendar
    tz: ZoneInfo
    ahead: timedelta  # mail.queue_ahead_days

    def split(
        self,
        facts: ProgrammeFacts,
        base: WorkflowDefinition,
        end: date,
        since: datetime,
        now: datetime,
        *,
        closed: frozenset[int] = frozenset(),
        dues: Sequence[tuple[int, datetime]] | None = None,
    ) -> Split:
        """The open check-in mails due after ``since``, split at the horizon from ``now``: the
        drafts to queue now, and the due time of the first of the others (``dues``:
        :meth:`dues`, when the caller has it)."""
        until = now + self.ahead
        queue, later = [], []
        for months, due in self.dues(base, end) if dues is None else dues:
            if months in closed or due <= since:
                continue
            if due < until:
                queue.append(checkin_mail.checkin_draft(facts, months, due))
            else:
                later.append(due)
        return Split(queue, min(later, default=None))

    def dues(self, base: WorkflowDefinition, end: date) -> list[tuple[int, datetime]]:
        """Each check-in of a programme ending on ``end``, with when it goes out."""
        return [(months, due_at(end, months, self.calendar, self.tz)) for months in base.checkins]

    def requeue(self, tx: Tx, loaded: _Loaded, now: datetime) -> None:
        """Queue the programme's open check-ins anew (after a move or a handover), those due
        within the horizon now; the programme keeps the mark of the others."""
        programme = loaded.programme
        assert programme.id is not None
        tx.outbox.cancel_by_prefix(checkin_mail.prefix(programme.id))
        if programme.state == ProgrammeState.CANCELLED.value:
            self.stop(tx, programme)
            return
        closed = frozenset(tx.checkins.closed(programme.id))
        self._queue(tx, loaded, now, now, closed)

    def top_up(self, tx: Tx, loaded: _Loaded, now: datetime) -> int:
        """Queue the check-ins from the programme's mark on that have come within the horizon;
        returns how many rows were new (a dedupe key queued already is skipped)."""
        programme = loaded.programme
        mark = programme.checkins_from
        assert programme.id is not None
        if mark is None or mark >= now + self.ahead:
            return 0
        if programme.state == ProgrammeState.CANCELLED.value:
            self.stop(tx, programme)
            return 0
        closed = frozenset(tx.checkins.closed(programme.id))
        return self._queue(tx, loaded, mark - BEFORE_MARK, now, closed)

    def stop(self, tx: Tx, programme: Programme) -> None:
        """Nothing more to queue (a cancelled programme)."""
        if programme.checkins_from is not None:
            programme.checkins_from = None
            tx.save(programme)

    def _queue(
        self, tx: Tx, loaded: _Loaded, since: datetime, now: datetime, closed: frozenset[int]
    ) -> int:
        programme = loaded.programme
        split = self.split(loaded.facts, loaded.base, programme.end_date, since, now, closed=closed)
        programme.checkins_from = split.mark
        tx.save(programme)
        return tx.outbox.enqueue(split.queue, now)

    def views(
        self, tx: Tx, programme: Programme, base: WorkflowDefinition
    ) -> tuple[CheckinView, ...]:
        assert programme.id is not None
        if not base.checkins:
            return ()
        return checkin_views(
            base.checkins,
            programme.end_date,
            tx.checkins.closed(programme.id),
            tx.checkins.sent_months(programme.id),
            programme.state,
            self.calendar,
            self.tz,
        )


class _Loaded(Protocol):
    """What :meth:`CheckinDesk.requeue` reads of a loaded programme."""

    @property
    def programme(self) -> Programme: ...

    @property
    def facts(self) -> ProgrammeFacts: ...

    @property
    def base(self) -> WorkflowDefinition: ...
