"""The 14-day answer to a request: queuing and cancelling its SLA notices in a transaction.

Used by :mod:`engine.services.requests` (queue at registration, re-queue on
assignment, cancel on an answer) and by the daemon's periodic SLA check, which queues what is
missing for every open request; dedupe keys make each notice go once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.config.settings import Settings
from engine.domain.definitions import WorkflowRegistry
from engine.domain.errors import FbhError
from engine.domain.model import Contact, RequestState
from engine.store.store import Request, Tx
from notifications.compose_requests import (
    REMINDER_STEP,
    RequestFacts,
    sla_drafts,
    sla_key_prefix,
    sla_schedule,
)

log = logging.getLogger(__name__)


def request_facts(
    tx: Tx, row: Request, settings: Settings, registry: WorkflowRegistry
) -> RequestFacts:
    assert row.id is not None
    consultant = None
    if row.consultant_id is not None:
        person = tx.people.get(row.consultant_id)
        consultant = Contact(person.name, person.email)
    return RequestFacts(
        id=row.id,
        workflow_title=workflow_title(registry, row.workflow),
        organisation=row.organisation,
        contact=Contact(row.contact_name, row.contact_email),
        wished_start=row.wished_start,
        received=row.received,
        deadline=row.deadline,
        domain=settings.mail_domain,
        consultant=consultant,
    )


def workflow_title(registry: WorkflowRegistry, key: str) -> str:
    try:
        return registry.get(key).title
    except FbhError:
        return key


def queue_sla(
    tx: Tx, row: Request, settings: Settings, registry: WorkflowRegistry, now: datetime
) -> int:
    """Queue the reminders and the escalation of an open request; returns how many are new."""
    if row.state != RequestState.RECEIVED.value:
        return 0
    facts = request_facts(tx, row, settings, registry)
    schedule = sla_schedule(
        row.received,
        row.deadline,
        reminder_days=settings.requests.reminder_days,
        at=settings.requests.at,
        tz=settings.tz,
    )
    drafts = sla_drafts(facts, schedule, lead=settings.lead, now=now)
    if not drafts:
        log.warning(
            "request %s: nobody to remind of its deadline (set mail.lead or assign a consultant)",
            row.id,
        )
    return tx.outbox.enqueue(drafts, now)


def cancel_sla(tx: Tx, request_id: int, *, reminders_only: bool = False) -> int:
    """Cancel the request's SLA notices (or only its reminders) that have not gone out."""
    prefix = sla_key_prefix(request_id) + (REMINDER_STEP if reminders_only else "")
    return tx.outbox.cancel_by_prefix(prefix)
