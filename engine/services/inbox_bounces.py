"""A bounce: flag the address for the bounced message and tell the consultant
(docs/inbound.md)."""

from __future__ import annotations

from datetime import datetime

from engine.services.context import ServiceContext
from engine.services.inbox_common import (
    PROCESSED,
    SET_ASIDE,
    Outcome,
    contact_of,
    programme_context,
)
from engine.store import inbox as inbox_store
from engine.store.inbox import Bounce
from engine.store.store import Tx
from notifications.compose_inbound import ANSWER_NOTICE, BOUNCE_NOTICE, bounce_notice_draft
from notifications.inbound import InboundMail, Kind
from notifications.inbound.bounce import BounceReport

_NO_NOTICE_FOR = frozenset({ANSWER_NOTICE, BOUNCE_NOTICE})  # no notice about a notice: no loops


def apply_bounce(
    ctx: ServiceContext, tx: Tx, mail: InboundMail, report: BounceReport, now: datetime
) -> Outcome:
    if report.delayed_only:
        return Outcome(Kind.BOUNCE, PROCESSED, "delivery delayed, not failed")
    flagged: list[str] = []
    programme_id = None
    for failure in report.failures:
        row = None
        if report.original_message_id:
            row = inbox_store.outbox_by_message_id(tx, report.original_message_id)
        if row is None:
            row = inbox_store.last_sent_to(tx, failure.email)
        programme_id = row.programme_id if row else None
        new = inbox_store.add_bounce(
            tx,
            Bounce(
                email=failure.email[:254],
                bounced_message_id=(row.message_id if row else report.original_message_id)[:300],
                outbox_id=row.id if row else None,
                programme_id=programme_id,
                status=failure.status[:200],
                at=now,
                report_message_id=mail.message_id,
            ),
        )
        flagged.append(failure.email)
        if new and row is not None and row.kind not in _NO_NOTICE_FOR:
            _notify_bounce(
                ctx, tx, failure.email, failure.status, row.kind, row.message_id, programme_id, now
            )
    if not flagged:
        return Outcome(Kind.BOUNCE, SET_ASIDE, "bounce names no failed address")
    return Outcome(Kind.BOUNCE, PROCESSED, "bouncing: " + ", ".join(flagged), programme_id)


def _notify_bounce(
    ctx: ServiceContext,
    tx: Tx,
    address: str,
    status: str,
    kind: str,
    message_id: str,
    programme_id: int | None,
    now: datetime,
) -> None:
    programme = tx.programmes.get(programme_id) if programme_id is not None else None
    recipient = contact_of(tx, programme.consultant_id) if programme else ctx.settings.lead
    if recipient is None or recipient.email == address:
        recipient = ctx.settings.lead
    if recipient is None or recipient.email == address:
        return
    draft = bounce_notice_draft(
        programme=programme_context(ctx, tx, programme) if programme else None,
        programme_id=programme_id,
        recipient=recipient,
        address=address,
        status=status,
        bounced_kind=kind,
        bounced_message_id=message_id,
        domain=ctx.settings.mail_domain,
        now=now,
    )
    tx.outbox.enqueue([draft], now)
