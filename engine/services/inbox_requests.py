"""A request by e-mail: a ``received`` request with its acknowledgement (docs/inbound.md)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from engine.domain.errors import FbhError
from engine.domain.model import MAX_NAME, Contact, RequestState
from engine.services.context import ServiceContext
from engine.services.inbox_common import PROCESSED, SET_ASIDE, Outcome
from engine.services.request_sla import queue_sla, workflow_title
from engine.store.store import Request, Tx
from notifications.compose_inbound import request_ack_draft
from notifications.inbound import InboundMail, Kind

DEFAULT_WORKFLOW = "socialt-beredskab"
DEFAULT_ANSWER_DAYS = 14
_ISO_DATE = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
_DK_DATE = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](20\d\d)\b")


def apply_request(
    ctx: ServiceContext, own_addresses: frozenset[str], tx: Tx, mail: InboundMail, now: datetime
) -> Outcome:
    if mail.sender in own_addresses:
        return Outcome(Kind.REQUEST, SET_ASIDE, "sent from fbh's own address")
    name, organisation = split_sender_name(mail.sender_name)
    try:
        contact = Contact.parse(f"{name[:MAX_NAME]} <{mail.sender}>")
    except FbhError as exc:
        return Outcome(Kind.REQUEST, SET_ASIDE, f"unusable From address: {exc}")
    organisation = organisation or contact.email.split("@", 1)[1]
    received_at = mail_arrival(mail, now)
    received = received_at.astimezone(ctx.tz).date()
    try:
        definition = ctx.registry.get(DEFAULT_WORKFLOW)
        days = definition.request_answer_days or DEFAULT_ANSWER_DAYS
    except FbhError:
        days = DEFAULT_ANSWER_DAYS
    deadline = received + timedelta(days=days)
    row = tx.requests.add(
        Request(
            workflow=DEFAULT_WORKFLOW,
            organisation=organisation[:200],
            contact_name=contact.name[:200],
            contact_email=contact.email,
            wished_start=wished_start(mail.text, received) or deadline,
            received=received,
            deadline=deadline,
            state=RequestState.RECEIVED.value,
            created_at=now,
            updated_at=now,
            received_at=received_at,
            text=_request_text(mail),
        )
    )
    tx.events.add(
        at=now,
        actor="inbox",
        entity="request",
        entity_id=row.id,
        event="create",
        to_state=row.state,
        data={"organisation": row.organisation, "message_id": mail.message_id},
    )
    queue_sla(tx, row, ctx.settings, ctx.registry, now)
    context = {
        "id": row.id,
        "workflow_title": workflow_title(ctx.registry, row.workflow),
        "organisation": row.organisation,
        "received": received.isoformat(),
        "deadline": deadline.isoformat(),
        "subject": mail.subject,
    }
    draft = request_ack_draft(
        context,
        contact,
        request_id=row.id or 0,
        reply_to=ctx.settings.lead,
        domain=ctx.settings.mail_domain,
        now=now,
    )
    tx.outbox.enqueue([draft], now)
    return Outcome(Kind.REQUEST, PROCESSED, f"request {row.id}", request_id=row.id)


def mail_arrival(mail: InboundMail, now: datetime) -> datetime:
    """When the mail arrived: its Date, unless that lies in the future or is missing."""
    if mail.date is not None and mail.date <= now + timedelta(minutes=5):
        return min(mail.date, now)
    return now


def wished_start(text: str, received: date) -> date | None:
    """The first date in the text that lies after receipt (ISO or Danish d.m.yyyy)."""
    candidates: list[date] = []
    for match in _ISO_DATE.finditer(text):
        candidates.append(_date(int(match[1]), int(match[2]), int(match[3])) or received)
    for match in _DK_DATE.finditer(text):
        candidates.append(_date(int(match[3]), int(match[2]), int(match[1])) or received)
    later = [d for d in candidates if d > received]
    return min(later) if later else None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _request_text(mail: InboundMail) -> str:
    head = f"Emne: {mail.subject}\n\n" if mail.subject else ""
    return (head + mail.text).strip()[:20_000]


def split_sender_name(display: str) -> tuple[str, str]:
    """The contact's name and organisation from a From display name: ``Karen Holm,
    Boligselskabet Øst`` (also with `` | ``, `` - `` or `` / ``) gives both; a plain name
    gives no organisation (the address's domain is used then)."""
    clean = " ".join("".join(c for c in display if c not in '<>"\r\n').split())[:200]
    for separator in (", ", " | ", " - ", " – ", " / "):
        name, found, organisation = clean.partition(separator)
        if found and name.strip() and organisation.strip():
            return name.strip(), organisation.strip()
    return clean, ""
