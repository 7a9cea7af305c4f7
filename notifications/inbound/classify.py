"""What an inbound mail is: an iTIP answer, a bounce, an automatic reply, a request, or
something fbh does not understand. The order matters: a DSN is also automatic, and a
calendar answer may come with any headers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from notifications.inbound.autoreply import automatic_reason
from notifications.inbound.bounce import BounceReport, read_bounce
from notifications.inbound.itip import CalendarError, ItipMessage, read_itip
from notifications.inbound.message import InboundMail

__all__ = ["Classified", "Kind", "classify"]


class Kind(StrEnum):
    REPLY = "reply"
    REQUEST = "request"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto-reply"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classified:
    kind: Kind
    reason: str = ""  # why it is what it is, or why it cannot be used
    itip: ItipMessage | None = None
    bounce: BounceReport | None = None
    usable: bool = True  # False: set it aside with ``reason``


def classify(mail: InboundMail, request_addresses: frozenset[str]) -> Classified:
    answer = _calendar_answer(mail)
    if answer is not None:
        return answer
    try:
        bounce = read_bounce(mail.message, mail.headers, mail.sender, mail.subject)
    except Exception as exc:  # a hostile report must not stop the pass
        return Classified(Kind.BOUNCE, f"bounce report does not parse: {exc}"[:200], usable=False)
    if bounce is not None:
        return Classified(Kind.BOUNCE, "delivery status notification", bounce=bounce)
    automatic = automatic_reason(mail.headers, mail.subject)
    if automatic is not None:
        return Classified(Kind.AUTO_REPLY, automatic)
    if not mail.sender:
        return Classified(Kind.UNKNOWN, "no From address", usable=False)
    if request_addresses & set(mail.recipients):
        return Classified(Kind.REQUEST, "sent to the request address")
    why = "not an answer to an invite, and not sent to the request address"
    return Classified(Kind.UNKNOWN, why, usable=False)


def _calendar_answer(mail: InboundMail) -> Classified | None:
    problem = ""
    for data in mail.calendars:
        try:
            itip = read_itip(data)
        except CalendarError as exc:
            problem = str(exc)
            continue
        if itip.is_answer:
            return Classified(Kind.REPLY, f"iTIP {itip.method}", itip=itip)
    if problem:
        return Classified(Kind.REPLY, problem, usable=False)
    return None
