"""Planning: pure functions from (workflow, start date, calendar, busy slots) to a timeline.

Rules (docs/workflows.md, "Week arithmetic in brief"):

* Week 0 is the ISO week containing the start date S; week N is N ISO weeks later.
* The window of weeks a–b is the working days from the Monday of week a to the Friday of
  week b, never before S. An empty window raises :class:`PlanningError` naming the milestone.
* A meeting goes on a working day in its window at the definition's local wall-clock time in
  ``tz`` (so it keeps its local time across DST), on the earliest free day (or the latest for
  ``Placement.LATEST``). It never overlaps a busy slot or another meeting of the same plan
  (half-open intervals), and never starts before a milestone it comes ``after``: the end of a
  meeting, or the first working day (00:00 local) of a task's window. Tasks keep their week
  windows; ``after`` does not move them.
* An extension's milestones are shifted by its ``extends.at_week``; the programme ends on the
  Friday of the last week over the base workflow and its extensions.

Milestones are *placed* in definition order (base workflow first, then the extensions in the
order given), except that a milestone's ``after`` dependencies are placed before it. They are
*output* in timeline order: by ``window_start``, then meetings before tasks, meetings by
start, then definition order.

Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from engine.domain.errors import PlanningError
from engine.domain.i18n import _
from engine.domain.model import MilestoneKind, Placement
from engine.domain.workdays import ClosureMove, WorkingCalendar, week_friday, week_monday
from engine.domain.workflow import MilestoneDef, ReminderDef, WorkflowDefinition

CPH = ZoneInfo("Europe/Copenhagen")

# A task's reminders count back from this local time on the last working day of its window.
TASK_DUE_TIME = time(16, 0)

MilestoneId = tuple[str, str]  # (workflow key, milestone key)


@dataclass(frozen=True)
class BusySlot:
    """A time the consultant is taken, as a half-open interval [start, end) of aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a busy slot needs timezone-aware datetimes")
        if self.end < self.start:
            raise ValueError(f"a busy slot cannot end ({self.end}) before it starts ({self.start})")

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True if [start, end) shares any instant with this slot."""
        return self.start < end and start < self.end


@dataclass(frozen=True)
class PlannedMilestone:
    """One milestone on a programme's timeline.

    ``weeks`` are programme weeks: an extension's milestones are shifted by its ``at_week``.
    ``start``/``end`` are set for meetings only.
    """

    workflow: str
    key: str
    title: str
    kind: MilestoneKind
    weeks: tuple[int, int]
    window_start: date
    window_end: date
    start: datetime | None = None
    end: datetime | None = None
    moved: str | None = None  # why the window left its weeks, in Danish (the JSON's "moved")
    move: ClosureMove | None = None  # the same, to be told in the user's language

    @property
    def ident(self) -> MilestoneId:
        return (self.workflow, self.key)

    @property
    def is_meeting(self) -> bool:
        return self.kind == MilestoneKind.MEETING


@dataclass(frozen=True)
class Plan:
    """A programme's timeline: ``end`` is the Friday of its last week."""

    workflow: str
    start: date
    end: date
    milestones: tuple[PlannedMilestone, ...]
    extensions: tuple[str, ...] = ()

    def milestone(self, workflow: str, key: str) -> PlannedMilestone:
        for planned in self.milestones:
            if planned.workflow == workflow and planned.key == key:
                return planned
        raise KeyError((workflow, key))

    @property
    def meetings(self) -> tuple[PlannedMilestone, ...]:
        return tuple(m for m in self.milestones if m.is_meeting)

    def busy_slots(self) -> tuple[BusySlot, ...]:
        """The meetings of this plan as busy slots, to pass when planning the next one."""
        return tuple(
            BusySlot(m.start, m.end) for m in self.milestones if m.start is not None and m.end
        )

    def clear_of(self, busy: Sequence[BusySlot]) -> bool:
        """No meeting overlaps ``busy``: planned around ``busy``, the plan is this one."""
        return not any(b.overlaps(m.start, m.end) for m in self.busy_slots() for b in busy)


@dataclass(frozen=True)
class _Item:
    """A milestone definition with its place in the programme: offset and definition order."""

    workflow: str
    definition: MilestoneDef
    offset: int
    order: int

    @property
    def ident(self) -> MilestoneId:
        return (self.workflow, self.definition.key)

    @property
    def weeks(self) -> tuple[int, int]:
        return (self.definition.first_week + self.offset, self.definition.last_week + self.offset)

    def error(self, message: str) -> PlanningError:
        return PlanningError(message, workflow=self.workflow, milestone=self.definition.key)


class _BusyIndex:
    """Busy intervals indexed by the local dates they touch, for fast overlap checks."""

    def __init__(self, tz: ZoneInfo, first: date, last: date) -> None:
        self._tz = tz
        self._first = first
        self._last = last
        self._by_day: dict[date, list[BusySlot]] = {}

    def _days(self, start: datetime, end: datetime) -> Iterator[date]:
        day = max(start.astimezone(self._tz).date(), self._first)
        last = min(end.astimezone(self._tz).date(), self._last)
        while day <= last:
            yield day
            day += timedelta(days=1)

    def add(self, slot: BusySlot) -> None:
        for day in self._days(slot.start, slot.end):
            self._by_day.setdefault(day, []).append(slot)

    def is_free(self, start: datetime, end: datetime) -> bool:
        return not any(
            slot.overlaps(start, end)
            for day in self._days(start, end)
            for slot in self._by_day.get(day, ())
        )


_NO_FIXED: Mapping[MilestoneId, PlannedMilestone] = MappingProxyType({})


def plan_programme(
    definition: WorkflowDefinition,
    start: date,
    calendar: WorkingCalendar,
    *,
    extensions: Sequence[WorkflowDefinition] = (),
    busy: Iterable[BusySlot] = (),
    tz: ZoneInfo = CPH,
    fixed: Mapping[MilestoneId, PlannedMilestone] = _NO_FIXED,
) -> Plan:
    """Plan ``definition`` (plus ``extensions``) from ``start``.

    ``busy`` are the consultant's other meetings. ``fixed`` milestones (done ones, manual
    reschedules) are kept verbatim and their times count as busy. Raises
    :class:`PlanningError` for an empty window, a meeting without a free day, a bad extension,
    an unknown or cyclic ``after`` reference, or a fixed milestone that is not in the plan.
    """
    parts = _parts(definition, extensions)
    items = _items(parts)
    _check_fixed(definition.key, items, fixed)
    end = week_friday(start, max(offset + workflow.weeks for workflow, offset in parts))
    index = _BusyIndex(tz, week_monday(start, 0) - timedelta(days=1), end + timedelta(days=1))
    for slot in busy:
        index.add(slot)
    for kept in fixed.values():
        if kept.start is not None and kept.end is not None:
            index.add(BusySlot(kept.start, kept.end))

    placed: dict[MilestoneId, PlannedMilestone] = {}
    for item in _dependency_order(items):
        if item.ident in fixed:
            placed[item.ident] = fixed[item.ident]
            continue
        placed[item.ident] = _plan_item(item, start, calendar, tz, index, placed)

    order = {item.ident: item.order for item in items}
    timeline = sorted(placed.values(), key=lambda m: _timeline_key(m, order[m.ident]))
    return Plan(
        workflow=definition.key,
        start=start,
        end=end,
        milestones=tuple(timeline),
        extensions=tuple(ext.key for ext in extensions),
    )


def _parts(
    definition: WorkflowDefinition, extensions: Sequence[WorkflowDefinition]
) -> list[tuple[WorkflowDefinition, int]]:
    """The base workflow at week offset 0, then each extension at its ``at_week``."""
    parts = [(definition, 0)] + [(ext, _extension_offset(definition, ext)) for ext in extensions]
    keys = [workflow.key for workflow, _ in parts]
    if len(set(keys)) != len(keys):
        raise PlanningError(
            f"a workflow appears more than once: {', '.join(keys)}", workflow=definition.key
        )
    return parts


def _items(parts: Sequence[tuple[WorkflowDefinition, int]]) -> list[_Item]:
    items: list[_Item] = []
    for workflow, offset in parts:
        for milestone in workflow.milestones:
            items.append(_Item(workflow.key, milestone, offset, len(items)))
    return items


def _extension_offset(definition: WorkflowDefinition, extension: WorkflowDefinition) -> int:
    extends = extension.extends
    if extends is None or extends.workflow != definition.key:
        raise PlanningError(
            f"cannot extend {definition.key!r}: it extends "
            f"{extends.workflow if extends else 'no workflow'}",
            workflow=extension.key,
        )
    return extends.at_week


def _check_fixed(
    workflow: str, items: Sequence[_Item], fixed: Mapping[MilestoneId, PlannedMilestone]
) -> None:
    known = {item.ident for item in items}
    for ident, kept in fixed.items():
        if ident not in known or kept.ident != ident:
            raise PlanningError(
                f"fixed milestone {ident[0]}.{ident[1]} is not part of this plan", workflow=workflow
            )


def _dependency_order(items: Sequence[_Item]) -> list[_Item]:
    """Items in definition order, each preceded by the not yet ordered items it comes after."""
    by_ident = {item.ident: item for item in items}
    ordered: list[_Item] = []
    done: set[MilestoneId] = set()
    visiting: list[MilestoneId] = []

    def visit(item: _Item) -> None:
        ident = item.ident
        if ident in done:
            return
        if ident in visiting:
            cycle = " → ".join(f"{w}.{k}" for w, k in [*visiting[visiting.index(ident) :], ident])
            raise item.error(f"'after' dependencies form a cycle: {cycle}")
        visiting.append(ident)
        for dependency in _dependencies(item, by_ident):
            visit(by_ident[dependency])
        visiting.pop()
        done.add(ident)
        ordered.append(item)

    for item in items:
        visit(item)
    return ordered


def _dependencies(item: _Item, by_ident: Mapping[MilestoneId, _Item]) -> list[MilestoneId]:
    idents = [(item.workflow, key) for key in item.definition.after]
    for ident in idents:
        if ident not in by_ident:
            raise item.error(f"comes after unknown milestone {ident[1]!r}")
    return idents


def _window(
    item: _Item, start: date, calendar: WorkingCalendar
) -> tuple[list[date], ClosureMove | None]:
    """The open working days of the item's weeks, and why they moved (None: they did not).

    Working days inside a closure period are left out, and the window gains as many working
    days after its end as the closure took from it.
    """
    first_week, last_week = item.weeks
    first = max(week_monday(start, first_week), start)
    last = week_friday(start, last_week)
    days = calendar.working_days(first, last)
    if not days:
        _no_working_day(item, start, first, last)
    opened, closed = calendar.past_closures(days)
    if not closed:
        return days, None
    closure = calendar.describe_closure(closed[0])
    move = ClosureMove(closure, len(closed), (opened[0], opened[-1]), (days[0], days[-1]))
    return opened, move


def _no_working_day(item: _Item, start: date, first: date, last: date) -> NoReturn:
    monday = week_monday(start, item.weeks[0])
    message = _("no working day in {weeks} ({first} … {last})").format(
        weeks=_weeks_text(item.weeks), first=monday, last=last
    )
    if first > monday:
        message += _(" on or after the start {start}").format(start=start)
    raise item.error(message)


def _weeks_text(weeks: tuple[int, int]) -> str:
    first, last = weeks
    text = _("week {number}") if first == last else _("weeks {first}–{last}")
    return text.format(number=first, first=first, last=last)


def _plan_item(
    item: _Item,
    start: date,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    index: _BusyIndex,
    placed: Mapping[MilestoneId, PlannedMilestone],
) -> PlannedMilestone:
    days, moved = _window(item, start, calendar)
    meeting_start = meeting_end = None
    if item.definition.is_meeting:
        not_before = _not_before(item, placed, tz)
        meeting_start, meeting_end = _place_meeting(item, days, tz, index, not_before)
        index.add(BusySlot(meeting_start, meeting_end))
    return PlannedMilestone(
        workflow=item.workflow,
        key=item.definition.key,
        title=item.definition.title,
        kind=item.definition.kind,
        weeks=item.weeks,
        window_start=days[0],
        window_end=days[-1],
        start=meeting_start,
        end=meeting_end,
        moved=moved.describe("da") if moved else None,
        move=moved,
    )


def _not_before(
    item: _Item, placed: Mapping[MilestoneId, PlannedMilestone], tz: ZoneInfo
) -> datetime | None:
    """The earliest instant the meeting may start, given the milestones it comes after."""
    bounds = [_ready_at(placed[(item.workflow, key)], tz) for key in item.definition.after]
    return max(bounds, default=None)


def _ready_at(dependency: PlannedMilestone, tz: ZoneInfo) -> datetime:
    if dependency.end is not None:
        return dependency.end
    return datetime.combine(dependency.window_start, time(0), tzinfo=tz)


def _place_meeting(
    item: _Item,
    days: Sequence[date],
    tz: ZoneInfo,
    index: _BusyIndex,
    not_before: datetime | None,
) -> tuple[datetime, datetime]:
    milestone = item.definition
    if milestone.local_time is None or milestone.duration is None:
        raise item.error("a meeting needs a local time and a duration")
    candidates = reversed(days) if milestone.placement is Placement.LATEST else iter(days)
    for day in candidates:
        begin = datetime.combine(day, milestone.local_time, tzinfo=tz)
        finish = _add_elapsed(begin, milestone.duration, tz)
        if (not_before is None or begin >= not_before) and index.is_free(begin, finish):
            return begin, finish
    raise item.error(_no_free_day_message(item, days, not_before))


def _add_elapsed(moment: datetime, duration: timedelta, tz: ZoneInfo) -> datetime:
    """``moment + duration`` in real elapsed time (correct even across a DST change)."""
    return (moment.astimezone(UTC) + duration).astimezone(tz)


def _no_free_day_message(item: _Item, days: Sequence[date], not_before: datetime | None) -> str:
    message = _("no free working day in {weeks} ({first} … {last}) for the consultant").format(
        weeks=_weeks_text(item.weeks), first=days[0], last=days[-1]
    )
    if not_before is not None:
        after = ", ".join(item.definition.after)
        message += _(" on or after {moment} (it comes after {after})").format(
            moment=not_before.isoformat(timespec="minutes"), after=after
        )
    return message


def _timeline_key(
    milestone: PlannedMilestone, order: int
) -> tuple[date, bool, datetime | None, int]:
    return (
        milestone.window_start,
        milestone.start is None,
        milestone.start.astimezone(UTC) if milestone.start else None,
        order,
    )


def reminder_times(
    milestone: PlannedMilestone,
    reminder: ReminderDef,
    calendar: WorkingCalendar,
    tz: ZoneInfo = CPH,
) -> datetime:
    """The instant ``reminder`` is due, as an aware datetime in ``tz``.

    The reference is a meeting's start, or for a task the end of its window: ``window_end`` at
    16:00 local (:data:`TASK_DUE_TIME`). ``before`` is applied weeks first (7 calendar days
    each), then working days (counting back over the calendar), both keeping the local clock
    time, then minutes as exact elapsed minutes.
    """
    reference = _reminder_reference(milestone, tz)
    offset = reminder.before
    day = reference.date() - timedelta(weeks=offset.weeks)
    day = calendar.add_working_days(day, -offset.workdays)
    local = datetime.combine(day, reference.time(), tzinfo=tz)
    return _add_elapsed(local, -timedelta(minutes=offset.minutes), tz)


def _reminder_reference(milestone: PlannedMilestone, tz: ZoneInfo) -> datetime:
    if milestone.is_meeting:
        if milestone.start is None:
            raise PlanningError(
                "a meeting without a start has no reminders",
                workflow=milestone.workflow,
                milestone=milestone.key,
            )
        return milestone.start.astimezone(tz)
    return datetime.combine(milestone.window_end, TASK_DUE_TIME, tzinfo=tz)


def milestone_to_json(milestone: PlannedMilestone, tz: ZoneInfo | None = None) -> dict[str, Any]:
    """The contract JSON of one milestone (``fbh plan --json``; the worked examples are in
    tests/acceptance/test_cli_engine.py), without ``id``/``state``.

    ``start``/``end`` appear for meetings only; when ``tz`` is given they are shown in it.
    """
    data: dict[str, Any] = {
        "workflow": milestone.workflow,
        "key": milestone.key,
        "title": milestone.title,
        "kind": MilestoneKind(milestone.kind).value,
        "weeks": list(milestone.weeks),
        "window_start": milestone.window_start.isoformat(),
        "window_end": milestone.window_end.isoformat(),
    }
    if milestone.is_meeting:
        data["start"] = _datetime_json(milestone.start, tz)
        data["end"] = _datetime_json(milestone.end, tz)
    if milestone.moved:
        data["moved"] = milestone.moved
    return data


def _datetime_json(moment: datetime | None, tz: ZoneInfo | None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(tz) if tz else moment).isoformat(timespec="seconds")


def plan_to_json(plan: Plan, tz: ZoneInfo | None = None) -> dict[str, Any]:
    """The contract JSON of a plan (``fbh plan --json``): no ``id``/``state``; adds
    ``extensions``."""
    return {
        "workflow": plan.workflow,
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "extensions": list(plan.extensions),
        "milestones": [milestone_to_json(m, tz) for m in plan.milestones],
    }
