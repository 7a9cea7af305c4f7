"""The tovholder's hours: log, edit, delete, list and weigh them against the budget.

Each command runs in one transaction of the store. It validates first and writes nothing when
an entry is refused. Every change is written to the event log (entity ``time``). A log or an
edit that brings a part to 80 % of its maximum, or beyond it, queues a ``budget_alert`` in the
same transaction; the dedupe key makes each alert go out once. The alert for hours under the
minimum at the end of a programme comes from :func:`check_budget_end`, which the daemon runs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.domain.budget import BudgetPart, PartStatus, alert_level, round_hours
from engine.domain.errors import FieldError, InvalidInputError
from engine.domain.i18n import N_, _
from engine.domain.model import MAX_NOTE, ProgrammeState, check_text
from engine.domain.workdays import week_friday, week_monday
from engine.domain.workflow import WorkflowDefinition
from engine.services.context import ServiceContext
from engine.services.mailings import budget_text
from engine.store.store import Programme, TimeEntry, Tx
from notifications.budget_alerts import budget_alert_drafts

MAX_HOURS_PER_DAY = 24.0
MAX_NOTE_LENGTH = MAX_NOTE
# check_budget_end looks back this far, so a daemon that was down still sends the alert, but
# programmes that ended long before fbh ran are left alone.
END_CHECK_LOOKBACK = timedelta(days=28)
# A paused programme has not ended, whatever its dates say; one still "planned" has, when the
# daemon never started it.
ENDED_STATES = tuple(
    s.value for s in (ProgrammeState.PLANNED, ProgrammeState.RUNNING, ProgrammeState.COMPLETED)
)


@dataclass(frozen=True)
class TimeEntryView:
    id: int
    programme_id: int
    part: str
    day: date
    hours: float
    note: str
    person: str  # the tovholder's e-mail address
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "programme_id": self.programme_id,
            "part": self.part,
            "date": self.day.isoformat(),
            "hours": self.hours,
            "note": self.note,
            "person": self.person,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class TimeStatus:
    """Hours against budget for every part of a programme; the base part comes first."""

    programme_id: int
    organisation: str
    workflow: str
    today: date
    parts: tuple[PartStatus, ...]

    @property
    def base(self) -> PartStatus:
        return self.parts[0]

    def part(self, key: str) -> PartStatus:
        return next(p for p in self.parts if p.part.key == key)

    def to_json(self) -> dict[str, Any]:
        """The contract of ``fbh time status --json``: ``min_hours``, ``max_hours``,
        ``used_hours`` and ``status`` of the base part at the top level, and the same per part
        in ``parts``."""
        return {
            "programme_id": self.programme_id,
            "organisation": self.organisation,
            "workflow": self.workflow,
            "today": self.today.isoformat(),
            **self.base.to_json(),
            "parts": [p.to_json() for p in self.parts],
        }


@dataclass(frozen=True)
class TimeChange:
    """An entry as it stands after a command, and the budget of its programme."""

    entry: TimeEntryView
    status: TimeStatus
    alerts_queued: int = 0


# ----- budget parts ---------------------------------------------------------------------------


def budget_parts(
    programme: Programme,
    base: WorkflowDefinition,
    extensions: Sequence[WorkflowDefinition],
    hours_per_workday: float,
) -> list[BudgetPart]:
    """The programme's parts with a budget: the base workflow, then each extension."""
    parts = []
    for definition in (base, *extensions):
        budget = definition.budget
        if budget is None:
            continue
        low = budget.minimum.to_hours(hours_per_workday)
        high = budget.maximum.to_hours(hours_per_workday)
        first, last = _part_span(programme.start_date, base, definition)
        parts.append(
            BudgetPart(
                key=definition.key,
                title=definition.title,
                min_hours=low,
                max_hours=high,
                first_day=first,
                last_day=last,
                text=budget_text(budget.minimum, budget.maximum, low, high),
                is_extension=definition is not base,
            )
        )
    return parts


def _part_span(
    start: date, base: WorkflowDefinition, definition: WorkflowDefinition
) -> tuple[date, date]:
    """The days of a part's own timeline: an extension starts at its ``at_week``."""
    if definition is base or definition.extends is None:
        return start, week_friday(start, definition.weeks)
    at = definition.extends.at_week
    return max(start, week_monday(start, at)), week_friday(start, at + definition.weeks)


def used_by_part(entries: Iterable[TimeEntry]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for entry in entries:
        totals[entry.workflow] += entry.hours
    return {part: round_hours(hours) for part, hours in totals.items()}


# ----- the commands ---------------------------------------------------------------------------


def parse_hours(text: str) -> float:
    """``2.5``, ``2,5`` or ``3`` hours; refuses anything else with a clear message."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FieldError(
            "hours", N_("invalid --hours {text!r}: expected a number of hours, e.g. 2.5"), text=text
        )
    return value


def time_status(fbh: ServiceContext, programme_id: int, now: datetime) -> TimeStatus:
    with fbh.store.transaction() as tx:
        programme = tx.programmes.get(programme_id)
        status = status_in(fbh, tx, programme, _today(fbh, now))
        if not status.parts:
            raise InvalidInputError(
                _("programme {id} has no time budget to track").format(id=programme_id)
            )
        return status


def status_in(fbh: ServiceContext, tx: Tx, programme: Programme, today: date) -> TimeStatus:
    """Hours against budget of every part of ``programme`` (none when it has no budget)."""
    assert programme.id is not None
    parts = _parts(fbh, tx, programme)
    used = used_by_part(tx.time.find(programme.id))
    return TimeStatus(
        programme_id=programme.id,
        organisation=tx.people.get_organisation(programme.organisation_id).name,
        workflow=programme.workflow,
        today=today,
        parts=tuple(PartStatus(p, used.get(p.key, 0.0), today) for p in parts),
    )


def list_time(fbh: ServiceContext, programme_id: int) -> list[TimeEntryView]:
    with fbh.store.transaction() as tx:
        tx.programmes.get(programme_id)
        return [_entry_view(tx, e) for e in tx.time.find(programme_id)]


def log_time(
    fbh: ServiceContext,
    programme_id: int,
    *,
    hours: float,
    now: datetime,
    day: date | None = None,
    note: str = "",
    part: str | None = None,
) -> TimeChange:
    """Log the tovholder's hours on one part (default: the base workflow) of a programme."""
    today = _today(fbh, now)
    with fbh.store.transaction() as tx:
        programme = tx.programmes.get(programme_id, for_update=True)
        parts = _parts(fbh, tx, programme)
        key = _check_part(programme, parts, part)
        work_date = day or today
        checked = _check_entry(
            tx,
            programme,
            hours=hours,
            day=work_date,
            note=note,
            today=today,
            opened=_opened(fbh, programme),
        )
        entry = tx.time.add(
            TimeEntry(
                programme_id=programme_id,
                workflow=key,
                person_id=programme.tovholder_id,
                work_date=work_date,
                hours=checked,
                note=note.strip(),
                created_at=now,
                updated_at=now,
            )
        )
        _event(fbh, tx, now, entry, "log", {"entry": _entry_data(entry)})
        return _changed(fbh, tx, programme, entry, now)


def edit_time(
    fbh: ServiceContext,
    entry_id: int,
    *,
    now: datetime,
    hours: float | None = None,
    day: date | None = None,
    note: str | None = None,
    part: str | None = None,
) -> TimeChange:
    """Change an entry's hours, date, note or part; what is not given stays."""
    if hours is None and day is None and note is None and part is None:
        raise InvalidInputError(_("nothing to change: give --hours, --date, --note or --part"))
    today = _today(fbh, now)
    with fbh.store.transaction() as tx:
        entry = tx.time.get(entry_id)
        programme = tx.programmes.get(entry.programme_id, for_update=True)
        key = (
            entry.workflow
            if part is None
            else _check_part(programme, _parts(fbh, tx, programme), part)
        )
        new_day = entry.work_date if day is None else day
        new_note = entry.note if note is None else note
        checked = _check_entry(
            tx,
            programme,
            hours=entry.hours if hours is None else hours,
            day=new_day,
            note=new_note,
            today=today,
            opened=_opened(fbh, programme),
            exclude_entry=entry_id,
        )
        before = _entry_data(entry)
        entry.workflow, entry.work_date, entry.hours = key, new_day, checked
        entry.note, entry.updated_at = new_note.strip(), now
        tx.save(entry)
        _event(fbh, tx, now, entry, "edit", {"before": before, "after": _entry_data(entry)})
        return _changed(fbh, tx, programme, entry, now)


def delete_time(fbh: ServiceContext, entry_id: int, now: datetime) -> TimeEntryView:
    with fbh.store.transaction() as tx:
        entry = tx.time.get(entry_id)
        programme = tx.programmes.get(entry.programme_id, for_update=True)
        _check_open(programme)
        view = _entry_view(tx, entry)
        _event(fbh, tx, now, entry, "delete", {"entry": _entry_data(entry)})
        tx.delete(entry)
        return view


def check_budget_end(fbh: ServiceContext, now: datetime) -> int:
    """Queue the ``under`` alert for programmes that ended with too few hours.

    Looks at programmes that are not cancelled or paused, whose last day lies before today and
    no more than ``END_CHECK_LOOKBACK`` back. Safe to call as often as wanted: each alert goes once.
    Returns how many mails were newly queued.
    """
    today = _today(fbh, now)
    queued = 0
    with fbh.store.transaction() as tx:
        ended = tx.time.ended_programmes(ENDED_STATES, today - END_CHECK_LOOKBACK, today)
        for programme in ended:
            loaded = fbh.load(tx, programme)
            for status in status_in(fbh, tx, programme, today).parts:
                if status.status == "under":
                    drafts = budget_alert_drafts(
                        loaded.facts, status, "under", now=now, programme_end=programme.end_date
                    )
                    queued += tx.outbox.enqueue(drafts, now)
    return queued


# ----- helpers --------------------------------------------------------------------------------


def _today(fbh: ServiceContext, now: datetime) -> date:
    return now.astimezone(fbh.tz).date()


def _parts(fbh: ServiceContext, tx: Tx, programme: Programme) -> list[BudgetPart]:
    loaded = fbh.load(tx, programme)
    return budget_parts(
        programme, loaded.base, loaded.extensions, fbh.settings.engine.hours_per_workday
    )


def _check_open(programme: Programme) -> None:
    if programme.state == ProgrammeState.CANCELLED.value:
        raise FieldError(
            None,
            N_("programme {id} is cancelled: its hours can no longer be changed"),
            id=programme.id,
        )


def _check_part(programme: Programme, parts: Sequence[BudgetPart], part: str | None) -> str:
    if part is None:
        if not parts:
            raise InvalidInputError(
                _("programme {id} has no time budget to track").format(id=programme.id)
            )
        return parts[0].key
    key = part.strip().lower()
    if key not in {p.key for p in parts}:
        choices = ", ".join(p.key for p in parts) or _("none")
        raise FieldError(
            "part",
            N_("unknown part {part!r} for programme {id}: choose one of {choices}"),
            part=part,
            id=programme.id,
            choices=choices,
        )
    return key


def _opened(fbh: ServiceContext, programme: Programme) -> date:
    """The first day hours can be logged: the start, or the day the programme was created (a
    request is accepted by creating its programme), whichever comes first; preparation
    before the start counts."""
    created = programme.created_at.astimezone(fbh.tz).date()
    return min(programme.start_date, created)


def _check_entry(
    tx: Tx,
    programme: Programme,
    *,
    hours: float,
    day: date,
    note: str,
    today: date,
    opened: date,
    exclude_entry: int | None = None,
) -> float:
    """Refuse a bad entry with a clear message; return the hours rounded to 0.01."""
    _check_open(programme)
    tx.people.lock(programme.tovholder_id)  # the 24-hour check spans programmes
    value = round_hours(hours)
    if not math.isfinite(hours) or value <= 0:
        raise FieldError("hours", N_("invalid hours {hours:g}: must be more than 0"), hours=hours)
    if value > MAX_HOURS_PER_DAY:
        raise FieldError(
            "hours", N_("invalid hours {hours:g}: at most 24 hours a day"), hours=hours
        )
    if day > today:
        raise FieldError(
            "date", N_("date {day} lies in the future (today is {today})"), day=day, today=today
        )
    if not opened <= day <= programme.end_date:
        raise FieldError(
            "date",
            N_(
                "date {day} is outside programme {id} "
                "({first} … {last}; preparation counts from the day it was created)"
            ),
            day=day,
            id=programme.id,
            first=opened,
            last=programme.end_date,
        )
    if len(note.strip()) > MAX_NOTE_LENGTH:
        raise FieldError("note", N_("the note is longer than {n} characters"), n=MAX_NOTE_LENGTH)
    check_text(note, "the note", MAX_NOTE_LENGTH, required=False)  # control characters
    already = tx.time.hours_on(programme.tovholder_id, day, exclude_entry=exclude_entry)
    if round_hours(already + value) > MAX_HOURS_PER_DAY:
        person = tx.people.get(programme.tovholder_id).email
        raise FieldError(
            "hours",
            N_(
                "{person} would have {hours:g} hours on {day}: at most 24 "
                "hours a day across all programmes ({logged:g} already logged)"
            ),
            person=person,
            hours=round_hours(already + value),
            day=day,
            logged=round_hours(already),
        )
    return value


def _changed(
    fbh: ServiceContext, tx: Tx, programme: Programme, entry: TimeEntry, now: datetime
) -> TimeChange:
    """The entry and the budget after a change; queue the alert the new total calls for."""
    status = status_in(fbh, tx, programme, _today(fbh, now))
    part = status.part(entry.workflow)
    level = alert_level(part.used_hours, part.part.max_hours)
    queued = 0
    if level is not None:
        facts = fbh.load(tx, programme).facts
        queued = tx.outbox.enqueue(budget_alert_drafts(facts, part, level, now=now), now)
    return TimeChange(_entry_view(tx, entry), status, queued)


def _entry_data(entry: TimeEntry) -> dict[str, Any]:
    return {
        "part": entry.workflow,
        "date": entry.work_date.isoformat(),
        "hours": entry.hours,
        "note": entry.note,
    }


def _event(
    fbh: ServiceContext, tx: Tx, now: datetime, entry: TimeEntry, event: str, data: dict[str, Any]
) -> None:
    tx.events.add(
        at=now,
        actor=fbh.actor,
        entity="time",
        entity_id=entry.id,
        programme_id=entry.programme_id,
        event=event,
        data=data,
    )


def _entry_view(tx: Tx, entry: TimeEntry) -> TimeEntryView:
    assert entry.id is not None
    return TimeEntryView(
        id=entry.id,
        programme_id=entry.programme_id,
        part=entry.workflow,
        day=entry.work_date,
        hours=entry.hours,
        note=entry.note,
        person=tx.people.get(entry.person_id).email,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )
