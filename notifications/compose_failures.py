"""What a message that failed for good makes fbh send: ``delivery_failed``, a Danish notice to
the consultant of its programme (or the programme lead) naming who could not be reached.

One notice per failure of a message (the dedupe key carries how often it was put back with
``fbh outbox retry``), and never one about a notice: a ``delivery_failed`` or
``bounce_notice`` that fails is only logged, so a broken mail server cannot make a loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.domain.model import Contact, OutboxDraft
from notifications.compose import mail_draft

__all__ = ["DELIVERY_FAILED", "KIND_TEXTS", "NO_NOTICE_FOR", "delivery_failed_draft", "notice_key"]

DELIVERY_FAILED = "delivery_failed"
NO_NOTICE_FOR = frozenset({DELIVERY_FAILED, "bounce_notice"})

# What the failed mail was, in the notice's words.
KIND_TEXTS = {
    "invite": "en mødeinvitation",
    "reminder": "en påmindelse",
    "task_due": "en besked om en opgave",
    "programme_summary": "oversigten over forløbet",
    "programme_cancelled": "beskeden om, at forløbet er aflyst",
    "request_proposal": "forslag til startdatoer",
    "request_reminder": "en påmindelse om en henvendelse",
    "request_escalation": "en besked om en henvendelse over fristen",
    "budget_alert": "en besked om timeforbruget",
    "digest_consultant": "ugeoversigten",
    "digest_lead": "ugeoversigten",
    "meeting_answer": "en besked om et mødesvar",
    "request_ack": "kvitteringen for en henvendelse",
}


def notice_key(message_id: int, retries: int) -> str:
    """The dedupe key of the notice about outbox row ``message_id`` after ``retries``
    retries: one notice per failure, however often the failure is recorded."""
    return f"delivery-failed:{message_id}:{retries}"


def delivery_failed_draft(
    *,
    programme: dict[str, Any] | None,
    programme_id: int | None,
    recipient: Contact,
    failed: Contact,
    message_id: int,
    kind: str,
    subject: str,
    attempts: int,
    error: str,
    retries: int,
    domain: str,
    now: datetime,
) -> OutboxDraft:
    context = {
        "programme": programme,
        "recipient": {"name": recipient.name, "email": recipient.email},
        "failed": {
            "id": message_id,
            "name": failed.name,
            "address": failed.email,
            "kind": kind,
            "kind_text": KIND_TEXTS.get(kind, "en e-mail"),
            "subject": subject,
            "attempts": attempts,
            "error": error,
        },
    }
    return mail_draft(
        key=notice_key(message_id, retries),
        kind=DELIVERY_FAILED,
        recipient=recipient,
        due_at=now,
        context=context,
        domain=domain,
        programme_id=programme_id,
    )
