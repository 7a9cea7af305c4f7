"""The BASIS course calendar's mail and public calendar: pure functions from course facts to
outbox drafts, and the published HTML page and ICS file (``fbh course publish``).

Each registered person gets their own invite with only themselves as ATTENDEE (the others'
addresses are not theirs to see); the UID is the course's, so the ICS file and a mailed invite
are one event in a calendar. Dedupe keys start ``course:{id}:`` and name the registration by
its random ``ref``, so a person who unregisters and registers again is mailed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.domain.model import Contact, OutboxDraft
from notifications.compose import mail_draft
from notifications.invites import InviteSpec, build_feed, course_uid
from notifications.render import da_date, environment

COURSE_TITLE = "BASIS-kursus i socialt beredskab"
INVITE_KIND = "course_invite"
NOTICE_KIND = "course_notice"
REMINDER_KIND = "course_reminder"
ROSTER_KIND = "course_roster"
DECISION_KIND = "course_decision"
FEED_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class CourseFacts:
    """What every mail about a course may mention."""

    id: int
    city: str
    venue: str
    start: datetime  # aware, local
    end: datetime
    capacity: int
    minimum: int | None
    decide_by: date | None
    sequence: int
    domain: str
    organizer: Contact
    installation: str = ""

    @property
    def uid(self) -> str:
        return course_uid(self.id, self.domain, self.installation)

    @property
    def summary(self) -> str:
        return f"{COURSE_TITLE}, {self.city}"

    @property
    def location(self) -> str:
        return f"{self.venue}, {self.city}"

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": COURSE_TITLE,
            "city": self.city,
            "venue": self.venue,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "capacity": self.capacity,
            "minimum": self.minimum,
            "decide_by_text": da_date(self.decide_by) if self.decide_by else "",
        }


@dataclass(frozen=True)
class Registrant:
    name: str
    email: str
    organisation: str
    ref: str

    @property
    def contact(self) -> Contact:
        return Contact(self.name, self.email)

    def as_context(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "organisation": self.organisation}


def _key(course: CourseFacts, *parts: object) -> str:
    return ":".join(["course", str(course.id), *map(str, parts)])


def person_prefix(course_id: int, ref: str) -> str:
    """The dedupe-key prefix of every mail to one registration."""
    return f"course:{course_id}:{ref}:"


def _draft(
    course: CourseFacts,
    *,
    key: str,
    kind: str,
    to: Contact,
    due_at: datetime,
    context: dict[str, Any],
    invite: dict[str, Any] | None = None,
) -> OutboxDraft:
    return mail_draft(
        key=key,
        kind=kind,
        recipient=to,
        due_at=due_at,
        context={"course": course.as_context(), **context},
        domain=course.domain,
        invite=invite,
    )


def invite_draft(
    course: CourseFacts, person: Registrant, *, method: str, now: datetime, promoted: bool = False
) -> OutboxDraft:
    """The confirmation with its REQUEST, or the CANCEL, to one person."""
    invite = {
        "uid": course.uid,
        "sequence": course.sequence,
        "method": method,
        "summary": course.summary,
        "description": f"{COURSE_TITLE} med BL – Danmarks Almene Boliger.",
        "location": course.location,
        "start": course.start.isoformat(),
        "end": course.end.isoformat(),
        "organizer": {"name": course.organizer.name, "email": course.organizer.email},
        "attendees": [{"name": person.name, "email": person.email}],
    }
    return _draft(
        course,
        key=_key(course, person.ref, "invite", f"s{course.sequence}", method),
        kind=INVITE_KIND,
        to=person.contact,
        due_at=now,
        context={"method": method, "promoted": promoted, "recipient": person.as_context()},
        invite=invite,
    )


def notice_draft(
    course: CourseFacts, person: Registrant, *, reason: str, position: int, now: datetime
) -> OutboxDraft:
    """A mail without an invite: ``waitlisted`` (with the place in line) or ``cancelled``."""
    return _draft(
        course,
        key=_key(course, person.ref, reason),
        kind=NOTICE_KIND,
        to=person.contact,
        due_at=now,
        context={"reason": reason, "position": position, "recipient": person.as_context()},
    )


def reminder_drafts(
    course: CourseFacts, person: Registrant, dues: Sequence[tuple[int, datetime]], now: datetime
) -> list[OutboxDraft]:
    """Reminders to one registered person at each (working days before, when) still ahead."""
    return [
        _draft(
            course,
            key=_key(course, person.ref, "reminder", days),
            kind=REMINDER_KIND,
            to=person.contact,
            due_at=due,
            context={"recipient": person.as_context(), "days": days},
        )
        for days, due in dues
        if due > now
    ]


def roster_draft(
    course: CourseFacts,
    venue: Contact,
    registered: Sequence[Registrant],
    *,
    due_at: datetime,
) -> OutboxDraft:
    """The venue's list of who is coming (names and organisations)."""
    return _draft(
        course,
        key=_key(course, "roster"),
        kind=ROSTER_KIND,
        to=venue,
        due_at=due_at,
        context={
            "recipient": {"name": venue.name, "email": venue.email},
            # the address is not shown; it lets ``fbh participant forget`` find the row
            "participants": [
                {"name": p.name, "organisation": p.organisation, "email": p.email}
                for p in registered
            ],
            "count": len(registered),
        },
    )


def decision_key(course_id: int) -> str:
    return f"course:{course_id}:decision"


def decision_draft(
    course: CourseFacts, lead: Contact, registered: Sequence[Registrant], *, due_at: datetime
) -> OutboxDraft:
    """The question to the lead: the course is under its minimum; hold it or cancel it?"""
    return _draft(
        course,
        key=decision_key(course.id),
        kind=DECISION_KIND,
        to=lead,
        due_at=due_at,
        context={
            "recipient": {"name": lead.name, "email": lead.email},
            "registered": len(registered),
            "missing": max((course.minimum or 0) - len(registered), 0),
            "participants": [
                {"name": p.name, "organisation": p.organisation, "email": p.email}
                for p in registered
            ],
        },
    )


@dataclass(frozen=True)
class PublishedCourse:
    facts: CourseFacts
    registered: int
    waitlisted: int


def publish_ics(courses: Sequence[PublishedCourse], now: datetime) -> bytes:
    """The planned courses as one ``METHOD:PUBLISH`` calendar, without attendees."""
    specs = [
        InviteSpec(
            uid=c.facts.uid,
            sequence=c.facts.sequence,
            method="REQUEST",
            summary=c.facts.summary,
            description=f"{COURSE_TITLE} med BL – Danmarks Almene Boliger.",
            location=c.facts.location,
            start=c.facts.start,
            end=c.facts.end,
            organizer=c.facts.organizer,
            attendees=(),
            dtstamp=now,
        )
        for c in courses
    ]
    return build_feed(specs, name=f"{COURSE_TITLE} – kursuskalender", ttl=FEED_TTL)


def publish_html(courses: Sequence[PublishedCourse], now: datetime) -> str:
    """The public course calendar page (Danish, autoescaped)."""
    rows = [
        {
            "city": c.facts.city,
            "venue": c.facts.venue,
            "start": c.facts.start,
            "end": c.facts.end,
            "free": max(c.facts.capacity - c.registered, 0),
            "capacity": c.facts.capacity,
            "waitlisted": c.waitlisted,
        }
        for c in courses
    ]
    template = environment().get_template("course_calendar.html")
    return template.render(title=COURSE_TITLE, courses=rows, updated=now)
