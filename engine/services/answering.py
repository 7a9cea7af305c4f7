"""The one path that records an attendee's answer to a meeting: an iTIP REPLY by mail
(engine/services/inbox_answers.py) and ``fbh participant answer`` both end here, so the
answer, its audit event and the participants' reminders and headcount stay in step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.services.context import ServiceContext
from engine.services.mailings import Mailings
from engine.store import inbox as inbox_store
from engine.store.inbox import MeetingAnswer
from engine.store.store import Milestone, Tx

ANSWERS = ("accepted", "declined", "tentative")


@dataclass(frozen=True)
class AnswerGiven:
    """An answer to record (``partstat`` lower case)."""

    email: str
    partstat: str
    answered_at: datetime
    sequence: int
    method: str  # REPLY or COUNTER (by mail), MANUAL (by hand)
    message_id: str = ""
    comment: str = ""
    proposed_start: datetime | None = None


def record_answer(
    ctx: ServiceContext, tx: Tx, milestone: Milestone, answer: AnswerGiven, now: datetime
) -> None:
    """Store the answer (replacing the person's earlier one), log it, and bring the meeting's
    participant reminders and headcount up to date."""
    assert milestone.id is not None
    inbox_store.upsert_answer(
        tx,
        MeetingAnswer(
            programme_id=milestone.programme_id,
            milestone_id=milestone.id,
            email=answer.email,
            partstat=answer.partstat,
            comment=answer.comment,
            sequence=answer.sequence,
            start_at=milestone.start_at,
            proposed_start=answer.proposed_start,
            answered_at=answer.answered_at,
            message_id=answer.message_id,
        ),
    )
    tx.events.add(
        at=now,
        actor="inbox" if answer.method != "MANUAL" else ctx.actor,
        entity="milestone",
        entity_id=milestone.id,
        programme_id=milestone.programme_id,
        event="answer",
        data={
            "milestone": milestone.key,
            "email": answer.email,
            "partstat": answer.partstat,
            "method": answer.method,
            "sequence": answer.sequence,
        },
    )
    mailings = Mailings(ctx)
    loaded = ctx.load(tx, tx.programmes.get(milestone.programme_id))
    if mailings.participants.invites_participants(loaded, milestone):
        mailings.participants.refresh(tx, loaded, milestone, now)
