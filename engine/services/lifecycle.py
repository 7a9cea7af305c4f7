"""A programme's life cycle: cancel, pause, resume and move to a new start date."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from engine.domain.model import (
    MAX_REASON,
    MilestoneKind,
    MilestoneState,
    ProgrammeState,
    check_text,
)
from engine.domain.planning import BusySlot, Plan, PlannedMilestone, plan_programme
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import DateChange, ProgrammeView
from engine.services.context import LoadedProgramme, ServiceContext
from engine.services.mailings import Mailings
from engine.store.store import Milestone, Tx
from notifications import compose
from notifications.compose import ProgrammeFacts

log = logging.getLogger(__name__)

_TIMED_KINDS = ("reminder", "task_due", "participant_reminder", "headcount")


@dataclass(frozen=True)
class MoveResult:
    programme_id: int
    old_start: date
    new_start: date
    changes: tuple[DateChange, ...]
    applied: bool


class Lifecycle:
    """Commands on a whole programme, each in one transaction under its row lock."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings

    def cancel(self, programme_id: int, now: datetime, *, reason: str = "") -> ProgrammeView:
        reason = check_text(reason, "reason", MAX_REASON, required=False, multiline=True)
        with self.ctx.store.transaction() as tx:
            loaded = self.ctx.load(tx, tx.programmes.get(programme_id, for_update=True))
            self.ctx.fire_programme(tx, now, loaded.programme, "cancel", data={"reason": reason})
            tx.outbox.cancel_pending(programme_id)
            self.ctx.checkins.stop(tx, loaded.programme)
            for row in loaded.milestones:
                if MILESTONE.can(MilestoneState(row.state), "cancel"):
                    self.mailings.cancel_meeting_invites(tx, loaded, row, now)
                    self.ctx.fire_milestone(tx, now, loaded.programme, row, "cancel")
            tx.outbox.enqueue(
                compose.cancellation_notice_drafts(loaded.facts, reason=reason, now=now), now
            )
        return self.ctx.show(programme_id)

    def pause(self, programme_id: int, now: datetime) -> ProgrammeView:
        """Hold reminders and notices. Invites stay in calendars: a pause keeps the dates."""
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            self.ctx.fire_programme(tx, now, programme, "pause")
            held = tx.outbox.cancel_pending(programme_id, kinds=_TIMED_KINDS)
            programme.revision += 1
            tx.save(programme)
            log.info("programme %s paused; %d reminders held", programme_id, held)
        return self.ctx.show(programme_id)

    def resume(self, programme_id: int, now: datetime) -> ProgrammeView:
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            self.ctx.fire_programme(tx, now, programme, "resume")
            programme.revision += 1
            tx.save(programme)
            loaded = self.ctx.load(tx, programme)
            for row in loaded.milestones:
                if not MILESTONE.is_terminal(MilestoneState(row.state)):
                    self.mailings.queue_timed(tx, loaded, row, now)
            self.ctx.start_if_due(tx, loaded, now)
        return self.ctx.show(programme_id)

    def move(
        self, programme_id: int, new_start: date, now: datetime, *, dry_run: bool = False
    ) -> MoveResult:
        """Re-plan every milestone that is not done from a new start date."""
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "move")
            loaded = self.ctx.load(tx, programme)
            plan = self._replan(tx, loaded, new_start)
            changes = tuple(self._changes(loaded.milestones, plan))
            old_start = programme.start_date
            if not dry_run:
                self._apply_move(tx, loaded, plan, changes, now)
        return MoveResult(programme_id, old_start, new_start, changes, applied=not dry_run)

    def _replan(self, tx: Tx, loaded: LoadedProgramme, new_start: date) -> Plan:
        fixed = {
            (row.workflow, row.key): self.ctx.planned(row)
            for row in loaded.milestones
            if MILESTONE.is_terminal(MilestoneState(row.state))
        }
        busy = [
            BusySlot(b.start, b.end)
            for b in tx.programmes.consultant_busy(
                loaded.programme.consultant_id, exclude_programme=loaded.programme.id
            )
        ]
        return plan_programme(
            loaded.base,
            new_start,
            self.ctx.calendar,
            extensions=loaded.extensions,
            busy=busy,
            tz=self.ctx.tz,
            fixed=fixed,
        )

    def _changes(self, rows: Sequence[Milestone], plan: Plan) -> list[DateChange]:
        changes = []
        for row in rows:
            before = self.ctx.planned(row)
            after = plan.milestone(row.workflow, row.key)
            for name in ("window_start", "window_end", "start"):
                old, new = getattr(before, name), getattr(after, name)
                if old != new:
                    changes.append(
                        DateChange(row.workflow, row.key, row.title, name, _fmt(old), _fmt(new))
                    )
        return changes

    def _apply_move(
        self,
        tx: Tx,
        loaded: LoadedProgramme,
        plan: Plan,
        changes: Sequence[DateChange],
        now: datetime,
    ) -> None:
        programme = loaded.programme
        old_start = programme.start_date
        programme.start_date, programme.end_date = plan.start, plan.end
        programme.revision += 1
        programme.updated_at = now
        tx.save(programme)
        self.ctx.event(
            tx,
            now,
            programme,
            "move",
            programme.state,
            programme.state,
            data={
                "from": old_start.isoformat(),
                "to": plan.start.isoformat(),
                "changes": [c.to_json() for c in changes],
            },
        )
        loaded.facts = _with_revision(loaded.facts, programme.revision)
        changed = {(c.workflow, c.key) for c in changes}
        for row in loaded.milestones:
            if (row.workflow, row.key) not in changed:
                continue
            self._apply_planned(row, plan.milestone(row.workflow, row.key), now)
            self.mailings.requeue_changed(tx, loaded, row, now)
            self.ctx.event(tx, now, programme, "move", row.state, row.state, milestone=row)
        self.mailings.refresh_summary(tx, loaded, now)
        self.ctx.checkins.requeue(tx, loaded, now)

    def _apply_planned(self, row: Milestone, planned: PlannedMilestone, now: datetime) -> None:
        time_changed = row.start_at != planned.start
        row.window_start, row.window_end = planned.window_start, planned.window_end
        row.start_at, row.end_at = planned.start, planned.end
        row.pinned = False
        row.updated_at = now
        if time_changed and row.kind == MilestoneKind.MEETING.value:
            row.sequence += 1


def _with_revision(facts: ProgrammeFacts, revision: int) -> ProgrammeFacts:
    return replace(facts, revision=revision)


def _fmt(value: date | datetime | None) -> str:
    if value is None:
        return "-"
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else value.isoformat()
