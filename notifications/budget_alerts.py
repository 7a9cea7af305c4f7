"""What to queue when the tovholder's hours cross a line of the budget (pure).

Three alerts, each sent once per programme, part and recipient (the dedupe key says so):

* ``threshold``: 80 % of the maximum is used (to the consultant and the tovholder);
* ``over``: the maximum is exceeded (to the consultant and the tovholder);
* ``under``: the programme has ended with fewer hours than the minimum (to the consultant).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from engine.domain.budget import AlertLevel, PartStatus, round_hours
from engine.domain.model import Contact, OutboxDraft, Role
from notifications.compose import ProgrammeFacts, mail_draft
from notifications.render import da_date

KIND = "budget_alert"


def alert_key(programme_id: int, part: str, level: AlertLevel, email: str) -> str:
    return f"budget:{programme_id}:{part}:{level}:{email}"


def alert_recipients(programme: ProgrammeFacts, level: AlertLevel) -> list[tuple[Contact, Role]]:
    """The consultant always; the tovholder too while the programme runs."""
    roles = [Role.CONSULTANT] if level == "under" else [Role.CONSULTANT, Role.TOVHOLDER]
    return programme.recipients(roles)


def budget_alert_drafts(
    programme: ProgrammeFacts,
    status: PartStatus,
    level: AlertLevel,
    *,
    now: datetime,
    programme_end: date | None = None,
    recipients: Sequence[tuple[Contact, Role]] | None = None,
) -> list[OutboxDraft]:
    """One ``budget_alert`` per recipient, due now."""
    people = alert_recipients(programme, level) if recipients is None else recipients
    part = status.part
    drafts = []
    for contact, role in people:
        key = alert_key(programme.id, part.key, level, contact.email)
        context: dict[str, Any] = {
            "alert": level,
            "programme": programme.as_context(),
            "part": {
                "key": part.key,
                "title": part.title,
                "is_extension": part.is_extension,
                "min_hours": part.min_hours,
                "max_hours": part.max_hours,
                "used_hours": round_hours(status.used_hours),
                "percent_of_max": status.percent_of_max,
                "budget_text": part.text,
                "status": status.status,
            },
            "programme_end_text": da_date(programme_end) if programme_end else "",
            "recipient": {"name": contact.name, "email": contact.email, "role": str(role)},
            "consultant": {"name": programme.consultant.name, "email": programme.consultant.email},
            "tovholder": {"name": programme.tovholder.name, "email": programme.tovholder.email},
        }
        drafts.append(
            mail_draft(
                key=key,
                kind=KIND,
                recipient=contact,
                due_at=now,
                context=context,
                domain=programme.domain,
                programme_id=programme.id,
            )
        )
    return drafts
