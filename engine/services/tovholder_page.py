"""What the tovholder's page shows and does: the programme as the digest shows it, the hours
with their budget bars and entries, the meetings with their ICS, and the hours form's changes.

The page's changes call the same use cases as ``fbh time log|edit|delete``
(:mod:`engine.services.timelog`) with the actor ``tovholder:{email}``, so the audit log says
they came from the tovholder. Every form field is bounded and checked here first (a Danish
message per field), then by the use case; its refusals name their field too
(:class:`~engine.domain.errors.FieldError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from engine.domain.errors import FieldError, InvalidInputError, NotFoundError
from engine.domain.i18n import N_
from engine.domain.model import MilestoneKind, MilestoneState
from engine.services.context import ServiceContext
from engine.services.digests import programme_digest
from engine.services.facade import Fbh
from engine.services.feeds import FEED_TTL, current_meetings
from engine.services.pages import PageAccess
from engine.services.timelog import (
    MAX_NOTE_LENGTH,
    delete_time,
    edit_time,
    log_time,
)
from engine.store.store import Tx
from notifications.digests import programme_context
from notifications.invites import build_feed
from notifications.render import da_date, da_hours, da_timespan

LANGUAGE = "da"  # the page is Danish, whatever the daemon's locale
MAX_HOURS_TEXT = 10
MAX_DATE_TEXT = 10
KEEP_CANCELLED = timedelta(days=30)
_DANISH_DATE = re.compile(r"(\d{1,2})[.-](\d{1,2})[.-](\d{4})")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HOURS = re.compile(r"\d{1,2}(?:[.,]\d{1,2})?")
_MEETING_STATE = {
    MilestoneState.PLANNED.value: "planlagt",
    MilestoneState.SCHEDULED.value: "planlagt",
    MilestoneState.DONE.value: "afholdt",
    MilestoneState.SKIPPED.value: "sprunget over",
    MilestoneState.CANCELLED.value: "aflyst",
}


@dataclass
class HoursForm:
    """The hours form as submitted (or empty), and its errors by field (``""``: the form)."""

    date: str = ""
    hours: str = ""
    note: str = ""
    part: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, data: Mapping[str, str]) -> HoursForm:
        return cls(
            date=str(data.get("date", ""))[:40],
            hours=str(data.get("hours", ""))[:40],
            note=str(data.get("note", ""))[: MAX_NOTE_LENGTH * 2],
            part=str(data.get("part", ""))[:40],
        )

    def values(self) -> dict[str, str]:
        return {"date": self.date, "hours": self.hours, "note": self.note, "part": self.part}


@dataclass(frozen=True)
class CheckedHours:
    day: date
    hours: float
    note: str
    part: str | None


@dataclass(frozen=True)
class MeetingFile:
    filename: str
    body: bytes


class TovholderPage:
    """The page of one programme, for one live token (:class:`PageAccess`)."""

    def __init__(self, fbh: Fbh) -> None:
        self.fbh = fbh

    # ----- reading ----------------------------------------------------------------------------

    def context(self, access: PageAccess, now: datetime) -> dict[str, Any]:
        """The page's template context (everything escaped by the template)."""
        fbh = self.fbh
        today = fbh.today(now)
        with fbh.store.transaction() as tx:
            programme = tx.programmes.get(access.programme_id)
            digest = programme_digest(fbh, tx, programme, now)
            entries = tx.time.find(access.programme_id)
            invited = self._meeting_specs(tx, access, now)
            meetings = [
                m
                for m in tx.programmes.milestones(access.programme_id)
                if m.kind == MilestoneKind.MEETING.value and m.start_at and m.end_at
            ]
        shown = programme_context(digest, today, fbh.tz)
        titles = {h.part.key: h.part.title for h in digest.hours}
        return {
            "programme": shown,
            "state": programme.state,
            "today": today.isoformat(),
            "parts": [{"key": h.part.key, "title": h.part.title} for h in digest.hours],
            "entries": [
                {
                    "id": e.id,
                    "date": e.work_date.isoformat(),
                    "date_text": da_date(e.work_date),
                    "hours": da_hours(e.hours),
                    "note": e.note,
                    "part": e.workflow,
                    "part_title": titles.get(e.workflow, e.workflow),
                }
                for e in reversed(entries)
            ],
            "meetings": [
                {
                    "id": m.id,
                    "title": m.title,
                    "when": da_timespan(m.start_at, m.end_at) if m.start_at and m.end_at else "",
                    "state_label": _MEETING_STATE.get(m.state, m.state),
                    "past": bool(m.end_at and m.end_at < now),
                    "ics": m.id in invited,
                }
                for m in sorted(meetings, key=lambda m: (m.start_at or now, m.id or 0))
            ],
        }

    def meeting_file(self, access: PageAccess, milestone_id: int, now: datetime) -> MeetingFile:
        """The ICS of one meeting as the tovholder's latest invite says it."""
        with self.fbh.store.transaction() as tx:
            specs = self._meeting_specs(tx, access, now)
        if milestone_id not in specs:
            raise NotFoundError("meeting", milestone_id)
        spec = specs[milestone_id]
        body = build_feed([spec], name=spec.summary, ttl=FEED_TTL)
        return MeetingFile(filename=f"moede-{milestone_id}.ics", body=body)

    def _meeting_specs(self, tx: Tx, access: PageAccess, now: datetime) -> dict[int, Any]:
        person = tx.people.get(access.person_id)
        by_meeting: dict[int, list[Any]] = {}
        for row in tx.feeds.invites_to(person.email):
            if row.programme_id == access.programme_id and row.milestone_id is not None:
                by_meeting.setdefault(row.milestone_id, []).append(row)
        found = {}
        for milestone_id, rows in by_meeting.items():
            specs = current_meetings(rows, now - KEEP_CANCELLED)
            if specs and specs[0].method != "CANCEL":
                found[milestone_id] = specs[0]
        return found

    # ----- the hours form ---------------------------------------------------------------------

    def log(self, access: PageAccess, form: HoursForm, now: datetime) -> bool:
        """Log the form's hours; False (and ``form.errors``) when refused."""
        checked = self._check(access, form, now)
        if checked is None:
            return False
        return self._apply(
            form,
            lambda ctx: log_time(
                ctx,
                access.programme_id,
                hours=checked.hours,
                day=checked.day,
                note=checked.note,
                part=checked.part,
                now=now,
            ),
            access,
        )

    def edit(self, access: PageAccess, entry_id: int, form: HoursForm, now: datetime) -> bool:
        self.entry(access, entry_id)
        checked = self._check(access, form, now)
        if checked is None:
            return False
        return self._apply(
            form,
            lambda ctx: edit_time(
                ctx,
                entry_id,
                hours=checked.hours,
                day=checked.day,
                note=checked.note,
                part=checked.part,
                now=now,
            ),
            access,
        )

    def delete(self, access: PageAccess, entry_id: int, now: datetime) -> None:
        self.entry(access, entry_id)
        delete_time(self._as_tovholder(access), entry_id, now)

    def entry(self, access: PageAccess, entry_id: int) -> HoursForm:
        """The entry as a filled form; NotFoundError unless it is this programme's."""
        with self.fbh.store.transaction() as tx:
            try:
                entry = tx.time.get(entry_id)
            except NotFoundError:
                entry = None
            if entry is None or entry.programme_id != access.programme_id:
                raise NotFoundError("time entry", entry_id)
            return HoursForm(
                date=entry.work_date.isoformat(),
                hours=da_hours(entry.hours),
                note=entry.note,
                part=entry.workflow,
            )

    def _apply(self, form: HoursForm, change: Any, access: PageAccess) -> bool:
        try:
            change(self._as_tovholder(access))
        except FieldError as exc:
            form.errors[exc.field or ""] = exc.in_language(LANGUAGE)
            return False
        return True

    def _as_tovholder(self, access: PageAccess) -> ServiceContext:
        with self.fbh.store.transaction() as tx:
            email = tx.people.get(access.person_id).email
        return ServiceContext(
            self.fbh.settings, self.fbh.store, self.fbh.registry, actor=f"tovholder:{email}"
        )

    def _check(self, access: PageAccess, form: HoursForm, now: datetime) -> CheckedHours | None:
        """The form's fields bounded and parsed; None (and ``form.errors``) when not."""
        day = _field(form, "date", lambda: parse_day(form.date))
        hours = _field(form, "hours", lambda: parse_hours(form.hours))
        note = _field(form, "note", lambda: check_note(form.note))
        part = form.part.strip() or None
        if part is not None and len(part) > 40:
            form.errors["part"] = _danish(FieldError("part", N_("choose one of the parts")))
        if form.errors or day is None or hours is None or note is None:
            return None
        return CheckedHours(day, hours, note, part)


def _field(form: HoursForm, name: str, parse: Any) -> Any:
    try:
        return parse()
    except FieldError as exc:
        form.errors[name] = _danish(exc)
        return None


def _danish(error: FieldError) -> str:
    return error.in_language(LANGUAGE)


def parse_day(text: str) -> date:
    """``2027-03-08`` (a date input) or ``8.3.2027`` / ``8-3-2027``."""
    value = text.strip()
    if not value:
        raise FieldError("date", N_("enter the date"))
    if len(value) <= MAX_DATE_TEXT:
        try:
            return date.fromisoformat(value)
        except ValueError:
            danish = _DANISH_DATE.fullmatch(value)
            if danish is not None:
                try:
                    day, month, year = (int(g) for g in danish.groups())
                    return date(year, month, day)
                except ValueError:
                    pass
    raise FieldError("date", N_("enter a date such as 2027-03-08"))


def parse_hours(text: str) -> float:
    """``2,5``, ``2.5`` or ``3``: at most two digits before and after the comma."""
    value = text.strip()
    if not value:
        raise FieldError("hours", N_("enter the hours"))
    if len(value) > MAX_HOURS_TEXT or not _HOURS.fullmatch(value):
        raise FieldError("hours", N_("enter the hours as a number, such as 2,5"))
    return float(value.replace(",", "."))


def check_note(text: str) -> str:
    value = text.replace("\r\n", "\n").strip()
    if _CONTROL.search(value):
        raise FieldError("note", N_("the note contains characters that are not allowed"))
    if len(value) > MAX_NOTE_LENGTH:
        raise FieldError(
            "note", N_("the note is longer than {limit} characters"), limit=MAX_NOTE_LENGTH
        )
    return value


def parse_entry_id(text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise InvalidInputError("invalid entry id")
    return int(text)
