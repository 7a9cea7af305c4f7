"""Parse one raw inbound message within bounds.

Everything about the message is untrusted. :func:`parse_mail` either returns an
:class:`InboundMail` or raises :class:`Unparseable` with a one-line reason; it never raises
anything else, so a hostile message cannot stop the daemon. Bounds: the message's size, its
number of MIME parts, the size of calendar parts and of the kept text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

__all__ = ["InboundMail", "Limits", "Unparseable", "parse_mail", "synthetic_message_id"]

_MESSAGE_ID = re.compile(r"^<[^<>\s]{1,290}>$")
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})
_ADDRESS_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")


class Unparseable(ValueError):
    """The message cannot be understood; ``str(exc)`` is the reason kept with it."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_parts: int = 100
    max_calendar_bytes: int = 512 * 1024
    max_text_chars: int = 20_000


@dataclass(frozen=True)
class InboundMail:
    message_id: str
    sender: str  # the From address, lower case ('' when there is none)
    sender_name: str
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To: lower case
    subject: str
    date: datetime | None
    headers: dict[str, str]  # lower-case name → value (the first of each)
    text: str  # the first text/plain body, bounded
    calendars: tuple[bytes, ...]  # text/calendar parts and .ics attachments, distinct
    message: Message  # the parsed message (for the bounce parsers)
    size: int


def synthetic_message_id(data: bytes) -> str:
    """A stable Message-ID for a message that has none (or a broken one): from its bytes."""
    return f"<{hashlib.sha256(data).hexdigest()[:40]}@inbox.fbh.invalid>"


def parse_mail(data: bytes, limits: Limits | None = None) -> InboundMail:
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise Unparseable(f"message is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        return _parse(data, limits)
    except Unparseable:
        raise
    except RecursionError:
        raise Unparseable("MIME structure is nested too deeply") from None
    except Exception as exc:  # the email package on hostile input: anything may go wrong
        raise Unparseable(f"malformed message: {type(exc).__name__}: {_short(str(exc))}") from None


def _parse(data: bytes, limits: Limits) -> InboundMail:
    _check_header_bytes(data)
    if data.lower().count(b"boundary=") > limits.max_parts:  # before the parser's work on them
        raise Unparseable(f"more than {limits.max_parts} MIME parts")
    message = BytesParser(policy=default_policy).parsebytes(data)
    assert isinstance(message, EmailMessage)
    for defect in message.defects:
        if isinstance(defect, _FATAL_DEFECTS):
            raise Unparseable(f"malformed MIME: {type(defect).__name__}")
    parts = _bounded_parts(message, limits.max_parts)
    headers = {name.lower(): _header(message, name) for name in message}
    name, sender = parseaddr(headers.get("from", ""))
    recipients = tuple(
        address.lower()
        for _name, address in getaddresses([headers[h] for h in _ADDRESS_HEADERS if h in headers])
        if address
    )
    return InboundMail(
        message_id=_message_id(headers.get("message-id", ""), data),
        sender=sender.lower() if "@" in sender else "",
        sender_name=name,
        recipients=recipients,
        subject=_short(headers.get("subject", ""), 300),
        date=_date(headers.get("date", "")),
        headers=headers,
        text=_text(parts, limits.max_text_chars),
        calendars=_calendars(parts, limits.max_calendar_bytes),
        message=message,
        size=len(data),
    )


def _check_header_bytes(data: bytes) -> None:
    """Header fields must be ASCII or UTF-8 (RFC 6532): anything else cannot be read safely."""
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=-1)
    head = data if end < 0 else data[:end]
    if end < 0 and b":" not in head:
        raise Unparseable("no header section")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unparseable(f"header bytes are not UTF-8 (at byte {exc.start})") from None


def _bounded_parts(message: Message, max_parts: int) -> list[Message]:
    parts: list[Message] = []
    for part in message.walk():
        parts.append(part)
        if len(parts) > max_parts:
            raise Unparseable(f"more than {max_parts} MIME parts")
    return parts


def _header(message: Message, name: str) -> str:
    value = message.get(name, "")
    return " ".join(str(value).split())


def _message_id(value: str, data: bytes) -> str:
    found = re.search(r"<[^<>\s]+>", value)
    if found and _MESSAGE_ID.match(found.group(0)):
        return found.group(0)
    return synthetic_message_id(data)


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _text(parts: list[Message], limit: int) -> str:
    for part in parts:
        if part.get_content_type() == "text/plain" and part.get_content_disposition() is None:
            charset = part.get_content_charset() or "utf-8"
            raw = _payload(part)[: limit * 4]
            try:
                text = raw.decode(charset, errors="replace")
            except LookupError:
                text = raw.decode("utf-8", errors="replace")
            return text.replace("\r\n", "\n")[:limit]
    return ""


def _calendars(parts: list[Message], limit: int) -> tuple[bytes, ...]:
    found: list[bytes] = []
    for part in parts:
        filename = (part.get_filename() or "").lower()
        if part.get_content_type() not in _CALENDAR_TYPES and not filename.endswith(".ics"):
            continue
        data = _payload(part)
        if len(data) > limit:
            raise Unparseable(f"calendar part is {len(data)} bytes; the limit is {limit}")
        if data and data not in found:
            found.append(data)
    return tuple(found)


def _short(text: str, limit: int = 200) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
