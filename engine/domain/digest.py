"""The weekly digests' data model and the pure helpers that build its parts.

No I/O and no clock: relative weeks, the timeline, which milestones are upcoming or overdue,
the consultants' meeting load and the next digest time. Reading the store into this model is
:mod:`engine.services.digests`; turning it into mail is :mod:`notifications.digests`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from engine.domain.budget import PartStatus
from engine.domain.model import Contact, MilestoneKind, MilestoneState
from engine.domain.workdays import iso_week, week_monday


class WeeklyTime(Protocol):
    """A weekly moment: ``weekday`` (0 = Monday) at local time ``at`` (config's ``[digest]``)."""

    @property
    def weekday(self) -> int: ...

    @property
    def at(self) -> time: ...


DIGEST_WEEKS = 3  # milestones of this week and the next two
LOAD_WEEKS = 4  # the lead sees each consultant's meetings this week and the next three
SOON_DAYS = 3  # a request with this many days left or fewer is close to its deadline

CLOSED = (MilestoneState.DONE.value, MilestoneState.SKIPPED.value, MilestoneState.CANCELLED.value)
NOT_HELD = (MilestoneState.SKIPPED.value, MilestoneState.CANCELLED.value)
_MEETING = MilestoneKind.MEETING.value  # read once: an enum member's .value is a slow lookup

Phase = Literal["past", "current", "future"]


# ----- the data model -------------------------------------------------------------------------


class DigestMilestone(NamedTuple):
    """A milestone as the digest shows it. ``weeks`` are programme weeks. A named tuple: a
    week's run makes one for each of some 80k milestones, at a fraction of a frozen
    dataclass's cost."""

    title: str
    kind: str
    state: str
    weeks: tuple[int, int]
    window_start: date
    window_end: date
    start: datetime | None
    end: datetime | None
    owner: str = ""  # the role that does a task

    @property
    def is_meeting(self) -> bool:
        return self.kind == _MEETING

    @property
    def is_open(self) -> bool:
        return self.state not in CLOSED

    def first_day(self, tz: ZoneInfo) -> date:
        return self.start.astimezone(tz).date() if self.start else self.window_start


class WeekCell(NamedTuple):
    """One week of a programme's timeline (a named tuple, as DigestMilestone)."""

    week: int  # programme week
    iso_week: int
    phase: Phase
    meetings: tuple[str, ...]
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class ProgrammeDigest:
    id: int
    organisation: str
    municipality: str
    title: str
    extensions: tuple[str, ...]  # titles of the extensions
    consultant: Contact
    tovholder: Contact
    state: str
    start: date
    end: date
    week: int  # the programme week today falls in (negative before the start)
    total_weeks: int  # the last week: 12, or 18 with TILPASSET
    timeline: tuple[WeekCell, ...]
    upcoming: tuple[DigestMilestone, ...]
    overdue: tuple[DigestMilestone, ...]
    meetings: tuple[DigestMilestone, ...]
    hours: tuple[PartStatus, ...]
    # Inbound mail (engine/services/inbox.py): answers to coming meetings that still hold,
    # (meeting title, name, partstat), and the programme's addresses that bounced.
    answers: tuple[tuple[str, str, str], ...] = ()
    bouncing: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestItem:
    id: int
    organisation: str
    contact: Contact
    received: date
    deadline: date
    days_left: int  # negative when the deadline has passed
    assigned: bool  # assigned to the digest's consultant (else unassigned)


@dataclass(frozen=True)
class MissedItem:
    """A message that was not sent because the daemon was down when it fell due."""

    due: datetime
    kind: str
    programme_id: int | None
    organisation: str
    title: str
    recipient: str


@dataclass(frozen=True)
class ConsultantLoad:
    consultant: Contact
    meetings: tuple[int, ...]  # per week, from this week on


@dataclass(frozen=True)
class BudgetAlertItem:
    programme: ProgrammeDigest
    hours: PartStatus
    level: Literal["over", "under"]


@dataclass(frozen=True)
class ConsultantDigest:
    recipient: Contact
    today: date
    programmes: tuple[ProgrammeDigest, ...]
    requests: tuple[RequestItem, ...]
    missed: tuple[MissedItem, ...]


@dataclass(frozen=True)
class CourseItem:
    """A planned BASIS course in the lead's digest."""

    id: int
    city: str
    venue: str
    start: datetime
    end: datetime
    capacity: int
    registered: int
    waitlisted: int
    minimum: int | None


COURSE_HORIZON_DAYS = 365  # the lead is warned when fewer than COURSES_WANTED are planned in it
COURSES_WANTED = 2


@dataclass(frozen=True)
class LeadDigest:
    recipient: Contact
    today: date
    programmes: tuple[ProgrammeDigest, ...]
    load_weeks: tuple[date, ...]  # the Mondays of the load columns
    load: tuple[ConsultantLoad, ...]
    breaches: tuple[RequestItem, ...]  # open requests past their deadline
    soon: tuple[RequestItem, ...]  # open requests close to it
    budget_alerts: tuple[BudgetAlertItem, ...]
    missed: tuple[MissedItem, ...]
    courses: tuple[CourseItem, ...] = ()  # planned BASIS courses in the coming 12 months

    @property
    def too_few_courses(self) -> bool:
        """Fewer than 2 BASIS courses planned for the coming 12 months."""
        return len(self.courses) < COURSES_WANTED


# ----- pure helpers ---------------------------------------------------------------------------


def relative_week(start: date, day: date) -> int:
    """The programme week of ``day``: 0 is the ISO week containing ``start``."""
    return (week_monday(day, 0) - week_monday(start, 0)).days // 7


def timeline_cells(
    start: date, total_weeks: int, today: date, milestones: Sequence[DigestMilestone], tz: ZoneInfo
) -> tuple[WeekCell, ...]:
    """Weeks 0 … ``total_weeks``: meetings in the week they are held, tasks over their window."""
    # The weekly run makes some 15 cells for each of thousands of programmes: weeks are
    # counted from Mondays directly (relative_week's arithmetic) and ISO weeks are looked up.
    monday = start - timedelta(days=start.weekday())
    current = (today - timedelta(days=today.weekday()) - monday).days // 7
    meetings: dict[int, list[str]] = {}
    tasks: dict[int, list[str]] = {}
    for m in milestones:
        if m.state in NOT_HELD:
            continue
        if m.kind == _MEETING:
            day = m.start.astimezone(tz).date() if m.start else m.window_start
            week = (day - timedelta(days=day.weekday()) - monday).days // 7
            meetings.setdefault(week, []).append(m.title)
        else:
            for week in range(m.weeks[0], m.weeks[1] + 1):
                tasks.setdefault(week, []).append(m.title)
    isos = _iso_weeks(monday, total_weeks + 1)
    return tuple(
        _week_cell(
            week,
            isos[week],
            "past" if week < current else "current" if week == current else "future",
            tuple(meetings[week]) if week in meetings else (),
            tuple(tasks[week]) if week in tasks else (),
        )
        for week in range(total_weeks + 1)
    )


# A week's run makes some 160k cells, but only a few hundred distinct ones (most weeks have
# no marks): equal cells are one object, made once.
_week_cell = lru_cache(maxsize=8192)(WeekCell)


@lru_cache(maxsize=1024)
def _iso_weeks(monday: date, weeks: int) -> tuple[int, ...]:
    """The ISO week numbers of ``weeks`` weeks from ``monday`` (programmes share starts)."""
    return tuple((monday + timedelta(weeks=week)).isocalendar()[1] for week in range(weeks))


def upcoming(
    milestones: Iterable[DigestMilestone], today: date, tz: ZoneInfo, weeks: int = DIGEST_WEEKS
) -> tuple[DigestMilestone, ...]:
    """Open milestones of this week and the next ``weeks - 1``: meetings held then, and tasks
    whose window is open then and has not closed."""
    first = week_monday(today, 0)
    after = first + timedelta(weeks=weeks)
    found = [
        m
        for m in milestones
        if m.is_open
        and (
            first <= m.first_day(tz) < after
            if m.is_meeting
            else m.window_start < after and m.window_end >= today
        )
    ]
    return tuple(sorted(found, key=lambda m: (m.first_day(tz), m.window_end)))


def overdue_tasks(
    milestones: Iterable[DigestMilestone], today: date
) -> tuple[DigestMilestone, ...]:
    """Tasks whose window has closed without being done (or skipped)."""
    return tuple(m for m in milestones if not m.is_meeting and m.is_open and m.window_end < today)


def coming_meetings(
    milestones: Iterable[DigestMilestone], now: datetime
) -> tuple[DigestMilestone, ...]:
    """Meetings still ahead, in order."""
    ahead = [m for m in milestones if m.is_meeting and m.is_open and m.start and m.start >= now]
    return tuple(sorted(ahead, key=lambda m: m.start or now))


def meeting_load(
    starts: Iterable[tuple[Contact, datetime]], mondays: Sequence[date], tz: ZoneInfo
) -> tuple[ConsultantLoad, ...]:
    """Meetings per consultant per week (the weeks begin on ``mondays``)."""
    counts: Counter[tuple[str, date]] = Counter()
    people: dict[str, Contact] = {}
    for consultant, start in starts:
        people[consultant.email] = consultant
        counts[(consultant.email, week_monday(start.astimezone(tz).date(), 0))] += 1
    return tuple(
        ConsultantLoad(people[email], tuple(counts[(email, monday)] for monday in mondays))
        for email in sorted(people, key=lambda e: (people[e].name.lower(), e))
    )


def missed_by_consultant(
    missed: Sequence[MissedItem],
    owned: dict[int, set[int]],
    recipients: Sequence[tuple[int, Contact]],
) -> dict[int, list[MissedItem]]:
    """Each consultant's missed messages, in the order given: those of their programmes
    (whatever their state) and those addressed to them."""
    wanted = {person_id for person_id, _ in recipients}
    owner = {
        programme_id: person_id
        for person_id, ids in owned.items()
        if person_id in wanted
        for programme_id in ids
    }
    by_email: dict[str, set[int]] = {}
    for person_id, person in recipients:
        by_email.setdefault(person.email, set()).add(person_id)
    found: dict[int, list[MissedItem]] = {}
    for item in missed:
        targets = set(by_email.get(item.recipient, ()))
        if item.programme_id in owner:
            targets.add(owner[item.programme_id])
        for person_id in targets:
            found.setdefault(person_id, []).append(item)
    return found


def next_digest_at(after: datetime, when: WeeklyTime, tz: ZoneInfo) -> datetime:
    """The first digest time strictly after ``after`` (aware, in ``tz``)."""
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(when.weekday - local.weekday()) % 7)
    candidate = datetime.combine(day, when.at, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(weeks=1), when.at, tzinfo=tz)
    return candidate


def iso_week_label(day: date) -> str:
    """``2027-W03``: the ISO year and week used in digest dedupe keys."""
    year, week = iso_week(day)
    return f"{year}-W{week:02d}"


# ----- building the model from the store ------------------------------------------------------


#
# Every digest of a run is built from one read of the store: a few queries for all recipients
# (engine.store.digests), then each programme's digest once, shared by its consultant's digest
# and the lead's. (Built per consultant and per programme, the weekly run made tens of queries
# per programme and read every programme once per consultant.)
