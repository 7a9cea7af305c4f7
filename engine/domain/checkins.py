"""Maintenance check-ins after a programme (pure): when each falls due, and how it is shown.

The definition's ``checkins = [3, 6, 12]`` are months after the programme's end date. A
check-in falls due on the first working day on or after that date, at ``CHECKIN_TIME``; it
goes to the programme's tovholder then (the continuing tovholder: ``fbh programme edit
--tovholder`` hands it over) as a short mail and a task that ``fbh milestone done ID
checkin-3`` closes.
"""

from __future__ import annotations

import calendar as month_calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.workdays import WorkingCalendar

CHECKIN_TIME = time(9, 0)
_KEY = re.compile(r"^checkin-(\d{1,3})$")


def checkin_key(months: int) -> str:
    return f"checkin-{months}"


def months_of(key: str) -> int | None:
    """``checkin-3`` → 3; None for any other key."""
    match = _KEY.match(key.strip())
    return int(match[1]) if match else None


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has fewer days."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def due_at(end: date, months: int, calendar: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """When the check-in ``months`` after ``end`` goes out."""
    day = add_months(end, months)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, CHECKIN_TIME, tzinfo=tz)


@dataclass(frozen=True)
class CheckinView:
    """One check-in as ``programme show`` lists it (a task of the continuing tovholder)."""

    months: int
    due: datetime
    state: str  # planned | scheduled (sent, open) | done | skipped | cancelled

    @property
    def key(self) -> str:
        return checkin_key(self.months)

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": f"Opfølgning efter {self.months} måneder",
            "kind": "task",
            "owner": "tovholder",
            "months": self.months,
            "due": self.due.astimezone(tz).isoformat(),
            "state": self.state,
        }


def checkin_views(
    months: tuple[int, ...],
    end: date,
    closed: dict[int, str],
    sent: set[int],
    programme_state: str,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
) -> tuple[CheckinView, ...]:
    """The check-ins of a programme that ended on ``end``: ``closed`` by hand ({months:
    state}), ``sent`` (the offsets whose mail went out)."""
    return tuple(
        CheckinView(
            n,
            due_at(end, n, calendar, tz),
            shown_state(closed.get(n), n in sent, programme_state),
        )
        for n in months
    )


def shown_state(closed: str | None, sent: bool, programme_state: str) -> str:
    """Closed by hand (done, skipped); else cancelled with its programme; else ``scheduled``
    once its mail went out, ``planned`` before."""
    if closed is not None:
        return closed
    if programme_state == "cancelled":
        return "cancelled"
    return "scheduled" if sent else "planned"
