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
from datetime import UTC, date, datetime, time, timedelta
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
    """The first transition after ``now``, with its programme (of two at the same moment, the
    one of the lower programme id; within a programme, the first in :func:`due_steps` order).

    Each programme's first future moment is found without building its steps, on UTC instants
    (a day's local midnight converted once per date): for 100k milestones, building and sorting
    every step took most of ``fbh status``'s CPU. The winner's steps are then built as before."""
    instants = _Instants(tz)
    best: tuple[datetime, int, ProgrammeClock] | None = None
    for programme in programmes:
        moment = _first_after(programme, now, instants)
        if moment is not None and (best is None or (moment, programme.id) < best[:2]):
            best = (moment, programme.id, programme)
    if best is None:
        return None
    programme = best[2]
    future = [step for step in _steps(programme, tz) if step.at > now]
    return programme, min(future, key=lambda step: step.at)


class _Instants:
    """Local midnights as UTC instants, each date converted once."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._midnights: dict[date, datetime] = {}
        self._next_days: dict[date, datetime] = {}

    def midnight(self, day: date) -> datetime:
        found = self._midnights.get(day)
        if found is None:
            found = self._midnights[day] = midnight(day, self.tz).astimezone(UTC)
        return found

    def day_after(self, day: date) -> datetime:
        """The midnight that ends ``day``."""
        found = self._next_days.get(day)
        if found is None:
            found = self._next_days[day] = self.midnight(day + timedelta(days=1))
        return found


def _first_after(programme: ProgrammeClock, now: datetime, instants: _Instants) -> datetime | None:
    """The earliest of ``_steps(programme)`` after ``now``, as a UTC instant: the same moments
    as :func:`_steps` and :func:`_milestone_steps` compute, without the steps."""
    if programme.state not in LIVE_STATES:
        return None
    started = instants.midnight(programme.start)
    moments = [instants.day_after(programme.end)]
    if programme.state == ProgrammeState.PLANNED.value:
        moments.append(started)
    meeting, planned = MilestoneKind.MEETING.value, MilestoneState.PLANNED.value
    for milestone in programme.milestones:
        if milestone.state not in _OPEN_MILESTONE:
            continue
        if milestone.kind == meeting:
            if milestone.end_at is not None:
                moments.append(max(milestone.end_at.astimezone(UTC), started))
            continue
        closes = instants.day_after(milestone.window_end)
        moments.append(closes)
        opens = max(instants.midnight(milestone.window_start), started)
        if milestone.state == planned and opens < closes:
            moments.append(opens)
    return min((moment for moment in moments if moment > now), default=None)


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
