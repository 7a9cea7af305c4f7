"""A message that failed for good (a 5xx reply, or out of attempts): the consultant of its
programme learns in Danish who could not be reached (``delivery_failed``,
:mod:`notifications.compose_failures`), in the transaction that records the failure.

The notice goes to the programme's consultant; to the programme lead (``mail.lead``) when the
message belongs to no programme or went to the consultant themselves; to nobody when neither
can be told. Never about a notice (no loops), and once per failure: a message put back with
``fbh outbox retry`` that fails again is told again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from engine.domain.errors import FbhError
from engine.domain.model import Contact, OutboxState
from engine.services.context import ServiceContext
from engine.services.inbox_common import contact_of, programme_context
from engine.store.abc import FailureHook, OutboxTx
from engine.store.store import Tx
from engine.store.tables import OutboxMessage
from notifications.compose_failures import (
    DELIVERY_FAILED,
    NO_NOTICE_FOR,
    delivery_failed_draft,
)
from notifications.envelope import subject_of
from notifications.render import RenderError

log = logging.getLogger(__name__)


def failure_notices(ctx: ServiceContext) -> FailureHook:
    """The outbox worker's hook for a message that failed for good (``on_failed``)."""

    def notify(tx: OutboxTx, row: OutboxMessage, error: str, now: datetime) -> None:
        assert isinstance(tx, Tx)
        try:  # a savepoint: whatever goes wrong here, the failure itself is recorded
            with tx.session.begin_nested():
                notify_delivery_failed(ctx, tx, row, error, now)
        except (FbhError, SQLAlchemyError) as exc:
            log.error("could not queue the notice that outbox row %s failed: %s", row.id, exc)

    return notify


def notify_delivery_failed(
    ctx: ServiceContext, tx: Tx, row: OutboxMessage, error: str, now: datetime
) -> bool:
    """Queue the notice about ``row``; False when none is due (a notice about a notice, or
    nobody to tell)."""
    if row.kind in NO_NOTICE_FOR or row.id is None:
        return False
    programme = tx.programmes.get(row.programme_id) if row.programme_id is not None else None
    recipient: Contact | None = contact_of(tx, programme.consultant_id) if programme else None
    if recipient is None or recipient.email == row.recipient:
        recipient = ctx.settings.lead
    if recipient is None or recipient.email == row.recipient:
        log.warning("nobody to tell that outbox row %s to %s failed", row.id, row.recipient)
        return False
    to: dict[str, Any] = row.payload.get("to") or {}
    failed = Contact(str(to.get("name") or row.recipient), row.recipient)
    draft = delivery_failed_draft(
        programme=programme_context(ctx, tx, programme) if programme else None,
        programme_id=row.programme_id,
        recipient=recipient,
        failed=failed,
        message_id=row.id,
        kind=row.kind,
        subject=_subject(row),
        attempts=row.attempts,
        error=error,
        retries=tx.events.count(entity="outbox", entity_id=row.id, event="retried"),
        domain=ctx.settings.mail_domain,
        now=now,
    )
    queued = tx.outbox.enqueue([draft], now) > 0
    if queued:
        log.info("told %s that outbox row %s to %s failed", recipient.email, row.id, row.recipient)
    return queued


def _subject(row: OutboxMessage) -> str:
    try:
        return subject_of(row)
    except (RenderError, KeyError, ValueError, TypeError):
        return f"({row.kind})"


def retry_failed(
    ctx: ServiceContext, tx: Tx, now: datetime, *, ids: Sequence[int] | None = None
) -> list[int]:
    """``fbh outbox retry``: put the failed messages of ``ids`` (or every failed one) back to
    ``pending``, due now. Notices not yet sent about a message that goes again are void:
    they are cancelled (a new failure is told anew)."""
    retried = tx.outbox.retry_failed(now, actor=ctx.actor, ids=ids)
    if not retried:
        return retried
    again = set(retried)
    notices = tx.outbox.find(
        states=[OutboxState.PENDING.value, OutboxState.FAILED.value], kinds=[DELIVERY_FAILED]
    )
    void = [n.id for n in notices if n.id is not None and _about(n) in again]
    if void:
        tx.outbox.cancel_unsent(void)
        log.info("cancelled %d unsent notice(s) about messages sent again", len(void))
    return [ident for ident in retried if ident not in set(void)]


def _about(notice: OutboxMessage) -> int | None:
    """The outbox id a ``delivery_failed`` notice is about."""
    failed = (notice.payload.get("context") or {}).get("failed") or {}
    about = failed.get("id")
    return about if isinstance(about, int) else None
