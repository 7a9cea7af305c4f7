"""SQLModel tables. Only organisations, staff contacts, dates and hours are stored: never
anything about residents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from engine.store.types import UTCDateTime


class _Table(SQLModel):
    """The base of every table: pydantic builds a table's validator when one is first used,
    not at import (the store writes rows without validating them through pydantic): a
    cheaper import, on `fbh serve`'s path to ready (docs/benchmarks.md, "Start-up")."""

    model_config = SQLModelConfig(defer_build=True)


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Organisation(_Table, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    created_at: datetime = _utc()


class Person(_Table, table=True):
    """A consultant, tovholder or lead. Staff only."""

    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, unique=True)
    created_at: datetime = _utc()


class Programme(_Table, table=True):
    __tablename__ = "programmes"

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=64, index=True)
    workflow_version: str = Field(max_length=100)
    # The TOML of every workflow the programme runs ({key: source}), kept as it was at start.
    workflow_snapshot: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    extensions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    municipality: str = Field(max_length=200)
    consultant_id: int = Field(foreign_key="people.id", index=True)
    tovholder_id: int = Field(foreign_key="people.id", index=True)
    start_date: date
    end_date: date
    state: str = Field(max_length=20, index=True)
    revision: int = 0  # bumped by move, pause and resume; part of reminder dedupe keys
    # The due time of its first check-in mail not queued yet (NULL: none left): check-ins
    # are queued ``mail.queue_ahead_days`` ahead and topped up from here, as reminders are
    # (``Milestone.timed_from``; engine/services/horizon.py).
    checkins_from: datetime | None = _utc(nullable=True, index=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Milestone(_Table, table=True):
    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("programme_id", "workflow", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    workflow: str = Field(max_length=64)
    key: str = Field(max_length=64)
    title: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    week_first: int
    week_last: int
    window_start: date
    window_end: date
    start_at: datetime | None = _utc(nullable=True, index=True)
    end_at: datetime | None = _utc(nullable=True)
    state: str = Field(max_length=20, index=True)
    position: int = 0  # order in the timeline
    sequence: int = 0  # iCalendar SEQUENCE of the meeting's invite
    pinned: bool = False  # placed by hand: a move keeps the local time but not the planner's day
    # The due time of its first reminder or task notice not queued yet (NULL: none left):
    # timed mail is queued ``mail.queue_ahead_days`` ahead and topped up from here
    # (engine/services/horizon.py).
    timed_from: datetime | None = _utc(nullable=True, index=True)
    updated_at: datetime = _utc()


class Event(_Table, table=True):
    """The append-only audit log: every transition and change, with who and when."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=200)
    entity: str = Field(max_length=20)  # programme | milestone | request | time | outbox
    entity_id: int | None = None
    programme_id: int | None = Field(default=None, index=True)
    event: str = Field(max_length=40)
    from_state: str | None = Field(default=None, max_length=20)
    to_state: str | None = Field(default=None, max_length=20)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxMessage(_Table, table=True):
    """A mail to send. Written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "due_at"),
        # The daemon's due column: claim_due, next_due, late_pending (migration 0003).
        Index("ix_outbox_next", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=40)
    programme_id: int | None = Field(default=None, index=True)
    milestone_id: int | None = Field(default=None, index=True)
    recipient: str = Field(max_length=254)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=20)  # pending | sending | sent | failed | missed | cancelled
    due_at: datetime = _utc()
    created_at: datetime = _utc()
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claimed_at: datetime | None = _utc(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = _utc(nullable=True)
    message_id: str = Field(max_length=300)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The message's wire bytes, rendered ahead of its due time, and the fingerprint of what
    # rendered them (notifications/prerender.py); NULL: rendered at send (migration 0010).
    rendered: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    rendered_with: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class Invite(_Table, table=True):
    """The invite ledger: per meeting and recipient, what was last sent."""

    __tablename__ = "invites"
    __table_args__ = (UniqueConstraint("milestone_id", "recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    milestone_id: int = Field(foreign_key="milestones.id")
    recipient: str = Field(max_length=254)
    uid: str = Field(max_length=300)
    sequence: int
    method: str = Field(max_length=10)
    updated_at: datetime = _utc()


class Request(_Table, table=True):
    """A housing organisation's request for a programme; BL answers within the SLA."""

    __tablename__ = "requests"

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=64)
    organisation: str = Field(max_length=200)
    contact_name: str = Field(max_length=200)
    contact_email: str = Field(max_length=254)
    wished_start: date
    received: date
    deadline: date = Field(index=True)
    state: str = Field(max_length=20, index=True)
    consultant_id: int | None = Field(default=None, foreign_key="people.id")
    programme_id: int | None = Field(default=None, foreign_key="programmes.id")
    proposed_starts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    # A request that arrived by e-mail: when it arrived, and its text (engine/services/inbox.py).
    received_at: datetime | None = _utc(nullable=True)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TimeEntry(_Table, table=True):
    """Hours the tovholder spent on one part (workflow) of a programme."""

    __tablename__ = "time_entries"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    workflow: str = Field(max_length=64)
    person_id: int = Field(foreign_key="people.id")
    work_date: date
    hours: float
    note: str = Field(default="", max_length=500)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Daemon(_Table, table=True):
    """A running ``fbh serve``: its heartbeat, and whether it leads (HA on PostgreSQL)."""

    __tablename__ = "daemons"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)  # also the worker id of its outbox claims
    host: str = Field(max_length=200)
    pid: int
    started_at: datetime = _utc()
    seen_at: datetime = _utc(index=True)
    is_leader: bool = False


class Installation(_Table, table=True):
    """One row: this database's random installation id (see engine/domain/identity.py).

    ``legacy_max_programme_id`` is the largest programme id when the id was created: those
    programmes keep their meetings' old UIDs, so calendars do not get the meetings twice."""

    __tablename__ = "installation"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: str = Field(max_length=32)
    legacy_max_programme_id: int = 0
    created_at: datetime = _utc()


class InboxMessage(_Table, table=True):
    """One inbound mail, recorded once by Message-ID in the transaction that applies it."""

    __tablename__ = "inbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=300, unique=True)
    source_key: str = Field(max_length=300)  # Maildir file name or IMAP UID
    received: datetime = _utc(index=True)
    sender: str = Field(default="", max_length=254)
    subject: str = Field(default="", max_length=300)
    kind: str = Field(max_length=20)  # reply | request | bounce | auto-reply | unknown
    state: str = Field(max_length=20, index=True)  # processed | set-aside
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    programme_id: int | None = Field(default=None, index=True)
    request_id: int | None = None
    processed_at: datetime = _utc()


class MeetingAnswer(_Table, table=True):
    """An attendee's last iTIP answer to a meeting; it holds while the meeting's time is the
    ``start_at`` it answered."""

    __tablename__ = "meeting_answers"
    __table_args__ = (UniqueConstraint("milestone_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    milestone_id: int = Field(foreign_key="milestones.id")
    email: str = Field(max_length=254)
    partstat: str = Field(max_length=20)  # accepted | declined | tentative | countered
    comment: str = Field(default="", max_length=2000)
    sequence: int = 0  # the SEQUENCE it answered
    start_at: datetime | None = _utc(nullable=True)  # the meeting time it answered
    proposed_start: datetime | None = _utc(nullable=True)  # a counter-proposal's time
    answered_at: datetime = _utc()
    message_id: str = Field(max_length=300)


class Bounce(_Table, table=True):
    """An address that bounced, per bounced message."""

    __tablename__ = "bounces"
    __table_args__ = (UniqueConstraint("email", "bounced_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    bounced_message_id: str = Field(max_length=300)  # ours, or '' when the DSN names none
    outbox_id: int | None = None
    programme_id: int | None = Field(default=None, index=True)
    status: str = Field(default="", max_length=200)
    at: datetime = _utc()
    report_message_id: str = Field(max_length=300)


class FeedToken(_Table, table=True):
    """A calendar feed token (``/feeds/{token}.ics``), stored as its SHA-256 only."""

    __tablename__ = "feed_tokens"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(nullable=True)


class Course(_Table, table=True):
    """A BASIS course date in the course calendar (``fbh course``). ``state`` is ``planned``
    or ``cancelled``; a planned course whose end has passed is shown as ``held``."""

    __tablename__ = "courses"

    id: int | None = Field(default=None, primary_key=True)
    city: str = Field(max_length=40)
    venue: str = Field(max_length=200)
    venue_email: str | None = Field(default=None, max_length=254)
    start_at: datetime = _utc(index=True)
    end_at: datetime = _utc()
    capacity: int
    minimum: int | None = None
    decide_by: date | None = None
    state: str = Field(max_length=20, index=True)
    sequence: int = 0  # iCalendar SEQUENCE of the course's invites
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class CourseRegistration(_Table, table=True):
    """One person signed up for a course: only name, e-mail and organisation are stored.
    ``state`` is ``registered`` or ``waitlisted``; ``position`` orders the waiting list."""

    __tablename__ = "course_registrations"
    __table_args__ = (UniqueConstraint("course_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, index=True)
    organisation: str = Field(max_length=200)
    state: str = Field(max_length=20)
    position: int
    ref: str = Field(max_length=32)  # random; names the registration in outbox dedupe keys
    created_at: datetime = _utc()


class Checkin(_Table, table=True):
    """A maintenance check-in after a programme that someone closed (done or skipped); the
    open ones follow from the definition's ``checkins`` and the programme's end."""

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("programme_id", "months"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    months: int
    state: str = Field(max_length=20)  # done | skipped
    updated_at: datetime = _utc()


class PageToken(_Table, table=True):
    """A token of the tovholder's page (``/p/{token}``), stored as its SHA-256 only."""

    __tablename__ = "page_tokens"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    person_id: int = Field(foreign_key="people.id")  # the tovholder it was issued to
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    source: str = Field(max_length=16)  # cli, summary or weekly: what issued it
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(nullable=True)


class PageSecret(_Table, table=True):
    """One row: the installation's random key for the page's CSRF tokens (migration 0008)."""

    __tablename__ = "page_secret"

    id: int | None = Field(default=None, primary_key=True)
    secret: str = Field(max_length=64)
    created_at: datetime = _utc()


class Participant(_Table, table=True):
    """A participant of one part (workflow) of a programme: staff of an organisation or a
    local actor, never a resident. Only name, address, organisation, kind and role."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("programme_id", "part", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programmes.id", index=True)
    part: str = Field(max_length=64)  # the workflow key: the base or an extension (TILPASSET)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, index=True)
    organisation: str = Field(max_length=200)
    kind: str = Field(max_length=64)  # a kind key of the definition's [workflow.participants]
    role: str = Field(max_length=20)  # employee | leader
    created_at: datetime = _utc()
