"""One milestone at a time: done, skip, and rescheduling a meeting."""

from __future__ import annotations

from datetime import date, datetime

from engine.domain.checkins import checkin_key, months_of
from engine.domain.errors import ConflictError, InvalidInputError
from engine.domain.i18n import _
from engine.domain.milestone_ref import find_milestone
from engine.domain.model import MilestoneKind, MilestoneState, ProgrammeState
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import ProgrammeView
from engine.domain.workflow import MilestoneDef
from engine.services.context import ServiceContext
from engine.services.mailings import Mailings
from engine.store.store import Milestone, Programme, Tx
from notifications.checkins import prefix as checkin_prefix


class Milestones:
    """Commands on one milestone of a programme, each in one transaction."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings

    def milestone_done(
        self, programme_id: int, key: str, now: datetime, *, force: bool = False
    ) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "done", now, force=force)

    def milestone_skip(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "skip", now, force=True)

    def _close_milestone(
        self, programme_id: int, key: str, event: str, now: datetime, *, force: bool
    ) -> ProgrammeView:
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            if self._close_checkin(tx, programme, key, event, now):
                return self.ctx.view(tx, programme, attendees=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            rows = tx.programmes.milestones(programme_id)
            row = find_milestone(rows, key, programme_id)
            loaded = self.ctx.load(tx, programme)
            MILESTONE.fire(MilestoneState(row.state), event)
            if not force:
                self._check_done(rows, row, now)
            assert row.id is not None
            tx.outbox.cancel_pending(programme_id, milestone_id=row.id)
            if event == "skip":
                self.mailings.cancel_meeting_invites(tx, loaded, row, now)
            self.ctx.fire_milestone(tx, now, programme, row, event)
            self.ctx.complete_if_finished(tx, loaded, now)
        return self.ctx.show(programme_id)

    def _close_checkin(
        self, tx: Tx, programme: Programme, key: str, event: str, now: datetime
    ) -> bool:
        """``checkin-N``: close the maintenance check-in (also after the programme completed;
        not when it was cancelled). False when ``key`` names no check-in of the programme."""
        months = months_of(key)
        if months is None or any(r.key == key for r in tx.programmes.milestones(programme.id or 0)):
            return False
        loaded = self.ctx.load(tx, programme)
        if months not in loaded.base.checkins:
            return False
        if programme.state == ProgrammeState.CANCELLED.value:
            raise ConflictError(
                _("programme {id} is cancelled: its check-ins are cancelled too").format(
                    id=programme.id
                )
            )
        state = MilestoneState.DONE.value if event == "done" else MilestoneState.SKIPPED.value
        assert programme.id is not None
        tx.checkins.close(programme.id, months, state, now)
        tx.outbox.cancel_by_prefix(checkin_prefix(programme.id, months))
        self.ctx.event(
            tx, now, programme, event, None, state, data={"checkin": checkin_key(months)}
        )
        return True

    def _check_done(self, rows: list[Milestone], row: Milestone, now: datetime) -> None:
        """Done early or out of order needs ``force``: it withdraws reminders and invites."""
        today = self.ctx.today(now)
        if row.start_at is not None and row.start_at > now:
            when = row.start_at.astimezone(self.ctx.tz)
            raise ConflictError(
                _(
                    "{key} is a meeting on {when} that has not taken place; "
                    "use --force to mark it done anyway"
                ).format(key=row.key, when=f"{when:%Y-%m-%d %H:%M}")
            )
        if row.start_at is None and row.window_start > today:
            raise ConflictError(
                _("{key}: its window opens on {day}; use --force to mark it done anyway").format(
                    key=row.key, day=row.window_start
                )
            )
        open_states = {s.value for s in (MilestoneState.PLANNED, MilestoneState.SCHEDULED)}
        open_states.add(MilestoneState.OVERDUE.value)
        before = [m.key for m in rows if m.position < row.position and m.state in open_states]
        if before:
            raise ConflictError(
                _(
                    "{key}: milestones before it are still open ({open}); "
                    "use --force to mark it done anyway"
                ).format(key=row.key, open=", ".join(before))
            )

    def reschedule(
        self,
        programme_id: int,
        key: str,
        new_start: datetime | date,
        now: datetime,
        *,
        force: bool = False,
    ) -> ProgrammeView:
        """Move one meeting. A date alone keeps the definition's time of day. Outside its
        window, on a day off, outside working hours, across midnight or over another meeting
        of the consultant, it needs ``force``."""
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            row = find_milestone(tx.programmes.milestones(programme_id), key, programme_id)
            if (
                row.kind != MilestoneKind.MEETING.value
                or row.start_at is None
                or row.end_at is None
            ):
                raise InvalidInputError(
                    _("{key} is a task: only meetings have a time to reschedule").format(
                        key=row.key
                    )
                )
            MILESTONE.fire(MilestoneState(row.state), "reschedule")
            loaded = self.ctx.load(tx, programme)
            if not isinstance(new_start, datetime):
                new_start = self._at_usual_time(loaded.definition_of(row), row, new_start)
            start = new_start.astimezone(self.ctx.tz)
            end = start + (row.end_at - row.start_at)
            if not force:
                self._check_reschedule(tx, programme, row, start, end)
            before = row.start_at
            if before == start:
                return self.ctx.view(tx, programme)
            row.start_at, row.end_at, row.pinned, row.updated_at = start, end, True, now
            row.sequence += 1
            self.mailings.requeue_changed(tx, loaded, row, now)
            self.mailings.refresh_summary(tx, loaded, now)
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

    def _at_usual_time(self, definition: MilestoneDef, row: Milestone, day: date) -> datetime:
        """``day`` at the definition's local time (or the meeting's current one)."""
        assert row.start_at is not None
        local = definition.local_time or row.start_at.astimezone(self.ctx.tz).time()
        return datetime.combine(day, local, tzinfo=self.ctx.tz)

    def _check_hours(self, row: Milestone, start: datetime, end: datetime) -> None:
        engine = self.ctx.settings.engine
        hours = f"{engine.workday_start:%H:%M}–{engine.workday_end:%H:%M}"
        when = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
        if end.date() != start.date():
            raise ConflictError(
                _("{key}: {when} runs past midnight (to {end}); use --force").format(
                    key=row.key, when=when, end=f"{end:%Y-%m-%d %H:%M}"
                )
            )
        if start.time() < engine.workday_start or end.time() > engine.workday_end:
            raise ConflictError(
                _("{key}: {when} is outside working hours ({hours}); use --force").format(
                    key=row.key, when=when, hours=hours
                )
            )

    def _check_reschedule(
        self, tx: Tx, programme: Programme, row: Milestone, start: datetime, end: datetime
    ) -> None:
        self._check_hours(row, start, end)
        day = start.date()
        window = f"weeks {row.week_first}–{row.week_last}: {row.window_start} … {row.window_end}"
        if not row.window_start <= day <= row.window_end:
            raise ConflictError(
                _(
                    "{key}: {day} is outside its window ({window}); use --force to move it anyway"
                ).format(key=row.key, day=day, window=window)
            )
        if not self.ctx.calendar.is_working_day(day):
            why = self.ctx.calendar.holiday_name(day) or "a weekend"
            raise ConflictError(
                _("{key}: {day} is not a working day ({why}); use --force").format(
                    key=row.key, day=day, why=why
                )
            )
        for busy in tx.programmes.consultant_busy(programme.consultant_id):
            if busy.start == row.start_at and busy.end == row.end_at:
                continue
            if busy.start < end and start < busy.end:
                raise ConflictError(
                    _(
                        "{key}: the consultant has another meeting {start}–{end}; "
                        "use --force to double-book"
                    ).format(
                        key=row.key,
                        start=f"{busy.start.astimezone(self.ctx.tz):%Y-%m-%d %H:%M}",
                        end=f"{busy.end.astimezone(self.ctx.tz):%H:%M}",
                    )
                )
