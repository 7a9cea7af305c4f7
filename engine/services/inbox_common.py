"""What the parts of inbound-mail processing share (engine/services/inbox.py)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.model import Contact
from engine.services.context import ServiceContext
from engine.services.request_sla import workflow_title
from engine.store.store import Programme, Tx

PROCESSED, SET_ASIDE = "processed", "set-aside"


@dataclass(frozen=True)
class Outcome:
    """What became of one message: its kind, ledger state and the reason."""

    kind: str
    state: str
    reason: str
    programme_id: int | None = None
    request_id: int | None = None


def programme_context(ctx: ServiceContext, tx: Tx, programme: Programme) -> dict[str, object]:
    organisation = tx.people.get_organisation(programme.organisation_id)
    return {
        "id": programme.id,
        "workflow_title": workflow_title(ctx.registry, programme.workflow),
        "organisation": organisation.name,
        "municipality": programme.municipality,
    }


def contact_of(tx: Tx, person_id: int) -> Contact:
    person = tx.people.get(person_id)
    return Contact(person.name, person.email)
