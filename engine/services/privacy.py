"""Erasing a person everywhere (``fbh participant forget``, GDPR article 17)."""

from __future__ import annotations

from datetime import datetime

from engine.domain.errors import ConflictError
from engine.domain.i18n import _
from engine.domain.privacy import pseudonym, pseudonym_address
from engine.services.context import ServiceContext
from engine.services.participant_mail import ParticipantMail
from engine.store import forget as forgetting


def forget_person(
    ctx: ServiceContext, mail: ParticipantMail, address: str, now: datetime
) -> dict[str, int]:
    """Erase the person with ``address`` everywhere, in one transaction: every forgetter of
    :data:`engine.store.forget.FORGETTERS` runs; the audit log keeps a pseudonym. A person who
    is still a programme's consultant or tovholder is refused (hand the role over first)."""
    with ctx.store.transaction() as tx:
        person = tx.people.by_email(address)
        busy = tx.programmes.with_person(person.id or 0) if person is not None else []
        if busy:
            raise ConflictError(
                _(
                    "{email} is the consultant or tovholder of programme {id}; "
                    "hand the role over first (fbh programme edit)"
                ).format(email=address, id=busy[0])
            )
        names = {p.name for p in tx.participants.with_email(address)}
        if person is not None:
            names.add(person.name)
        key = ctx.settings.pseudonym_key or ctx.store.installation().installation_id
        who = forgetting.Forgetting(
            email=address,
            names=frozenset(n for n in names if len(n) >= 3),
            alias=pseudonym(address, key),
            alias_address=pseudonym_address(address, key),
        )
        programmes = {p.programme_id for p in tx.participants.with_email(address)}
        found = forgetting.forget(tx, who)
        for programme_id in sorted(programmes):
            loaded = ctx.load(tx, tx.programmes.get(programme_id))
            mail.refresh_all(tx, loaded, now)
        tx.events.add(
            at=now,
            actor=ctx.actor,
            entity="person",
            entity_id=None,
            programme_id=None,
            event="forgotten",
            data={"person": who.alias, "rows": found},
        )
        return found
