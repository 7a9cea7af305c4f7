"""iTIP answers (REPLY, COUNTER) applied to a meeting: see docs/inbound.md."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from engine.domain.model import MilestoneState
from engine.services.answering import AnswerGiven, record_answer
from engine.services.context import ServiceContext
from engine.services.inbox_common import (
    PROCESSED,
    SET_ASIDE,
    Outcome,
    contact_of,
    programme_context,
)
from engine.store import inbox as inbox_store
from engine.store.store import Milestone, Tx
from notifications.compose_inbound import AnswerFacts, answer_notice_draft
from notifications.inbound import InboundMail, Kind
from notifications.inbound.itip import Answer, ItipMessage

log = logging.getLogger(__name__)

_PARTSTATS = {"ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION", "DELEGATED"}


def apply_answer(
    ctx: ServiceContext, tx: Tx, mail: InboundMail, itip: ItipMessage, now: datetime
) -> Outcome:
    ledger = inbox_store.invites_with_uid(tx, itip.uid)
    if not ledger:
        return Outcome(Kind.REPLY, SET_ASIDE, f"no meeting has UID {itip.uid}")
    milestone = ledger[0][1]
    attendees = {invite.recipient.lower() for invite, _ in ledger if invite.method == "REQUEST"}
    answer = _pick_answer(itip.answers, mail.sender)
    if answer is None or answer.email not in attendees:
        who = answer.email if answer else mail.sender
        log.warning("inbox: %s is not an attendee of %s; answer not applied", who, itip.uid)
        return Outcome(
            Kind.REPLY,
            SET_ASIDE,
            f"{who} is not an attendee of {itip.uid}",
            milestone.programme_id,
        )
    if answer.email != mail.sender:
        log.warning("inbox: %s answered for %s; not applied", mail.sender, answer.email)
        return Outcome(
            Kind.REPLY,
            SET_ASIDE,
            f"sent by {mail.sender or 'nobody'} but answers for {answer.email}",
            milestone.programme_id,
        )
    return _record_answer(ctx, tx, mail, itip, answer, milestone, now)


def _record_answer(
    ctx: ServiceContext,
    tx: Tx,
    mail: InboundMail,
    itip: ItipMessage,
    answer: Answer,
    milestone: Milestone,
    now: datetime,
) -> Outcome:
    programme_id = milestone.programme_id
    counter = itip.method == "COUNTER"
    stale = _stale(itip, milestone, counter)
    if stale or milestone.state == MilestoneState.CANCELLED.value:
        why = stale or "the meeting is cancelled"
        return Outcome(Kind.REPLY, PROCESSED, f"{answer.email}: not applied: {why}", programme_id)
    partstat = answer.partstat if answer.partstat in _PARTSTATS else "NEEDS-ACTION"
    answered_at = itip.dtstamp or mail.date or now
    earlier = [
        a
        for a in inbox_store.answers_for(tx, milestone_ids=[milestone.id or 0])
        if a.email == answer.email
    ]
    if (
        earlier
        and earlier[0].answered_at > answered_at
        and earlier[0].start_at == milestone.start_at
    ):
        return Outcome(Kind.REPLY, PROCESSED, "older than the answer recorded", programme_id)
    record_answer(
        ctx,
        tx,
        milestone,
        AnswerGiven(
            email=answer.email,
            partstat=partstat.lower(),
            answered_at=answered_at,
            sequence=itip.sequence,
            method=itip.method,
            message_id=mail.message_id,
            comment=answer.comment,
            proposed_start=itip.start if counter else None,
        ),
        now,
    )
    if partstat == "DECLINED" or counter:
        _notify_answer(ctx, tx, mail, itip, answer, milestone, partstat, now)
    return Outcome(Kind.REPLY, PROCESSED, f"{answer.email}: {partstat.lower()}", programme_id)


def _notify_answer(
    ctx: ServiceContext,
    tx: Tx,
    mail: InboundMail,
    itip: ItipMessage,
    answer: Answer,
    milestone: Milestone,
    partstat: str,
    now: datetime,
) -> None:
    programme = tx.programmes.get(milestone.programme_id)
    consultant = contact_of(tx, programme.consultant_id)
    tovholder = contact_of(tx, programme.tovholder_id)
    roles = {consultant.email: "consultant", tovholder.email: "tovholder"}
    role = roles.get(answer.email)
    if role is None:
        return
    attendee = consultant if role == "consultant" else tovholder
    facts = AnswerFacts(
        programme=programme_context(ctx, tx, programme),
        programme_id=programme.id or 0,
        milestone_id=milestone.id or 0,
        meeting={
            "title": milestone.title,
            "start": milestone.start_at.astimezone(ctx.tz).isoformat()
            if milestone.start_at
            else None,
            "end": milestone.end_at.astimezone(ctx.tz).isoformat() if milestone.end_at else None,
        },
        attendee=attendee,
        role=role,
        partstat=partstat.lower(),
        counter=itip.method == "COUNTER",
        comment=answer.comment,
        proposed_start=itip.start.astimezone(ctx.tz).isoformat()
        if itip.method == "COUNTER" and itip.start
        else None,
        message_id=mail.message_id,
    )
    draft = answer_notice_draft(facts, consultant, domain=ctx.settings.mail_domain, now=now)
    tx.outbox.enqueue([draft], now)


def _pick_answer(answers: Iterable[Answer], sender: str) -> Answer | None:
    items = list(answers)
    for answer in items:
        if answer.email == sender:
            return answer
    return items[0] if len(items) == 1 else None


def _stale(itip: ItipMessage, milestone: Milestone, counter: bool) -> str:
    """Why an answer is about an earlier version of the meeting ('' if it is current)."""
    if counter:
        return "" if itip.sequence >= milestone.sequence else "proposes a change to an old version"
    if itip.start is not None and milestone.start_at is not None:
        if itip.start != milestone.start_at:
            return "answers an earlier time of the meeting"
        return ""
    if itip.sequence < milestone.sequence:
        return f"answers SEQUENCE {itip.sequence}; the meeting is at {milestone.sequence}"
    return ""
