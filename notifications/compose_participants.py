"""What to queue for a meeting's participants: the reminder to those who have not answered,
and the headcount to the tovholder (docs/workflows.md, ``[workflow.participants]``).

Pure functions from facts to drafts. The dedupe keys carry the programme's revision and the
meeting's SEQUENCE, so a moved meeting queues them anew; the headcount's payload is rebuilt
after every answer while it waits (``engine/services/participant_mail.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.domain.model import Contact, OutboxDraft, Role
from notifications.compose import MeetingFacts, ProgrammeFacts, milestone_context, programme_draft

PARTSTAT_GROUPS: tuple[tuple[str, str], ...] = (
    ("accepted", "Kommer"),
    ("tentative", "Kommer måske"),
    ("needs-action", "Har ikke svaret"),
    ("declined", "Kommer ikke"),
)
ROLE_DA = {"employee": "medarbejder", "leader": "leder"}


@dataclass(frozen=True)
class Attendee:
    """A participant with their standing answer (lower case, ``needs-action`` if none)."""

    contact: Contact
    organisation: str
    kind_label: str
    role: str  # employee | leader
    partstat: str


@dataclass(frozen=True)
class Headcount:
    accepted: int
    tentative: int
    unanswered: int
    declined: int
    lunch: int  # accepted and tentative participants, plus the consultant and the tovholder

    def to_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "tentative": self.tentative,
            "unanswered": self.unanswered,
            "declined": self.declined,
            "lunch": self.lunch,
        }


def headcount(attendees: Sequence[Attendee], staff: int = 2) -> Headcount:
    """The counts of a participant meeting; ``staff`` (consultant and tovholder) eat too."""
    states = [a.partstat for a in attendees]
    accepted, tentative = states.count("accepted"), states.count("tentative")
    declined = states.count("declined")
    return Headcount(
        accepted=accepted,
        tentative=tentative,
        unanswered=len(states) - accepted - tentative - declined,
        declined=declined,
        lunch=accepted + tentative + staff,
    )


def key_base(programme: ProgrammeFacts, meeting: MeetingFacts) -> str:
    return f"{meeting.milestone_id}:r{programme.revision}:s{meeting.sequence}"


def reminder_key(programme: ProgrammeFacts, meeting: MeetingFacts, email: str) -> str:
    return f"participant_reminder:{key_base(programme, meeting)}:{email}"


def headcount_key(programme: ProgrammeFacts, meeting: MeetingFacts) -> str:
    """Per tovholder too: after a handover the new tovholder gets it, the old one not."""
    return f"headcount:{key_base(programme, meeting)}:{programme.tovholder.email}"


def _shared(programme: ProgrammeFacts, meeting: MeetingFacts) -> dict[str, Any]:
    part = programme.title_of(meeting.planned.workflow)
    return {
        "programme": programme.as_context() | {"workflow_title": part},
        "meeting": milestone_context(meeting.planned, meeting.definition),
        "consultant": {"name": programme.consultant.name, "email": programme.consultant.email},
        "tovholder": {"name": programme.tovholder.name, "email": programme.tovholder.email},
    }


def reminder_draft(
    programme: ProgrammeFacts, meeting: MeetingFacts, attendee: Contact, *, due: datetime
) -> OutboxDraft:
    """A reminder to a participant who has not answered the invite."""
    context = _shared(programme, meeting) | {
        "recipient": {"name": attendee.name, "email": attendee.email, "role": "participant"}
    }
    return programme_draft(
        programme,
        key=reminder_key(programme, meeting, attendee.email),
        kind="participant_reminder",
        recipient=attendee,
        due_at=due,
        context=context,
        milestone_id=meeting.milestone_id,
    )


def headcount_draft(
    programme: ProgrammeFacts,
    meeting: MeetingFacts,
    attendees: Sequence[Attendee],
    *,
    due: datetime,
) -> OutboxDraft:
    """The tovholder's headcount: who accepted, who may come, who has not answered, who
    declined, and how many to order lunch for."""
    counts = headcount(attendees)
    groups = []
    for partstat, title in PARTSTAT_GROUPS:
        people = [
            {
                "name": a.contact.name,
                "email": a.contact.email,
                "organisation": a.organisation,
                "kind": a.kind_label,
                "role": ROLE_DA.get(a.role, a.role),
            }
            for a in attendees
            if a.partstat == partstat
        ]
        groups.append({"partstat": partstat, "title": title, "people": people})
    tovholder = programme.tovholder
    context = _shared(programme, meeting) | {
        "recipient": {"name": tovholder.name, "email": tovholder.email, "role": Role.TOVHOLDER},
        "counts": counts.to_json(),
        "groups": groups,
    }
    return programme_draft(
        programme,
        key=headcount_key(programme, meeting),
        kind="headcount",
        recipient=tovholder,
        due_at=due,
        context=context,
        milestone_id=meeting.milestone_id,
    )
