"""One milestone at a time: done, skip, and rescheduling a meeting."""

from __future__ import annotations

from datetime import datetime

from engine.domain.errors import ConflictError, InvalidInputError
from engine.domain.model import MilestoneKind, MilestoneState, ProgrammeState
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import ProgrammeView
from engine.services.context import ServiceContext
from engine.services.mailings import Mailings
from engine.store.store import Milestone, Programme, Tx


class Milestones:
    """Commands on one milestone of a programme, each in one transaction."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings

    def milestone_done(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "done", now)

    def milestone_skip(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "skip", now)

    def _close_milestone(
        self, programme_id: int, key: str, event: str, now: datetime
    ) -> ProgrammeView:
        workflow, _, name = key.rpartition(".")
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            row = tx.programmes.milestone(programme_id, name, workflow or None)
            loaded = self.ctx.load(tx, programme)
            MILESTONE.fire(MilestoneState(row.state), event)
            assert row.id is not None
            tx.outbox.cancel_pending(programme_id, milestone_id=row.id)
            if event == "skip":
                self.mailings.cancel_meeting_invites(tx, loaded, row, now)
            self.ctx.fire_milestone(tx, now, programme, row, event)
            self.ctx.complete_if_finished(tx, loaded, now)
        return self.ctx.show(programme_id)

    def reschedule(
        self,
        programme_id: int,
        key: str,
        new_start: datetime,
        now: datetime,
        *,
        force: bool = False,
    ) -> ProgrammeView:
        """Move one meeting. Outside its window, on a day off or over another meeting of the
        consultant, it needs ``force``."""
        workflow, _, name = key.rpartition(".")
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            row = tx.programmes.milestone(programme_id, name, workflow or None)
            if (
                row.kind != MilestoneKind.MEETING.value
                or row.start_at is None
                or row.end_at is None
            ):
                raise InvalidInputError(
                    f"{row.key} is a task: only meetings have a time to reschedule"
                )
            MILESTONE.fire(MilestoneState(row.state), "reschedule")
            start = new_start.astimezone(self.ctx.tz)
            end = start + (row.end_at - row.start_at)
            if not force:
                self._check_reschedule(tx, programme, row, start, end)
            loaded = self.ctx.load(tx, programme)
            before = row.start_at
            if before == start:
                return self.ctx.view(tx, programme)
            row.start_at, row.end_at, row.pinned, row.updated_at = start, end, True, now
            row.sequence += 1
            self.mailings.requeue_changed(tx, loaded, row, now)
            self.ctx.fire_milestone(
                tx,
                now,
                programme,
                row,
                "reschedule",
                data={
                    "from": before.astimezone(self.ctx.tz).isoformat(),
                    "to": start.isoformat(),
                    "forced": force,
                },
            )
        return self.ctx.show(programme_id)

    def _check_reschedule(
        self, tx: Tx, programme: Programme, row: Milestone, start: datetime, end: datetime
    ) -> None:
        day = start.date()
        window = f"weeks {row.week_first}–{row.week_last}: {row.window_start} … {row.window_end}"
        if not row.window_start <= day <= row.window_end:
            raise ConflictError(
                f"{row.key}: {day} is outside its window ({window}); use --force to move it anyway"
            )
        if not self.ctx.calendar.is_working_day(day):
            why = self.ctx.calendar.holiday_name(day) or "a weekend"
            raise ConflictError(f"{row.key}: {day} is not a working day ({why}); use --force")
        for busy in tx.programmes.consultant_busy(programme.consultant_id):
            if busy.start == row.start_at and busy.end == row.end_at:
                continue
            if busy.start < end and start < busy.end:
                raise ConflictError(
                    f"{row.key}: the consultant has another meeting "
                    f"{busy.start.astimezone(self.ctx.tz):%Y-%m-%d %H:%M}–"
                    f"{busy.end.astimezone(self.ctx.tz):%H:%M}; use --force to double-book"
                )
