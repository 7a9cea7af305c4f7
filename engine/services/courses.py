"""The BASIS course calendar (``fbh course``): plan courses, register people (a waiting list
beyond the capacity), move the first waiting person up when a seat is freed, cancel, ask the
lead in time when a course is under its minimum, send the venue its roster, and publish the
calendar. Every change is one transaction with its mail (docs/courses.md)."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from engine.domain.courses import (
    CANCELLED,
    PLANNED,
    REGISTERED,
    WAITLISTED,
    CourseView,
    Registrant,
    shown_state,
)
from engine.domain.errors import ConflictError, InvalidInputError, NotFoundError
from engine.domain.i18n import _
from engine.domain.model import Contact
from engine.services.context import ServiceContext
from engine.store.store import Tx
from engine.store.tables import Course, CourseRegistration
from notifications import courses as mail
from notifications.courses import CourseFacts, PublishedCourse

log = logging.getLogger(__name__)

HTML_NAME, ICS_NAME = "index.html", "kurser.ics"


@dataclass(frozen=True)
class NewCourse:
    city: str
    venue: str
    start: datetime  # aware
    end: datetime
    capacity: int
    minimum: int | None = None
    decide_by: date | None = None
    venue_email: Contact | None = None


class CourseDesk:
    """The use cases of ``fbh course``."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ----- planning and reading -----------------------------------------------------------

    def add(self, new: NewCourse, now: datetime) -> CourseView:
        _check_new(new, self.ctx.today(now))
        with self.ctx.store.transaction() as tx:
            course = tx.courses.add(
                Course(
                    city=new.city,
                    venue=new.venue,
                    venue_email=str(new.venue_email) if new.venue_email else None,
                    start_at=new.start,
                    end_at=new.end,
                    capacity=new.capacity,
                    minimum=new.minimum,
                    decide_by=new.decide_by,
                    state=PLANNED,
                    created_at=now,
                    updated_at=now,
                )
            )
            self._event(tx, now, course, "create")
            self._refresh(tx, course, now)
            return self._view(tx, course, now)

    def show(self, course_id: int, now: datetime) -> CourseView:
        with self.ctx.store.transaction() as tx:
            return self._view(tx, tx.courses.get(course_id), now)

    def find(self, now: datetime, *, ending_after: datetime | None = None) -> list[CourseView]:
        with self.ctx.store.transaction() as tx:
            return [self._view(tx, c, now) for c in tx.courses.find(ending_after=ending_after)]

    # ----- registrations ------------------------------------------------------------------

    def register(self, course_id: int, person: Registrant, now: datetime) -> str:
        """Register ``person``: ``registered`` while there are seats, else ``waitlisted``."""
        return self.register_many(course_id, [person], now)[0]

    def register_many(
        self, course_id: int, people: Sequence[Registrant], now: datetime
    ) -> list[str]:
        """Register everyone in order, in one transaction: all or nothing."""
        with self.ctx.store.transaction() as tx:
            course = self._open_course(tx, course_id, now)
            states = [self._register(tx, course, person, now) for person in people]
            self._refresh(tx, course, now)
            return states

    def _register(self, tx: Tx, course: Course, person: Registrant, now: datetime) -> str:
        assert course.id is not None
        existing = tx.courses.registration(course.id, person.email)
        if existing is not None:
            raise ConflictError(
                _("{email} is already {state} for course {id}").format(
                    email=person.email, state=existing.state, id=course.id
                )
            )
        registered, waiting = tx.courses.counts([course.id])[course.id]
        state = REGISTERED if registered < course.capacity else WAITLISTED
        row = tx.courses.add_registration(
            CourseRegistration(
                course_id=course.id,
                name=person.name,
                email=person.email,
                organisation=person.organisation,
                state=state,
                position=tx.courses.next_position(course.id),
                ref=uuid.uuid4().hex,
                created_at=now,
            )
        )
        facts = self.facts(course)
        if state == REGISTERED:
            self._welcome(tx, facts, row, now, promoted=False)
        else:
            notice = mail.notice_draft(
                facts, _registrant(row), reason="waitlisted", position=waiting + 1, now=now
            )
            tx.outbox.enqueue([notice], now)
        self._event(tx, now, course, "register", data={"state": state})
        return state

    def unregister(self, course_id: int, email: str, now: datetime) -> Registrant | None:
        """Free the person's seat (or place in line); the first waiting person moves up at
        once and gets the invite. Returns who moved up, if anyone."""
        with self.ctx.store.transaction() as tx:
            course = tx.courses.get(course_id, for_update=True)
            assert course.id is not None
            row = tx.courses.registration(course.id, email)
            if row is None:
                raise NotFoundError(
                    f"registration of {email.strip().lower()} for course", course_id
                )
            live = course.state == PLANNED and course.end_at > now
            tx.outbox.cancel_by_prefix(mail.person_prefix(course.id, row.ref))
            was_registered = row.state == REGISTERED
            if was_registered and live:
                course.sequence += 1
                course.updated_at = now
                tx.save(course)
                cancel = mail.invite_draft(
                    self.facts(course), _registrant(row), method="CANCEL", now=now
                )
                tx.outbox.enqueue([cancel], now)
            tx.courses.remove_registration(row)
            promoted = None
            if was_registered and live:
                promoted = self._promote(tx, course, now)
            self._event(tx, now, course, "unregister", data={"promoted": promoted is not None})
            self._refresh(tx, course, now)
            return promoted

    def _promote(self, tx: Tx, course: Course, now: datetime) -> Registrant | None:
        assert course.id is not None
        waiting = [r for r in tx.courses.registrations(course.id) if r.state == WAITLISTED]
        if not waiting:
            return None
        first = waiting[0]
        first.state = REGISTERED
        tx.save(first)
        tx.outbox.cancel_by_prefix(mail.person_prefix(course.id, first.ref) + "waitlisted")
        self._welcome(tx, self.facts(course), first, now, promoted=True)
        return Registrant(first.name, first.email, first.organisation)

    def _welcome(
        self, tx: Tx, facts: CourseFacts, row: CourseRegistration, now: datetime, *, promoted: bool
    ) -> None:
        """The confirmation with its REQUEST, and the reminders ahead."""
        person = _registrant(row)
        drafts = [mail.invite_draft(facts, person, method="REQUEST", now=now, promoted=promoted)]
        settings = self.ctx.settings.course
        dues = [
            (days, self._before(facts.start.date(), days)) for days in settings.reminder_workdays
        ]
        drafts += mail.reminder_drafts(
            facts, person, [(d, t) for d, t in dues if t < facts.start], now
        )
        tx.outbox.enqueue(drafts, now)

    def cancel(self, course_id: int, now: datetime) -> CourseView:
        """Cancel the course: every registered person gets a CANCEL, the waiting list a notice."""
        with self.ctx.store.transaction() as tx:
            course = self._open_course(tx, course_id, now)
            assert course.id is not None
            course.state, course.sequence, course.updated_at = CANCELLED, course.sequence + 1, now
            tx.save(course)
            tx.outbox.cancel_by_prefix(f"course:{course.id}:")
            facts = self.facts(course)
            drafts = []
            position = 0
            for row in tx.courses.registrations(course.id):
                person = _registrant(row)
                if row.state == REGISTERED:
                    drafts.append(mail.invite_draft(facts, person, method="CANCEL", now=now))
                else:
                    position += 1
                    drafts.append(
                        mail.notice_draft(
                            facts, person, reason="cancelled", position=position, now=now
                        )
                    )
            tx.outbox.enqueue(drafts, now)
            self._event(tx, now, course, "cancel", data={"recipients": len(drafts)})
            return self._view(tx, course, now)

    # ----- the lead's question, the venue's roster ----------------------------------------

    def _refresh(self, tx: Tx, course: Course, now: datetime) -> None:
        """After every change: the roster the venue gets, and whether the lead is asked."""
        assert course.id is not None
        if course.state != PLANNED or course.end_at <= now:
            return
        rows = tx.courses.registrations(course.id)
        registered = [_registrant(r) for r in rows if r.state == REGISTERED]
        facts = self.facts(course)
        settings = self.ctx.settings.course
        if course.venue_email:
            venue = Contact.parse(course.venue_email)
            due = max(self._before(facts.start.date(), settings.roster_workdays), now)
            tx.outbox.upsert_pending(mail.roster_draft(facts, venue, registered, due_at=due), now)
        lead = self.ctx.settings.course_lead
        if course.minimum is None or course.decide_by is None or lead is None:
            return
        if len(registered) >= course.minimum or course.decide_by < self.ctx.today(now):
            tx.outbox.cancel_by_prefix(mail.decision_key(course.id))
            return
        due = max(self._before(course.decide_by, settings.decision_workdays), now)
        tx.outbox.upsert_pending(mail.decision_draft(facts, lead, registered, due_at=due), now)

    def _before(self, day: date, workdays: int) -> datetime:
        """``workdays`` working days before ``day``, at the configured send time."""
        send: time = self.ctx.settings.course.at
        when = self.ctx.calendar.add_working_days(day, -workdays)
        return datetime.combine(when, send, tzinfo=self.ctx.tz)

    # ----- publishing ---------------------------------------------------------------------

    def publish(self, out: Path, now: datetime) -> tuple[Path, Path]:
        """Write the public calendar of the planned courses ahead: ``index.html`` and
        ``kurser.ics`` in ``out`` (each replaced whole, never half-written)."""
        with self.ctx.store.transaction() as tx:
            courses = tx.courses.find(states=[PLANNED], ending_after=now)
            counts = tx.courses.counts([c.id for c in courses if c.id is not None])
            published = [PublishedCourse(self.facts(c), *counts[c.id or 0]) for c in courses]
        try:
            out.mkdir(parents=True, exist_ok=True)
            html = _write(out / HTML_NAME, mail.publish_html(published, now).encode("utf-8"))
            ics = _write(out / ICS_NAME, mail.publish_ics(published, now))
        except OSError as exc:
            raise InvalidInputError(
                _("cannot write the calendar to {out}: {why}").format(
                    out=out, why=exc.strerror or exc
                )
            ) from None
        return html, ics

    # ----- shared -------------------------------------------------------------------------

    def facts(self, course: Course) -> CourseFacts:
        assert course.id is not None
        return CourseFacts(
            id=course.id,
            city=course.city,
            venue=course.venue,
            start=course.start_at.astimezone(self.ctx.tz),
            end=course.end_at.astimezone(self.ctx.tz),
            capacity=course.capacity,
            minimum=course.minimum,
            decide_by=course.decide_by,
            sequence=course.sequence,
            domain=self.ctx.settings.mail_domain,
            organizer=self.ctx.settings.sender,
            installation=self.ctx.store.installation().installation_id,
        )

    def _open_course(self, tx: Tx, course_id: int, now: datetime) -> Course:
        course = tx.courses.get(course_id, for_update=True)
        state = shown_state(course.state, course.end_at, now)
        if state != PLANNED:
            raise ConflictError(
                _("course {id} is {state}: it can no longer be changed").format(
                    id=course_id, state=state
                )
            )
        return course

    def _view(self, tx: Tx, course: Course, now: datetime) -> CourseView:
        assert course.id is not None
        rows = tx.courses.registrations(course.id)
        return CourseView(
            id=course.id,
            city=course.city,
            venue=course.venue,
            venue_email=course.venue_email,
            start=course.start_at,
            end=course.end_at,
            capacity=course.capacity,
            minimum=course.minimum,
            decide_by=course.decide_by,
            state=shown_state(course.state, course.end_at, now),
            registered=tuple(_view_person(r) for r in rows if r.state == REGISTERED),
            waitlist=tuple(_view_person(r) for r in rows if r.state == WAITLISTED),
        )

    def _event(
        self,
        tx: Tx,
        now: datetime,
        course: Course,
        event: str,
        data: dict[str, object] | None = None,
    ) -> None:
        """The audit log names the course, never a person (registrations can be erased)."""
        tx.events.add(
            at=now,
            actor=self.ctx.actor,
            entity="course",
            entity_id=course.id,
            event=event,
            to_state=course.state,
            data=dict(data or {}),
        )


def _check_new(new: NewCourse, today: date) -> None:
    if new.end <= new.start:
        raise InvalidInputError(
            _("--end {end} is not after --start {start}").format(
                end=new.end.isoformat(), start=new.start.isoformat()
            )
        )
    if new.end - new.start > timedelta(days=14):
        raise InvalidInputError(_("a course lasts at most 14 days (--start to --end)"))
    if new.start.date() < today:
        raise InvalidInputError(
            _("--start {start} lies in the past").format(start=new.start.date())
        )
    if not 1 <= new.capacity <= 10_000:
        raise InvalidInputError(_("--capacity must be 1–10000"))
    if (new.minimum is None) != (new.decide_by is None):
        raise InvalidInputError(_("--minimum and --decide-by go together"))
    if new.minimum is not None and not 1 <= new.minimum <= new.capacity:
        raise InvalidInputError(
            _("--minimum must be 1 to the capacity ({capacity})").format(capacity=new.capacity)
        )
    if new.decide_by is not None and not today <= new.decide_by < new.start.date():
        raise InvalidInputError(
            _("--decide-by {day} must be from today until before the course").format(
                day=new.decide_by
            )
        )


def _registrant(row: CourseRegistration) -> mail.Registrant:
    return mail.Registrant(row.name, row.email, row.organisation, row.ref)


def _view_person(row: CourseRegistration) -> Registrant:
    return Registrant(row.name, row.email, row.organisation)


def _write(path: Path, data: bytes) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
