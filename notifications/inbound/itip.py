"""iTIP answers (RFC 5546 §3.2.3 REPLY, §3.2.7 COUNTER) read from a calendar part.

The shapes differ by client; what is read here covers Outlook/Exchange (COMMENT property,
``MAILTO:`` in capitals), Google Calendar (``X-RESPONSE-COMMENT`` parameter on ATTENDEE),
Apple Calendar (the address may be in the ``EMAIL`` parameter) and Thunderbird. Fixtures of
each are in tests/fixtures/inbound/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = ["Answer", "CalendarError", "ItipMessage", "read_itip"]

ANSWER_METHODS = frozenset({"REPLY", "COUNTER"})
_PARTSTATS = frozenset({"ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION", "DELEGATED"})


class CalendarError(ValueError):
    """A calendar part that does not parse, or that is not a usable answer."""


@dataclass(frozen=True)
class Answer:
    email: str  # lower case
    partstat: str  # upper case, e.g. DECLINED
    comment: str
    sent_by: str


@dataclass(frozen=True)
class ItipMessage:
    method: str  # REPLY | COUNTER | anything else the part says
    uid: str
    sequence: int
    dtstamp: datetime | None
    start: datetime | None  # DTSTART as the answer gives it (a COUNTER's proposed time)
    comment: str
    answers: tuple[Answer, ...]

    @property
    def is_answer(self) -> bool:
        return self.method in ANSWER_METHODS


def read_itip(data: bytes) -> ItipMessage:
    """Read the first VEVENT of a calendar part; raises :class:`CalendarError`."""
    from icalendar import Calendar  # on first use: the daemon's start-up does without it

    try:
        calendar = Calendar.from_ical(data)
        return _read(calendar)
    except CalendarError:
        raise
    except Exception as exc:  # icalendar on hostile input raises many kinds
        message = " ".join(str(exc).split())[:160]
        raise CalendarError(f"calendar part does not parse: {message}") from None


def _read(calendar: Any) -> ItipMessage:
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise CalendarError("calendar part has no VCALENDAR")
    method = str(calendar.get("METHOD", "")).strip().upper()
    events = [c for c in calendar.walk("VEVENT")]
    if not events:
        raise CalendarError("calendar part has no VEVENT")
    event = events[0]
    uid = str(event.get("UID", "")).strip()
    if not uid:
        raise CalendarError("VEVENT has no UID")
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    comment = _text(event.get("COMMENT", ""))
    return ItipMessage(
        method=method,
        uid=uid[:300],
        sequence=_int(event.get("SEQUENCE", 0)),
        dtstamp=_instant(event.get("DTSTAMP")),
        start=_instant(event.get("DTSTART")),
        comment=comment,
        answers=tuple(a for a in (_answer(item, comment) for item in attendees) if a),
    )


def _answer(item: Any, comment: str) -> Answer | None:
    params = getattr(item, "params", {})
    address = str(item).strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    if "@" not in address:  # Apple: ATTENDEE;EMAIL=…:urn:uuid:…
        address = str(params.get("EMAIL", "")).strip()
    if "@" not in address:
        return None
    partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).strip().upper()
    if partstat not in _PARTSTATS:
        partstat = "NEEDS-ACTION"
    sent_by = str(params.get("SENT-BY", "")).strip()
    if sent_by.lower().startswith("mailto:"):
        sent_by = sent_by[7:]
    own = _text(params.get("X-RESPONSE-COMMENT", ""))  # Google Calendar
    return Answer(address.lower(), partstat, own or comment, sent_by.lower())


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return " ".join(str(value).split())[:2000]


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def _instant(value: Any) -> datetime | None:
    moment = getattr(value, "dt", None)
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else None  # floating time: cannot be compared
    if isinstance(moment, date):
        return None
    return None
