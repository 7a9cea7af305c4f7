"""Maintenance check-ins after a programme: queue their mail, show them, close them.

The offsets come from the base workflow's ``checkins`` (in the programme's snapshot); each is
a mail to the tovholder, queued in the outbox when the programme is created (due months
later), queued anew when the programme moves or the tovholder is handed over, and a task that
``fbh milestone done ID checkin-N`` closes (engine/domain/checkins.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from engine.domain.checkins import CheckinView, checkin_views, due_at
from engine.domain.model import OutboxDraft, ProgrammeState
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

    def drafts(
        self,
        facts: ProgrammeFacts,
        base: WorkflowDefinition,
        end: date,
        now: datetime,
        *,
        closed: frozenset[int] = frozenset(),
        dues: Sequence[tuple[int, datetime]] | None = None,
    ) -> list[OutboxDraft]:
        """The check-in mails still ahead (``dues``: :meth:`dues`, when the caller has it)."""
        drafts = []
        for months, due in self.dues(base, end) if dues is None else dues:
            if months not in closed and due > now:
                drafts.append(checkin_mail.checkin_draft(facts, months, due))
        return drafts

    def dues(self, base: WorkflowDefinition, end: date) -> list[tuple[int, datetime]]:
        """Each check-in of a programme ending on ``end``, with when it goes out."""
        return [(months, due_at(end, months, self.calendar, self.tz)) for months in base.checkins]

    def requeue(self, tx: Tx, loaded: _Loaded, now: datetime) -> None:
        """Queue the programme's open check-ins anew (after a move or a handover)."""
        programme = loaded.programme
        assert programme.id is not None
        tx.outbox.cancel_by_prefix(checkin_mail.prefix(programme.id))
        if programme.state == ProgrammeState.CANCELLED.value:
            return
        closed = frozenset(tx.checkins.closed(programme.id))
        drafts = self.drafts(loaded.facts, loaded.base, programme.end_date, now, closed=closed)
        tx.outbox.enqueue(drafts, now)

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
