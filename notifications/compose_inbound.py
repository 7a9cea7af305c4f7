"""What inbound mail makes fbh send: pure functions from facts to outbox drafts.

* ``meeting_answer``: the consultant learns at once that the tovholder (or they themselves)
  declined a meeting or proposed another time.
* ``request_ack``: the organisation's contact learns that the request arrived and by which date
  BL answers with proposed start dates.
* ``bounce_notice``: the consultant learns who could not be reached, in which programme.

Each carries ``Reply-To``: the person to talk to (``payload["reply_to"]``), while the sender
stays fbh's own address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain.model import Contact, OutboxDraft
from notifications.compose import mail_draft

__all__ = [
    "ANSWER_NOTICE",
    "BOUNCE_NOTICE",
    "REQUEST_ACK",
    "AnswerFacts",
    "answer_notice_draft",
    "bounce_notice_draft",
    "request_ack_draft",
]

ANSWER_NOTICE = "meeting_answer"
REQUEST_ACK = "request_ack"
BOUNCE_NOTICE = "bounce_notice"
PARTSTAT_DA = {
    "accepted": "accepteret",
    "declined": "afvist",
    "tentative": "foreløbigt accepteret",
    "needs-action": "ikke svaret",
    "delegated": "videresendt",
}


def _person(contact: Contact, role: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": contact.name, "email": contact.email}
    if role is not None:
        data["role"] = role
    return data


def with_reply_to(draft: OutboxDraft, reply_to: Contact | None) -> OutboxDraft:
    if reply_to is not None:
        draft.payload["reply_to"] = _person(reply_to)
    return draft


@dataclass(frozen=True)
class AnswerFacts:
    programme: dict[str, Any]  # id, workflow_title, organisation, municipality
    programme_id: int
    milestone_id: int
    meeting: dict[str, Any]  # title, start, end (ISO)
    attendee: Contact
    role: str
    partstat: str  # lower case
    counter: bool
    comment: str
    proposed_start: str | None
    message_id: str  # of the answer: one notice per answer


def answer_notice_draft(
    facts: AnswerFacts, consultant: Contact, *, domain: str, now: datetime
) -> OutboxDraft:
    context = {
        "programme": facts.programme,
        "meeting": facts.meeting,
        "recipient": _person(consultant, "consultant"),
        "attendee": _person(facts.attendee, facts.role),
        "answer": {
            "partstat": facts.partstat,
            "text": PARTSTAT_DA.get(facts.partstat, facts.partstat),
            "counter": facts.counter,
            "comment": facts.comment,
        },
        # a dict, so the outbox revives "start" as a datetime (notifications/envelope.py)
        "proposal": {"start": facts.proposed_start} if facts.proposed_start else None,
    }
    draft = mail_draft(
        key=f"answer:{facts.milestone_id}:{facts.attendee.email}:{facts.message_id}",
        kind=ANSWER_NOTICE,
        recipient=consultant,
        due_at=now,
        context=context,
        domain=domain,
        programme_id=facts.programme_id,
        milestone_id=facts.milestone_id,
    )
    return with_reply_to(draft, facts.attendee)


def request_ack_draft(
    request: dict[str, Any],
    contact: Contact,
    *,
    request_id: int,
    reply_to: Contact | None,
    domain: str,
    now: datetime,
) -> OutboxDraft:
    draft = mail_draft(
        key=f"request-ack:{request_id}",
        kind=REQUEST_ACK,
        recipient=contact,
        due_at=now,
        context={"request": request, "recipient": _person(contact)},
        domain=domain,
    )
    return with_reply_to(draft, reply_to)


def bounce_notice_draft(
    *,
    programme: dict[str, Any] | None,
    programme_id: int | None,
    recipient: Contact,
    address: str,
    status: str,
    bounced_kind: str,
    bounced_message_id: str,
    domain: str,
    now: datetime,
) -> OutboxDraft:
    context = {
        "programme": programme,
        "recipient": _person(recipient),
        "bounce": {"address": address, "status": status, "kind": bounced_kind},
    }
    return mail_draft(
        key=f"bounce:{address}:{bounced_message_id or 'unknown'}:{recipient.email}",
        kind=BOUNCE_NOTICE,
        recipient=recipient,
        due_at=now,
        context=context,
        domain=domain,
        programme_id=programme_id,
    )
