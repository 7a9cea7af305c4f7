"""What to queue for a request: pure functions from request facts to outbox drafts.

* ``request_reminder``: before the 14-day deadline, to the assigned consultant (or the lead
  while nobody is assigned), on the configured days after receipt at a local time.
* ``request_escalation``: the morning after the deadline, to the lead: the SLA is breached.
* ``request_proposal``: the proposed start dates, to the organisation's contact.

The SLA notices are queued when the request is registered, due in the future, and cancelled
(by their dedupe-key prefix, :func:`sla_key_prefix`) when the request is answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.model import Contact, OutboxDraft
from engine.domain.planning import PlannedMilestone
from notifications.compose import mail_draft

REMINDER = "request_reminder"
ESCALATION = "request_escalation"
PROPOSAL = "request_proposal"
REMINDER_STEP = "reminder-"  # dedupe keys: request-sla:<id>:reminder-<days>:<email>


@dataclass(frozen=True)
class RequestFacts:
    """What every mail about a request may mention."""

    id: int
    workflow_title: str
    organisation: str
    contact: Contact
    wished_start: date
    received: date
    deadline: date
    domain: str  # for Message-IDs
    consultant: Contact | None = None

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow_title": self.workflow_title,
            "organisation": self.organisation,
            "contact": _person(self.contact),
            "wished_start": self.wished_start.isoformat(),
            "received": self.received.isoformat(),
            "deadline": self.deadline.isoformat(),
        }


@dataclass(frozen=True)
class Proposal:
    """One proposed start with what the planner expects of it."""

    start: date
    end: date
    main: PlannedMilestone | None  # the main meeting (the workshop), with its window


@dataclass(frozen=True)
class SlaNotice:
    """One SLA notice: a reminder ``days`` after receipt, or the escalation (``days`` None)."""

    kind: str
    due_at: datetime
    days: int | None = None


def sla_key_prefix(request_id: int) -> str:
    return f"request-sla:{request_id}:"


def sla_schedule(
    received: date, deadline: date, *, reminder_days: Sequence[int], at: time, tz: ZoneInfo
) -> list[SlaNotice]:
    """The reminders (on days after receipt, not after the deadline) and the escalation (the
    morning after the deadline), at local time ``at`` in ``tz``."""
    notices = [
        SlaNotice(REMINDER, datetime.combine(received + timedelta(days=d), at, tzinfo=tz), d)
        for d in sorted(set(reminder_days))
        if received + timedelta(days=d) <= deadline
    ]
    breach = datetime.combine(deadline + timedelta(days=1), at, tzinfo=tz)
    return [*notices, SlaNotice(ESCALATION, breach)]


def sla_drafts(
    request: RequestFacts,
    schedule: Sequence[SlaNotice],
    *,
    lead: Contact | None,
    now: datetime,
) -> list[OutboxDraft]:
    """Drafts for the notices of ``schedule``: reminders still ahead, and the escalation (at
    once when the deadline has already passed). Without anyone to tell, nothing is queued."""
    drafts = []
    for notice in schedule:
        if notice.kind == REMINDER:
            recipient = request.consultant or lead
            if recipient is None or notice.due_at <= now:
                continue
        else:
            recipient = lead or request.consultant
            if recipient is None:
                continue
        drafts.append(_sla_draft(request, notice, recipient, now))
    return drafts


def _sla_draft(
    request: RequestFacts, notice: SlaNotice, recipient: Contact, now: datetime
) -> OutboxDraft:
    due_day = notice.due_at.date()
    sent_day = max(notice.due_at, now).astimezone(notice.due_at.tzinfo).date()
    step = f"{REMINDER_STEP}{notice.days}" if notice.days is not None else "breach"
    context = {
        "request": request.as_context(),
        "recipient": _person(recipient),
        "consultant": _person(request.consultant) if request.consultant else None,
        "days_left": (request.deadline - due_day).days,
        "days_over": (sent_day - request.deadline).days,
    }
    key = f"{sla_key_prefix(request.id)}{step}:{recipient.email}"
    return _draft(request, key, notice.kind, recipient, max(notice.due_at, now), context)


def proposal_draft(
    request: RequestFacts,
    proposals: Sequence[Proposal],
    *,
    revision: int,
    contact_person: Contact | None,
    tz: ZoneInfo,
    now: datetime,
) -> OutboxDraft:
    """The proposed start dates, to the request's contact, due now. ``revision`` counts the
    proposals made for the request, so a new proposal is a new mail."""
    context = {
        "request": request.as_context(),
        "recipient": _person(request.contact),
        "proposals": [_proposal_context(p, tz) for p in proposals],
        "contact_person": _person(contact_person) if contact_person else None,
    }
    key = f"request-proposal:{request.id}:{revision}"
    return _draft(request, key, PROPOSAL, request.contact, now, context)


def _proposal_context(proposal: Proposal, tz: ZoneInfo) -> dict[str, Any]:
    main = proposal.main
    return {
        "start_date": proposal.start.isoformat(),
        "end_date": proposal.end.isoformat(),
        "main": None
        if main is None
        else {
            "title": main.title,
            "weeks": list(main.weeks),
            "window_start": main.window_start.isoformat(),
            "window_end": main.window_end.isoformat(),
        },
    }


def main_meeting(milestones: Sequence[PlannedMilestone]) -> PlannedMilestone | None:
    """The longest meeting of a plan (the workshop of socialt beredskab), or None."""
    meetings = [m for m in milestones if m.is_meeting and m.start and m.end]
    return max(meetings, key=_length, default=None)


def _length(meeting: PlannedMilestone) -> timedelta:
    assert meeting.start is not None and meeting.end is not None
    return meeting.end - meeting.start


def _draft(
    request: RequestFacts,
    key: str,
    kind: str,
    recipient: Contact,
    due_at: datetime,
    context: dict[str, Any],
) -> OutboxDraft:
    return mail_draft(
        key=key,
        kind=kind,
        recipient=recipient,
        due_at=due_at,
        context=context,
        domain=request.domain,
    )


def _person(contact: Contact) -> dict[str, str]:
    return {"name": contact.name, "email": contact.email}
