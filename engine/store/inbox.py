"""The SQL of inbound mail: the installation id, the inbox ledger, meeting answers, bounces.

Functions over a :class:`~engine.store.store.Tx`, like engine/store/daemons.py. The inbox
ledger's unique Message-ID is what makes processing exactly-once: the row is written in the
transaction that applies the message, so a second pass (or a second daemon) finds it and
applies nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from engine.store.installation import InstallationInfo, read_installation
from engine.store.store import Invite, Milestone, OutboxMessage, Tx
from engine.store.tables import Bounce, InboxMessage, Installation, MeetingAnswer

__all__ = [
    "Bounce",
    "InboxMessage",
    "InstallationInfo",
    "MeetingAnswer",
    "add_bounce",
    "answers_for",
    "bouncing",
    "installation",
    "invites_with_uid",
    "list_inbox",
    "outbox_by_message_id",
    "read_installation",
    "record_message",
    "seen",
    "upsert_answer",
]


def installation(tx: Tx) -> InstallationInfo:
    row = tx.session.exec(select(Installation).order_by(col(Installation.id))).first()
    if row is None:
        return InstallationInfo("", 0)
    return InstallationInfo(row.installation_id, row.legacy_max_programme_id)


# ----- the inbox ledger ----------------------------------------------------------------------


def seen(tx: Tx, message_id: str) -> InboxMessage | None:
    return tx.session.exec(
        select(InboxMessage).where(InboxMessage.message_id == message_id)
    ).first()


def record_message(tx: Tx, row: InboxMessage) -> InboxMessage:
    tx.session.add(row)
    tx.session.flush()
    return row


def list_inbox(tx: Tx, *, limit: int = 1000) -> list[InboxMessage]:
    statement = select(InboxMessage).order_by(col(InboxMessage.id).desc()).limit(limit)
    return list(reversed(list(tx.session.exec(statement))))


# ----- meeting answers -----------------------------------------------------------------------


def invites_with_uid(tx: Tx, uid: str) -> list[tuple[Invite, Milestone]]:
    """The invite ledger's rows for a meeting UID, with their milestone."""
    statement = (
        select(Invite, Milestone)
        .join(Milestone, col(Milestone.id) == Invite.milestone_id)
        .where(Invite.uid == uid)
        .order_by(col(Invite.id))
    )
    return [(i, m) for i, m in tx.session.exec(statement)]


def answers_for(
    tx: Tx, *, programme_id: int | None = None, milestone_ids: Sequence[int] | None = None
) -> list[MeetingAnswer]:
    statement = select(MeetingAnswer).order_by(col(MeetingAnswer.id))
    if programme_id is not None:
        statement = statement.where(MeetingAnswer.programme_id == programme_id)
    if milestone_ids is not None:
        statement = statement.where(col(MeetingAnswer.milestone_id).in_(list(milestone_ids)))
    return list(tx.session.exec(statement))


def upsert_answer(tx: Tx, answer: MeetingAnswer) -> MeetingAnswer:
    """Store the attendee's answer, replacing their earlier one to the same meeting."""
    found = tx.session.exec(
        select(MeetingAnswer).where(
            MeetingAnswer.milestone_id == answer.milestone_id, MeetingAnswer.email == answer.email
        )
    ).first()
    if found is None:
        tx.session.add(answer)
        tx.session.flush()
        return answer
    for name in (
        "partstat",
        "comment",
        "sequence",
        "start_at",
        "proposed_start",
        "answered_at",
        "message_id",
    ):
        setattr(found, name, getattr(answer, name))
    tx.session.add(found)
    tx.session.flush()
    return found


# ----- bounces -------------------------------------------------------------------------------


def outbox_by_message_id(tx: Tx, message_id: str) -> OutboxMessage | None:
    return tx.session.exec(
        select(OutboxMessage).where(OutboxMessage.message_id == message_id)
    ).first()


def last_sent_to(tx: Tx, email: str) -> OutboxMessage | None:
    """The newest mail queued to ``email``: what a bounce without a Message-ID is about."""
    return tx.session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == email.lower())
        .order_by(col(OutboxMessage.id).desc())
    ).first()


def add_bounce(tx: Tx, bounce: Bounce) -> bool:
    """Record a bounce; False when this address already bounced for this message."""
    found = tx.session.exec(
        select(Bounce).where(
            Bounce.email == bounce.email, Bounce.bounced_message_id == bounce.bounced_message_id
        )
    ).first()
    if found is not None:
        return False
    tx.session.add(bounce)
    tx.session.flush()
    return True


def bouncing(tx: Tx, *, programme_ids: Sequence[int] | None = None) -> list[Bounce]:
    """The latest bounce of each bouncing address (optionally of some programmes only)."""
    statement = select(Bounce).order_by(col(Bounce.at), col(Bounce.id))
    if programme_ids is not None:
        statement = statement.where(col(Bounce.programme_id).in_(list(programme_ids)))
    latest: dict[str, Bounce] = {}
    for row in tx.session.exec(statement):
        latest[row.email] = row
    return sorted(latest.values(), key=lambda b: b.email)


def standing_answers(tx: Tx, milestone: Milestone) -> dict[str, str]:
    """The answers to a meeting that still hold (email → PARTSTAT): those given while it had
    its current time. When the time changes, the others are back to NEEDS-ACTION."""
    if milestone.id is None:
        return {}
    return {
        a.email: a.partstat.upper()
        for a in answers_for(tx, milestone_ids=[milestone.id])
        if a.start_at == milestone.start_at and a.partstat != "countered"
    }


def meeting_attendees(tx: Tx, milestones: Sequence[Milestone]) -> dict[int, list[tuple[str, str]]]:
    """Per meeting milestone id, its invited addresses with their standing PARTSTAT (lower
    case), in the order they were invited."""
    ids = [m.id for m in milestones if m.id is not None and m.kind == "meeting"]
    if not ids:
        return {}
    invites = tx.session.exec(
        select(Invite).where(col(Invite.milestone_id).in_(ids)).order_by(col(Invite.id))
    )
    starts = {m.id: m.start_at for m in milestones}
    answers: dict[tuple[int, str], str] = {
        (a.milestone_id, a.email): a.partstat
        for a in answers_for(tx, milestone_ids=ids)
        if a.start_at == starts.get(a.milestone_id)
    }
    found: dict[int, list[tuple[str, str]]] = {}
    for invite in invites:
        if invite.method != "REQUEST":
            continue
        partstat = answers.get((invite.milestone_id, invite.recipient), "needs-action")
        found.setdefault(invite.milestone_id, []).append((invite.recipient, partstat))
    return found


def coming_answers(
    tx: Tx, programme_ids: Sequence[int], now: datetime
) -> list[tuple[int, str, str, str]]:
    """(programme id, meeting title, email, partstat) of the answers to meetings that lie
    ahead and still hold (given for the meeting's current time), in meeting order."""
    statement = (
        select(MeetingAnswer, Milestone)
        .join(Milestone, col(Milestone.id) == MeetingAnswer.milestone_id)
        .where(
            col(MeetingAnswer.programme_id).in_(list(programme_ids)),
            col(Milestone.start_at) >= now,
            col(Milestone.state).not_in(["cancelled", "skipped", "done"]),
        )
        .order_by(col(Milestone.start_at), col(MeetingAnswer.id))
    )
    return [
        (answer.programme_id, milestone.title, answer.email, answer.partstat)
        for answer, milestone in tx.session.exec(statement)
        if answer.start_at == milestone.start_at
    ]
