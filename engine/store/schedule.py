"""The timeline's inputs, read in SQL: the clocks of live programmes, which of them may have
a transition due, and when the next one can come at the earliest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, type_coerce
from sqlalchemy import select as columns  # many columns: sqlmodel's select types up to four
from sqlmodel import col, select

from engine.domain.model import MilestoneKind, MilestoneState, ProgrammeState
from engine.domain.timeline import _OPEN_MILESTONE as OPEN_MILESTONE  # the states time moves on
from engine.domain.timeline import LIVE_STATES, MilestoneClock, ProgrammeClock, midnight
from engine.store.base import Repository
from engine.store.tables import Milestone, Programme


class Schedule(Repository):
    """``tx.schedule``: what the daemon's timer needs to know."""

    def live_clocks(self, programme_ids: Sequence[int] | None = None) -> list[ProgrammeClock]:
        """The timeline inputs of every live programme (or of ``programme_ids``), in two queries
        of the columns the timeline needs (not whole rows: a programme carries its workflow
        snapshot)."""
        chosen = None if programme_ids is None else col(Programme.id).in_(programme_ids)
        return self._clocks(chosen)

    def next_step_clocks(self, now: datetime, tz: ZoneInfo) -> list[ProgrammeClock]:
        """The clocks of the live programmes that may hold the next transition after ``now``:
        a subset of :meth:`live_clocks`, in its order, on which
        :func:`engine.domain.timeline.next_step` finds what it finds on them all (``fbh
        status``: every programme's clock was most of its time on 100k milestones).

        The first ``complete`` after ``now`` (the day after the earliest end date not yet
        passed: its midnight ``M``) is a transition, so the next is no later than ``M``. Every
        transition is at one of the moments below, or at its programme's start when that is
        later (engine/domain/timeline.py), so only a programme with one of them, or its
        start, in ``(now, M]`` can hold it."""
        today = now.astimezone(tz).date()
        live = col(Programme.state).in_(LIVE_STATES)
        first_end = self.session.execute(
            columns(func.min(col(Programme.end_date))).where(live, col(Programme.end_date) >= today)
        ).scalar()
        if first_end is None:
            return self._clocks(None)
        last_day = first_end + timedelta(days=1)
        horizon = midnight(last_day, tz)

        def in_days(day: Any) -> Any:  # midnight(day) in (now, M]
            return and_(day > today, day <= last_day)

        def day_after_in_days(day: Any) -> Any:  # midnight(day + 1) in (now, M], in SQL
            return and_(day >= today, day <= first_end)

        meeting = col(Milestone.kind) == MilestoneKind.MEETING.value
        soon = columns(col(Milestone.programme_id)).where(
            col(Milestone.state).in_(OPEN_MILESTONE),
            or_(
                and_(meeting, col(Milestone.end_at) > now, col(Milestone.end_at) <= horizon),
                and_(~meeting, in_days(col(Milestone.window_start))),
                and_(~meeting, day_after_in_days(col(Milestone.window_end))),
            ),
        )
        candidates = columns(col(Programme.id)).where(
            live,
            or_(
                in_days(col(Programme.start_date)),
                day_after_in_days(col(Programme.end_date)),
                col(Programme.id).in_(soon),
            ),
        )
        return self._clocks(col(Programme.id).in_(candidates))

    def _clocks(self, chosen: Any) -> list[ProgrammeClock]:
        live = col(Programme.state).in_(LIVE_STATES)
        programmes = columns(
            col(Programme.id),
            col(Programme.state),
            col(Programme.start_date),
            col(Programme.end_date),
        ).where(live)
        milestones = (
            columns(
                col(Milestone.programme_id),
                col(Milestone.id),
                col(Milestone.kind),
                col(Milestone.state),
                col(Milestone.window_start),
                col(Milestone.window_end),
                col(Milestone.end_at),
                col(Milestone.key),
            )
            .join(Programme, col(Programme.id) == Milestone.programme_id)
            .where(live)
            .order_by(col(Milestone.position), col(Milestone.id))
        )
        if chosen is not None:
            programmes = programmes.where(chosen)
            milestones = milestones.where(chosen)
        rows = list(self.session.execute(programmes.order_by(col(Programme.id))))
        by_programme: dict[int, list[MilestoneClock]] = defaultdict(list)
        if rows:
            for programme_id, *fields in self.session.execute(milestones):
                by_programme[programme_id].append(MilestoneClock(*fields))
        return [
            ProgrammeClock(ident, state, start, end, tuple(by_programme.get(ident, ())))
            for ident, state, start, end in rows
            if ident is not None
        ]

    def due_programme_ids(self, now: datetime, tz: ZoneInfo) -> list[int]:
        """The live programmes that may have a transition due at ``now``, found in SQL.

        A superset of those :func:`engine.domain.timeline.due_steps` finds something for (the caller
        checks each under its row lock): a planned programme whose start date has come, one whose
        end date has passed, or an open milestone that is a meeting whose end has passed, or a
        task whose window has opened (still planned) or closed. Dates compare with the local
        date of ``now``: a step on day D is due from 00:00 local on D.
        """
        today = now.astimezone(tz).date()
        meeting = col(Milestone.kind) == MilestoneKind.MEETING.value
        milestone_due = select(Milestone.programme_id).where(
            col(Milestone.state).in_(OPEN_MILESTONE),
            or_(
                and_(meeting, col(Milestone.end_at) <= now),
                and_(
                    ~meeting,
                    col(Milestone.state) == MilestoneState.PLANNED.value,
                    col(Milestone.window_start) <= today,
                ),
                and_(~meeting, col(Milestone.window_end) < today),
            ),
        )
        statement = (
            select(Programme.id)
            .where(
                col(Programme.state).in_(LIVE_STATES),
                or_(
                    and_(
                        col(Programme.state) == ProgrammeState.PLANNED.value,
                        col(Programme.start_date) <= today,
                    ),
                    col(Programme.end_date) < today,
                    col(Programme.id).in_(milestone_due),
                ),
            )
            .order_by(col(Programme.id))
        )
        return [ident for ident in self.session.exec(statement) if ident is not None]

    def next_transition_bound(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """A moment after ``now`` no later than the next transition of any live programme (None:
        there is none), from aggregates in SQL instead of every programme's timeline.

        The candidates are the first future start of a planned programme, end of a live one,
        end of an open meeting, opening of a planned task's window and closing of an open task's
        window. Each transition is at one of these moments or later (a step never comes before its
        programme's start), so a timer armed here never fires late. The milestone aggregates do
        not look at the programme's state (a join that a planner without statistics turns into a
        nested loop over every programme): a paused programme's milestone can make the timer
        fire early, once, and find nothing due.
        """
        today = now.astimezone(tz).date()
        live = col(Programme.state).in_(LIVE_STATES)
        open_ = col(Milestone.state).in_(OPEN_MILESTONE)
        meeting = col(Milestone.kind) == MilestoneKind.MEETING.value
        task = col(Milestone.kind) != MilestoneKind.MEETING.value
        planned = col(Milestone.state) == MilestoneState.PLANNED.value
        starts, ends = self.session.exec(
            select(
                func.min(
                    _when(
                        col(Programme.state) == ProgrammeState.PLANNED.value,
                        col(Programme.start_date) > today,
                        col(Programme.start_date),
                    )
                ),
                func.min(_when(col(Programme.end_date) >= today, col(Programme.end_date))),
            ).where(live)
        ).one()
        meeting_end, opens, closes = self.session.exec(
            select(
                func.min(_when(meeting, col(Milestone.end_at) > now, col(Milestone.end_at))),
                func.min(
                    _when(
                        task,
                        planned,
                        col(Milestone.window_start) > today,
                        col(Milestone.window_start),
                    )
                ),
                func.min(
                    _when(task, col(Milestone.window_end) >= today, col(Milestone.window_end))
                ),
            ).where(open_)
        ).one()
        candidates = [
            midnight(starts, tz) if starts is not None else None,
            midnight(ends + timedelta(days=1), tz) if ends is not None else None,
            meeting_end,
            midnight(opens, tz) if opens is not None else None,
            midnight(closes + timedelta(days=1), tz) if closes is not None else None,
        ]
        found = [moment for moment in candidates if moment is not None]
        return min(found) if found else None


def _when(*conditions_and_value: Any) -> Any:
    """``CASE WHEN all conditions THEN value END``, typed as ``value`` (for ``min``)."""
    *conditions, value = conditions_and_value
    return type_coerce(case((and_(*conditions), value)), value.type)
