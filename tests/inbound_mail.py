"""Inbound mails for tests, from the templates in tests/fixtures/inbound/ (see its README)."""

from __future__ import annotations

import base64
import quopri
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "inbound"
CPH = ZoneInfo("Europe/Copenhagen")
REPLY_SHAPES = ("outlook", "gmail", "apple", "thunderbird")
BOUNCE_SHAPES = ("postfix", "exim", "exchange", "gmail", "qmail")


def new_message_id(domain: str = "example.dk") -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(moment: datetime) -> str:
    return moment.astimezone(CPH).strftime("%Y%m%dT%H%M%S")


def fill(name: str, **values: str) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return Template(text).safe_substitute(values).replace("\n", "\r\n").encode("utf-8")


def reply(
    shape: str,
    *,
    uid: str,
    attendee: str,
    name: str = "Søren Tovholder",
    partstat: str = "DECLINED",
    start: datetime,
    sequence: int = 0,
    organizer: str = "fraboligtilhjem@bl.dk",
    sender: str | None = None,
    message_id: str | None = None,
    counter_start: datetime | None = None,
) -> bytes:
    """An iTIP REPLY (or, with ``counter_start``, an Outlook COUNTER) in a client's shape."""
    end = start + timedelta(hours=6)
    values = {
        "UID": uid,
        "ATTENDEE": attendee,
        "NAME": name,
        "PARTSTAT": partstat,
        "SEQUENCE": str(sequence),
        "ORGANIZER": organizer,
        "DTSTAMP": _utc(datetime.now(UTC)),
        "DTSTART_UTC": _utc(start),
        "DTEND_UTC": _utc(end),
        "DTSTART_LOCAL": _local(start),
        "DTEND_LOCAL": _local(end),
    }
    base = "counter_outlook" if counter_start else f"reply_{shape}"
    if counter_start:
        values["PROPOSED_UTC"] = _utc(counter_start)
        values["PROPOSED_END_UTC"] = _utc(counter_start + timedelta(hours=6))
    calendar = fill(f"{base}.ics", **values)
    lf = calendar.replace(b"\r\n", b"\n")
    mail_values = values | {
        "ATTENDEE": sender or attendee,
        "MESSAGE_ID": message_id or new_message_id(),
        # Inline copies get CRLF from ``fill``; base64 keeps the calendar's own CRLF.
        "CALENDAR": lf.decode("utf-8"),
        "CALENDAR_BASE64": base64.encodebytes(calendar).decode("ascii"),
        "CALENDAR_QP": quopri.encodestring(lf).decode("ascii"),
    }
    return fill(f"{base}.eml", **mail_values)


def bounce(shape: str, *, recipient: str, original_id: str, message_id: str | None = None) -> bytes:
    return fill(
        f"bounce_{shape}.eml",
        RECIPIENT=recipient,
        ORIGINAL_ID=original_id,
        MESSAGE_ID=message_id or new_message_id("bounces.example.net"),
    )


def out_of_office(
    shape: str, *, sender: str, name: str = "Søren", original_id: str = "<x@bl.dk>"
) -> bytes:
    return fill(
        f"ooo_{shape}.eml",
        ATTENDEE=sender,
        NAME=name,
        ORIGINAL_ID=original_id,
        MESSAGE_ID=new_message_id(),
    )


def request(*, sender: str, name: str = "Søren Tovholder", message_id: str | None = None) -> bytes:
    return fill(
        "request.eml", ATTENDEE=sender, NAME=name, MESSAGE_ID=message_id or new_message_id()
    )
