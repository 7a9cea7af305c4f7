"""What to queue: pure functions that turn engine facts into outbox drafts.

A draft's payload holds everything needed to render the mail later (``claim → render →
send``), so rendering never reads the database. Dedupe keys make queuing idempotent: the same
fact never queues the same mail twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.model import Contact, OutboxDraft, Role
from engine.domain.planning import PlannedMilestone, reminder_times
from engine.domain.workdays import WorkingCalendar
from engine.domain.workflow import MilestoneDef
from notifications.invites import invite_uid
from notifications.mime import message_id_for

TASK_NOTICE_TIME = time(8, 0)  # a task-due notice goes out at 08:00 on its window's first day

# reminder_times is pure, and programmes created together (same starts, same workflows) ask it
# the same questions over and over.
_reminder_due = lru_cache(maxsize=4096)(reminder_times)


@dataclass(frozen=True)
class ProgrammeFacts:
    """What every mail about a programme may mention."""

    id: int
    workflow_title: str
    organisation: str
    municipality: str
    consultant: Contact
    tovholder: Contact
    lead: Contact | None
    revision: int
    domain: str  # for UIDs and Message-IDs
    organizer: Contact  # the fbh mailbox: ORGANIZER of every invite
    installation: str = ""  # in UIDs; '' for programmes older than installation ids
    # (workflow key, title) of the base and each extension, e.g. TILPASSET
    part_titles: tuple[tuple[str, str], ...] = ()

    def title_of(self, workflow: str) -> str:
        """The title of the part ``workflow`` belongs to (the base's when unknown)."""
        return dict(self.part_titles).get(workflow, self.workflow_title)

    @property
    def full_title(self) -> str:
        """Every part: ``Socialt beredskab + Kompetenceudvikling – TILPASSET``."""
        titles = [title for _key, title in self.part_titles] or [self.workflow_title]
        return " + ".join(titles)

    def contact_for(self, role: Role) -> Contact | None:
        if role == Role.CONSULTANT:
            return self.consultant
        if role == Role.TOVHOLDER:
            return self.tovholder
        if role == Role.LEAD:
            return self.lead
        return None

    def recipients(self, roles: Iterable[Role]) -> list[tuple[Contact, Role]]:
        """The addressable people among ``roles`` (participants are not stored), unique."""
        found: dict[str, tuple[Contact, Role]] = {}
        for role in roles:
            contact = self.contact_for(role)
            if contact is not None and contact.email not in found:
                found[contact.email] = (contact, role)
        return list(found.values())

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow_title": self.workflow_title,
            "organisation": self.organisation,
            "municipality": self.municipality,
        }


@dataclass(frozen=True)
class MeetingFacts:
    """A meeting milestone as it stands now."""

    milestone_id: int
    planned: PlannedMilestone
    definition: MilestoneDef
    sequence: int

    @property
    def start(self) -> datetime:
        assert self.planned.start is not None
        return self.planned.start

    @property
    def end(self) -> datetime:
        assert self.planned.end is not None
        return self.planned.end


def uid_for(programme: ProgrammeFacts, planned: PlannedMilestone) -> str:
    return invite_uid(
        programme.id,
        planned.workflow,
        planned.key.replace("_", "-"),
        programme.domain,
        programme.installation,
    )


def _person(contact: Contact, role: Role | str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": contact.name, "email": contact.email}
    if role is not None:
        data["role"] = str(role)
    return data


def mail_draft(
    *,
    key: str,
    kind: str,
    recipient: Contact,
    due_at: datetime,
    context: dict[str, Any],
    domain: str,
    programme_id: int | None = None,
    milestone_id: int | None = None,
    invite: dict[str, Any] | None = None,
    attachments: list[dict[str, str]] | None = None,
) -> OutboxDraft:
    """An outbox draft: the payload every mail kind shares, and its deterministic Message-ID.
    ``attachments`` are text files (``filename``, ``subtype``, ``text``) sent with the mail."""
    payload: dict[str, Any] = {
        "template": kind,
        "to": _person(recipient),
        "context": context,
    }
    if invite is not None:
        payload["invite"] = invite
    if attachments:
        payload["attachments"] = attachments
    return OutboxDraft(
        dedupe_key=key,
        kind=kind,
        recipient=recipient.email,
        due_at=due_at,
        payload=payload,
        message_id=message_id_for(key, domain),
        programme_id=programme_id,
        milestone_id=milestone_id,
    )


def _draft(
    programme: ProgrammeFacts,
    *,
    key: str,
    kind: str,
    recipient: Contact,
    due_at: datetime,
    context: dict[str, Any],
    milestone_id: int | None = None,
    invite: dict[str, Any] | None = None,
) -> OutboxDraft:
    draft = mail_draft(
        key=key,
        kind=kind,
        recipient=recipient,
        due_at=due_at,
        context=context,
        domain=programme.domain,
        programme_id=programme.id,
        milestone_id=milestone_id,
        invite=invite,
    )
    # People answer people: replies go to the consultant, while the ORGANIZER of an invite
    # stays the address fbh reads (docs/inbound.md).
    draft.payload["reply_to"] = _person(programme.consultant)
    return draft


programme_draft = _draft  # for the other compose modules (compose_participants.py)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def milestone_context(planned: PlannedMilestone, definition: MilestoneDef) -> dict[str, Any]:
    """A milestone as the templates see it (``title``, ``start``, ``location``, …)."""
    return _milestone_context(planned, definition)


def _milestone_context(planned: PlannedMilestone, definition: MilestoneDef) -> dict[str, Any]:
    return {
        "title": planned.title,
        "description": definition.description,
        "kind": planned.kind.value,
        "location": definition.location,
        "week": planned.weeks[0],
        "weeks": list(planned.weeks),
        "window_start": _iso(planned.window_start),
        "window_end": _iso(planned.window_end),
        "start": _iso(planned.start),
        "end": _iso(planned.end),
    }


def invite_drafts(
    programme: ProgrammeFacts,
    meeting: MeetingFacts,
    *,
    method: str,
    recipients: Sequence[tuple[Contact, Role | str]],
    now: datetime,
    is_update: bool = False,
    answers: Mapping[str, str] | None = None,
    ical_roles: Mapping[str, str] | None = None,
    uninvited: bool = False,
    meeting_context: dict[str, Any] | None = None,
    uid: str | None = None,
) -> list[OutboxDraft]:
    """One REQUEST or CANCEL per recipient, due now. ``answers`` (email → PARTSTAT) are the
    answers that still hold: the invite repeats them. ``ical_roles`` (email → ROLE) are the
    ATTENDEE roles other than REQ-PARTICIPANT; ``uninvited``: a CANCEL to people taken off the
    meeting (participants removed), not a cancelled meeting. ``meeting_context`` and ``uid``:
    :func:`milestone_context` and :func:`uid_for` of the meeting when the caller has them
    (creation shares them between programmes of one plan); never changed here."""
    attendees = [_person(contact) for contact, _ in recipients]
    for attendee in attendees:
        if answers and attendee["email"] in answers:
            attendee["partstat"] = answers[attendee["email"]]
        if ical_roles and ical_roles.get(attendee["email"], "REQ-PARTICIPANT") != (
            "REQ-PARTICIPANT"
        ):
            attendee["role"] = ical_roles[attendee["email"]]
    title = meeting.planned.title
    part = programme.title_of(meeting.planned.workflow)  # a course day is TILPASSET's
    if meeting_context is None:
        meeting_context = _milestone_context(meeting.planned, meeting.definition)
    invite = {
        "uid": uid_for(programme, meeting.planned) if uid is None else uid,
        "sequence": meeting.sequence,
        "method": method,
        "summary": f"{title} – {part} ({programme.organisation})",
        "description": meeting.definition.description,
        "location": meeting.definition.location,
        "start": meeting_context["start"],  # the meeting's, as an ISO text
        "end": meeting_context["end"],
        "organizer": _person(programme.organizer),
        "attendees": attendees,
    }
    # The parts every recipient's mail shares are built once, and each draft is built here
    # rather than by _draft (its payload keys in the same order): creating 10,000 programmes
    # composes about 90,000 of them.
    programme_context = programme.as_context() | {"workflow_title": part}
    consultant, tovholder = _person(programme.consultant), _person(programme.tovholder)
    domain, milestone_id, programme_id = programme.domain, meeting.milestone_id, programme.id
    prefix, suffix = f"invite:{milestone_id}:", f":{meeting.sequence}:{method}"
    drafts = []
    for contact, role in recipients:
        context = {
            "method": method,
            "is_update": is_update,
            "programme": programme_context,
            "meeting": meeting_context,
            "recipient": _person(contact, role),
            "consultant": consultant,
            "tovholder": tovholder,
        }
        if uninvited:
            context["uninvited"] = True
        email = contact.email
        key = f"{prefix}{email}{suffix}"
        payload = {
            "template": "invite",
            "to": {"name": contact.name, "email": email},
            "context": context,
            "invite": invite,
            "reply_to": consultant,  # read, never changed: one dict for every draft
        }
        drafts.append(
            OutboxDraft(
                dedupe_key=key,
                kind="invite",
                recipient=email,
                due_at=now,
                payload=payload,
                message_id=message_id_for(key, domain),
                programme_id=programme_id,
                milestone_id=milestone_id,
            )
        )
    return drafts


def reminder_drafts(
    programme: ProgrammeFacts,
    milestone_id: int,
    planned: PlannedMilestone,
    definition: MilestoneDef,
    *,
    sequence: int,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    now: datetime,
) -> list[OutboxDraft]:
    """The milestone's reminders that still lie in the future."""
    drafts: list[OutboxDraft] = []
    shared: dict[str, Any] = {}
    for index, reminder in enumerate(definition.reminders):
        due = _reminder_due(planned, reminder, calendar, tz)
        if due <= now:
            continue
        if not shared:
            shared = {
                "programme": programme.as_context(),
                "milestone": _milestone_context(planned, definition),
            }
        for contact, role in programme.recipients(reminder.to):
            context = {
                **shared,
                "recipient": _person(contact, role),
                "before_text": before_text(reminder.before),
            }
            key = (
                f"reminder:{milestone_id}:r{programme.revision}:s{sequence}:{index}:{contact.email}"
            )
            drafts.append(
                _draft(
                    programme,
                    key=key,
                    kind="reminder",
                    recipient=contact,
                    due_at=due,
                    context=context,
                    milestone_id=milestone_id,
                )
            )
    return drafts


def timed_due_times(
    planned: PlannedMilestone,
    definition: MilestoneDef,
    *,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    now: datetime,
) -> list[datetime]:
    """When the reminders and task notice that :func:`reminder_drafts` and
    :func:`task_notice_drafts` would queue fall due, without composing them (a reminder with
    no one to send to is counted too)."""
    times = [
        due
        for reminder in definition.reminders
        if (due := _reminder_due(planned, reminder, calendar, tz)) > now
    ]
    notice = _task_notice_due(planned, definition, tz, now)
    return times if notice is None else [*times, notice]


def _task_notice_due(
    planned: PlannedMilestone, definition: MilestoneDef, tz: ZoneInfo, now: datetime
) -> datetime | None:
    """When a task's notice is due: when its window opens, or now if it is open already
    (None: a meeting, a task without an owner, or a window that has closed)."""
    if definition.owner is None or planned.is_meeting:
        return None
    closes = datetime.combine(planned.window_end + timedelta(days=1), time(0), tzinfo=tz)
    if closes <= now:
        return None
    opens = datetime.combine(planned.window_start, TASK_NOTICE_TIME, tzinfo=tz)
    return max(opens, now)


def task_notice_drafts(
    programme: ProgrammeFacts,
    milestone_id: int,
    planned: PlannedMilestone,
    definition: MilestoneDef,
    *,
    tz: ZoneInfo,
    now: datetime,
) -> list[OutboxDraft]:
    """A notice to the task's owner when its window opens (at once if it is open already)."""
    due = _task_notice_due(planned, definition, tz, now)
    if due is None or definition.owner is None:
        return []
    programme_context = programme.as_context()
    milestone_context = _milestone_context(planned, definition)
    drafts = []
    for contact, role in programme.recipients([definition.owner]):
        context = {
            "programme": programme_context,
            "milestone": milestone_context,
            "recipient": _person(contact, role),
        }
        key = f"task_due:{milestone_id}:r{programme.revision}:{contact.email}"
        drafts.append(
            _draft(
                programme,
                key=key,
                kind="task_due",
                recipient=contact,
                due_at=due,
                context=context,
                milestone_id=milestone_id,
            )
        )
    return drafts


def summary_draft(
    programme: ProgrammeFacts,
    milestones: Sequence[tuple[PlannedMilestone, MilestoneDef]],
    *,
    budget: dict[str, Any] | None,
    now: datetime,
    budgets: Sequence[dict[str, Any]] = (),
    page_url: str = "",
    contexts: Sequence[dict[str, Any]] | None = None,
) -> OutboxDraft:
    """The tovholder's overview: every date of every part, what is expected, the time budget
    of each part (``budgets``: ``title`` and ``text``; ``budget`` is the base's), and the link
    to the tovholder's private page (``page_url``; empty: none). ``contexts``: the
    :func:`milestone_context` of each of ``milestones`` when the caller has them."""
    recipient = programme.tovholder
    if contexts is None:
        contexts = [_milestone_context(p, d) for p, d in milestones]
    titles = dict(programme.part_titles)
    base_title = programme.workflow_title
    context = {
        "programme": programme.as_context()
        | {"workflow_title": programme.full_title, "base_title": programme.workflow_title},
        "milestones": [
            known | {"owner": str(d.owner or ""), "part": titles.get(p.workflow, base_title)}
            for known, (p, d) in zip(contexts, milestones, strict=True)
        ],
        "budget": budget,
        "budgets": list(budgets),
        "consultant": _person(programme.consultant),
        "recipient": _person(recipient, Role.TOVHOLDER),
        "page_url": page_url,
    }
    return _draft(
        programme,
        key=f"summary:{programme.id}:{recipient.email}",
        kind="programme_summary",
        recipient=recipient,
        due_at=now,
        context=context,
    )


def cancellation_notice_drafts(
    programme: ProgrammeFacts, *, reason: str, now: datetime
) -> list[OutboxDraft]:
    """A plain notice to consultant and tovholder that the programme was cancelled."""
    return [
        _draft(
            programme,
            key=f"cancelled:{programme.id}:{contact.email}",
            kind="programme_cancelled",
            recipient=contact,
            due_at=now,
            context={
                "programme": programme.as_context(),
                "recipient": _person(contact, role),
                "reason": reason,
            },
        )
        for contact, role in programme.recipients([Role.CONSULTANT, Role.TOVHOLDER])
    ]


def before_text(offset: Any) -> str:
    """Danish text for a reminder offset: ``om 2 arbejdsdage``, ``om 2 timer``."""
    parts = []
    if offset.weeks:
        parts.append(f"{offset.weeks} {'uge' if offset.weeks == 1 else 'uger'}")
    if offset.workdays:
        parts.append(f"{offset.workdays} {'arbejdsdag' if offset.workdays == 1 else 'arbejdsdage'}")
    hours, minutes = divmod(offset.minutes, 60)
    if hours:
        parts.append(f"{hours} {'time' if hours == 1 else 'timer'}")
    if minutes:
        parts.append(f"{minutes} minutter")
    return "om " + " og ".join(parts) if parts else "nu"
