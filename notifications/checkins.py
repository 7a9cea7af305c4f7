"""The maintenance check-in mail to the continuing tovholder (pure)."""

from __future__ import annotations

from datetime import datetime

from engine.domain.checkins import checkin_key
from engine.domain.model import OutboxDraft, Role
from notifications.compose import ProgrammeFacts, mail_draft

KIND = "checkin"


def prefix(programme_id: int, months: int | None = None) -> str:
    """The dedupe-key prefix of a programme's check-ins (of one, with ``months``)."""
    return f"checkin:{programme_id}:" + (f"{months}:" if months is not None else "")


def checkin_draft(programme: ProgrammeFacts, months: int, due: datetime) -> OutboxDraft:
    """The check-in ``months`` after the end, to the programme's tovholder at ``due``. The key
    names the revision and the tovholder: a move or a handover queues it anew."""
    tovholder = programme.tovholder
    key = f"{prefix(programme.id, months)}r{programme.revision}:{tovholder.email}"
    draft = mail_draft(
        key=key,
        kind=KIND,
        recipient=tovholder,
        due_at=due,
        context={
            "programme": programme.as_context(),
            "checkin": {"months": months, "key": checkin_key(months)},
            "recipient": {
                "name": tovholder.name,
                "email": tovholder.email,
                "role": Role.TOVHOLDER.value,
            },
            "consultant": {"name": programme.consultant.name, "email": programme.consultant.email},
        },
        domain=programme.domain,
        programme_id=programme.id,
    )
    draft.payload["reply_to"] = {
        "name": programme.consultant.name,
        "email": programme.consultant.email,
    }
    return draft
