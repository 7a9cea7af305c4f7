"""Time-driven transitions: what the passing of time makes due (the daemon's leader runs
these)."""

from __future__ import annotations

import logging
from datetime import datetime

from engine.domain import timeline
from engine.domain.errors import FbhError
from engine.domain.model import MilestoneState, ProgrammeState
from engine.domain.states import MILESTONE, PROGRAMME
from engine.services.context import ServiceContext
from engine.store.store import Tx

log = logging.getLogger(__name__)


class Transitions:
    """Fires the transitions that are due, one programme per transaction."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def advance(self, now: datetime) -> list[str]:
        """Fire every transition the passing of time has made due (rules in
        :mod:`engine.domain.timeline`): one transaction per programme, under its row lock, with the
        states read again inside it, so a second leader finds nothing left to do."""
        with self.ctx.store.transaction() as tx:
            due = tx.schedule.due_programme_ids(now, self.ctx.tz)  # a superset, from SQL
        fired: list[str] = []
        for programme_id in due:
            try:
                with self.ctx.store.transaction() as tx:
                    fired += self._advance_one(tx, programme_id, now)
            except FbhError as exc:  # one programme must not hold up the others
                log.error("programme %s: time-driven transitions failed: %s", programme_id, exc)
        return fired

    def _advance_one(self, tx: Tx, programme_id: int, now: datetime) -> list[str]:
        programme = tx.programmes.get(programme_id, for_update=True)
        clocks = tx.schedule.live_clocks([programme_id])
        steps = timeline.due_steps(clocks[0], now, self.ctx.tz) if clocks else []
        if not steps:
            return []
        loaded = self.ctx.load(tx, programme)
        rows = {row.id: row for row in loaded.milestones}
        fired = []
        for step in steps:
            data = {"auto": True, "due": step.at.isoformat()}
            if step.milestone_id is None:
                if PROGRAMME.can(ProgrammeState(programme.state), step.event):
                    self.ctx.fire_programme(tx, now, programme, step.event, data=data)
                    fired.append(f"programme {programme_id}: {step.event}")
                continue
            row = rows[step.milestone_id]
            if MILESTONE.can(MilestoneState(row.state), step.event):
                self.ctx.fire_milestone(tx, now, programme, row, step.event, data=data)
                fired.append(f"programme {programme_id}: {row.key} {step.event}")
        if programme.state == ProgrammeState.RUNNING.value:
            self.ctx.complete_if_finished(tx, loaded, now)
        return fired

    def next_transition(self, now: datetime) -> datetime | None:
        """When :meth:`advance` next has something to do."""
        with self.ctx.store.transaction() as tx:
            return timeline.next_moment(tx.schedule.live_clocks(), now, self.ctx.tz)
