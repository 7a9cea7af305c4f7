"""Erasing one person everywhere (``fbh participant forget``): one function per place that
holds a person, run in one transaction by ``engine.services.participants``.

To make a new table forgettable, write ``def forget_x(tx: Tx, who: Forgetting) -> int`` next to
its repository and add it to :data:`FORGETTERS` (one line). Each returns how many rows it
deleted or rewrote. The order matters only where rows refer to each other: ``people`` last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Delete, Text, cast, delete, exists, or_
from sqlmodel import col, select

from engine.domain.packed import PACKED_KEY, unpacked
from engine.domain.privacy import FORGOTTEN_NAME, scrub
from engine.store.store import Tx
from engine.store.tables import (
    Bounce,
    Event,
    FeedToken,
    InboxMessage,
    Invite,
    MeetingAnswer,
    OutboxMessage,
    Programme,
    Request,
    TimeEntry,
)


@dataclass(frozen=True)
class Forgetting:
    """Who is being forgotten, and what stays instead."""

    email: str  # lower case
    names: frozenset[str]  # the names stored for the address
    alias: str  # the pseudonym, e.g. person-3f9c0a1be27d4c55
    alias_address: str  # the pseudonym as an address that receives nothing

    def scrub(self, value: object) -> object:
        return scrub(value, self.email, self.names, self.alias)


Forgetter = Callable[[Tx, Forgetting], int]


def _deleted(tx: Tx, statement: Delete) -> int:
    return max(tx.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]


def forget_participants(tx: Tx, who: Forgetting) -> int:
    return tx.participants.forget(who.email)


def forget_course_registrations(tx: Tx, who: Forgetting) -> int:
    return tx.courses.forget(who.email)


def forget_answers(tx: Tx, who: Forgetting) -> int:
    return _deleted(tx, delete(MeetingAnswer).where(col(MeetingAnswer.email) == who.email))


def forget_invites(tx: Tx, who: Forgetting) -> int:
    return _deleted(tx, delete(Invite).where(col(Invite.recipient) == who.email))


def forget_bounces(tx: Tx, who: Forgetting) -> int:
    return _deleted(tx, delete(Bounce).where(col(Bounce.email) == who.email))


def forget_inbox(tx: Tx, who: Forgetting) -> int:
    """Inbound mail from the address: the ledger row stays (it keeps a mail from being applied
    twice) but names the pseudonym; its subject is dropped."""
    rows = tx.session.exec(
        select(InboxMessage).where(
            or_(
                col(InboxMessage.sender) == who.email,
                col(InboxMessage.reason).contains(who.email),
            )
        )
    ).all()
    for row in rows:
        if row.sender == who.email:
            row.sender, row.subject = who.alias_address, ""
        row.reason = str(who.scrub(row.reason))
        tx.session.add(row)
    return len(rows)


def forget_feed_tokens(tx: Tx, who: Forgetting) -> int:
    person = tx.people.by_email(who.email)
    if person is None:
        return 0
    return _deleted(tx, delete(FeedToken).where(col(FeedToken.person_id) == person.id))


def forget_outbox(tx: Tx, who: Forgetting) -> int:
    """Mail to the address is deleted; mail to others that names it is rewritten."""
    count = _deleted(tx, delete(OutboxMessage).where(col(OutboxMessage.recipient) == who.email))
    naming = list(
        tx.session.exec(
            select(OutboxMessage).where(cast(OutboxMessage.payload, Text).contains(who.email))
        ).all()
    )
    # A digest's context is stored packed (engine/domain/packed.py), where SQL cannot see
    # the address: each packed payload is unpacked and searched, and is kept unpacked.
    packed = select(OutboxMessage).where(cast(OutboxMessage.payload, Text).contains(PACKED_KEY))
    found = {row.id for row in naming}
    for row in tx.session.exec(packed).all():
        if row.id not in found and who.email in _text(unpacked(row.payload)).lower():
            naming.append(row)
    for row in naming:
        row.payload = who.scrub(unpacked(row.payload))  # type: ignore[assignment]
        row.rendered = row.rendered_with = None  # rendered from the old payload: names them
        tx.session.add(row)
    return count + len(naming)


def _text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def forget_events(tx: Tx, who: Forgetting) -> int:
    """The audit log keeps its events, with the pseudonym for the person."""
    rows = tx.session.exec(select(Event).where(cast(Event.data, Text).contains(who.email))).all()
    for row in rows:
        row.data = who.scrub(row.data)  # type: ignore[assignment]
        tx.session.add(row)
    return len(rows)


def forget_requests(tx: Tx, who: Forgetting) -> int:
    rows = tx.session.exec(select(Request).where(col(Request.contact_email) == who.email)).all()
    for row in rows:
        row.contact_name, row.contact_email = FORGOTTEN_NAME, who.alias_address
        row.text = None
        tx.session.add(row)
    return len(rows)


def forget_person(tx: Tx, who: Forgetting) -> int:
    """The person's row, when nothing else (a programme, a request, hours) needs it."""
    person = tx.people.by_email(who.email)
    if person is None:
        return 0
    used = tx.session.exec(
        select(
            exists().where(
                or_(
                    col(Programme.consultant_id) == person.id,
                    col(Programme.tovholder_id) == person.id,
                )
            )
        )
    ).one()
    used = (
        used
        or tx.session.exec(select(exists().where(col(Request.consultant_id) == person.id))).one()
    )
    used = (
        used or tx.session.exec(select(exists().where(col(TimeEntry.person_id) == person.id))).one()
    )
    if used:
        return 0
    tx.session.delete(person)
    return 1


# Every place that holds a person, in order. Add a line here for a new one.
FORGETTERS: list[tuple[str, Forgetter]] = [
    ("participants", forget_participants),
    ("course_registrations", forget_course_registrations),
    ("meeting_answers", forget_answers),
    ("invites", forget_invites),
    ("bounces", forget_bounces),
    ("inbox_messages", forget_inbox),
    ("feed_tokens", forget_feed_tokens),
    ("outbox", forget_outbox),
    ("events", forget_events),
    ("requests", forget_requests),
    ("people", forget_person),
]


def forget(tx: Tx, who: Forgetting) -> dict[str, int]:
    """Run every forgetter; how many rows each deleted or rewrote."""
    found = {name: forgetter(tx, who) for name, forgetter in FORGETTERS}
    tx.session.flush()
    tx.touch()
    return found
