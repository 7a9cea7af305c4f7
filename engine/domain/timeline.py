"""Time-driven transitions: which state changes the passing of time has made due.

Pure functions over a programme's dates and its milestones' states and ``now``; the service
(:meth:`engine.services.facade.Fbh.advance`) applies them through the state machines, and the
daemon's leader calls it whenever the next moment computed by :func:`next_moment` comes.

The rules (times are local, in the configured zone; a day begins at 00:00):

* a programme ``start``\\ s on its start date, and ``complete``\\ s the day after its end date;
* a task's window opening ``schedule``\\ s it; the day after its window closes, a task not done
  ``expire``\\ s (state ``overdue``);
* a meeting is ``done`` once its end has passed. fbh assumes a meeting is held unless someone
  skipped or moved it before its end; the event log records these as the daemon's doing
  (``data.auto = true``), so a person can tell them from a consultant's own "done".

A paused programme stands still: nothing fires until it is resumed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.domain.model import MilestoneKind, MilestoneState, ProgrammeState

LIVE_STATES = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value)
_OPEN_MILESTONE = (MilestoneState.PLANNED.value, MilestoneState.SCHEDULED.value)


@dataclass(frozen=True)
class MilestoneClock:
    """What the timeline needs of one milestone."""

    id: int
    kind: str
    state: str
    window_start: date
    window_end: date
    end_at: datetime | None
    key: str = ""


@dataclass(frozen=True)
class ProgrammeClock:
    """What the timeline needs of one programme."""

    id: int
    state: str
    start: date
    end: date
    milestones: tuple[MilestoneClock, ...]


@dataclass(frozen=True)
class Step:
    """One transition to fire: on the programme (``milestone_id`` None) or a milestone."""

    event: str
    at: datetime  # when it became due
    milestone_id: int | None = None


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def due_steps(programme: ProgrammeClock, now: datetime, tz: ZoneInfo) -> list[Step]:
    """Every transition due at ``now``, in the order to fire them."""
    return [step for step in _steps(programme, tz) if step.at <= now]


def next_moment(
    programmes: Iterable[ProgrammeClock], now: datetime, tz: ZoneInfo
) -> datetime | None:
    """The earliest moment after ``now`` at which some transition falls due."""
    found = next_step(programmes, now, tz)
    return found[1].at if found else None


def next_step(
    programmes: Iterable[ProgrammeClock], now: datetime, tz: ZoneInfo
) -> tuple[ProgrammeClock, Step] | None:
    """The first transition after ``now``, with its programme."""
    future = [(s.at, p.id, p, s) for p in programmes for s in _steps(p, tz) if s.at > now]
    if not future:
        return None
    _, _, programme, step = min(future, key=lambda item: (item[0], item[1]))
    return programme, step


def describe(programme: ProgrammeClock, step: Step) -> str:
    """``programme 3: kortlaegning expire`` or ``programme 3: start``."""
    if step.milestone_id is None:
        return f"programme {programme.id}: {step.event}"
    keys = {m.id: m.key for m in programme.milestones}
    name = keys.get(step.milestone_id) or step.milestone_id
    return f"programme {programme.id}: {name} {step.event}"


def _steps(programme: ProgrammeClock, tz: ZoneInfo) -> list[Step]:
    if programme.state not in LIVE_STATES:
        return []
    start = midnight(programme.start, tz)
    steps: list[Step] = []
    if programme.state == ProgrammeState.PLANNED.value:
        steps.append(Step("start", start))
    for milestone in programme.milestones:
        steps.extend(_milestone_steps(milestone, start, tz))
    steps.append(Step("complete", midnight(programme.end + timedelta(days=1), tz)))
    return sorted(steps, key=_order)


def _order(step: Step) -> tuple[datetime, int]:
    rank = {"start": 0, "complete": 2}.get(step.event, 1)
    return step.at, rank


def _milestone_steps(milestone: MilestoneClock, started: datetime, tz: ZoneInfo) -> list[Step]:
    if milestone.state not in _OPEN_MILESTONE:
        return []
    if milestone.kind == MilestoneKind.MEETING.value:
        if milestone.end_at is None:
            return []
        return [Step("done", max(milestone.end_at, started), milestone.id)]
    closes = midnight(milestone.window_end + timedelta(days=1), tz)
    opens = max(midnight(milestone.window_start, tz), started)
    if milestone.state == MilestoneState.PLANNED.value and opens < closes:
        return [Step("schedule", opens, milestone.id), Step("expire", closes, milestone.id)]
    return [Step("expire", closes, milestone.id)]
