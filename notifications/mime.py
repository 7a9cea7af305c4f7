"""MIME messages (RFC 5322/2045, iMIP RFC 6047) built with the stdlib :mod:`email` package.

Every header value passes through :func:`clean_header_text`, which turns control characters
(CR, LF, NUL, Unicode line separators, ...) into spaces and defuses RFC 2047 encoded-word
lookalikes, so no input can add a header; :func:`to_bytes` checks the result once more. Addresses
are formatted with :class:`email.headerregistry.Address`, which quotes commas and quotes and
RFC 2047-encodes non-ASCII display names. Bodies are UTF-8; the message is 7-bit clean and uses
CRLF line endings (``email.policy.SMTP``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from functools import lru_cache

from engine.domain.model import Contact

__all__ = [
    "MailSpec",
    "build_message",
    "check_spec",
    "clean_header_text",
    "message_id_for",
    "to_bytes",
]

_ASCII_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ':'
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_METHODS = frozenset({"REQUEST", "CANCEL", "REPLY", "PUBLISH"})
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "auto-submitted",
    }
)


@dataclass(frozen=True)
class MailSpec:
    """One e-mail: addresses, rendered bodies and an optional iMIP calendar object."""

    sender: Contact
    to: tuple[Contact, ...]
    subject: str
    text: str
    html: str
    message_id: str
    date: datetime
    calendar: bytes | None = None
    calendar_method: str | None = None
    attachment_name: str = "invitation.ics"
    headers: tuple[tuple[str, str], ...] = ()


def message_id_for(dedupe_key: str, domain: str) -> str:
    """Return a deterministic Message-ID ``<sha256-hex-prefix@domain>`` for an outbox key.

    Re-sending the same outbox row gives the same Message-ID, so receiving systems can
    recognise a duplicate.
    """
    host = domain.strip()
    if not _DOMAIN.match(host):
        raise ValueError(f"invalid Message-ID domain {domain!r}")
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{host.lower()}>"


def clean_header_text(value: str) -> str:
    """Replace every control character with a space and collapse runs of white space.

    Covers C0/C1 controls (CR, LF, NUL, TAB, ...) and the Unicode line/paragraph separators
    that :meth:`str.splitlines` would treat as line breaks.
    """
    replaced = "".join(" " if _is_control(c) else c for c in value)
    # An RFC 2047 encoded word in the text ('=?utf-8?q?=0D=0ABcc:…?=') is decoded by the email
    # package while it builds the header, and CPython before 3.13 then writes the decoded CR/LF
    # out raw: a new header. A zero-width space after the '=' keeps such text literal.
    return " ".join(replaced.split()).replace("=?", "=\u200b?")


def build_message(spec: MailSpec) -> EmailMessage:
    """Build the message: ``multipart/alternative`` (text, HTML), or with a calendar
    ``multipart/mixed`` > [``multipart/alternative`` (text, HTML, text/calendar),
    ``application/ics`` attachment]."""
    if not spec.to:
        raise ValueError("a message needs at least one recipient")
    if spec.date.tzinfo is None or spec.date.utcoffset() is None:
        raise ValueError(f"date must be an aware datetime, got {spec.date!r}")
    message = _alternative(spec)
    if spec.calendar is not None:
        _check_attachment_name(spec.attachment_name)
        message.make_mixed()
        message.add_attachment(
            spec.calendar,
            maintype="application",
            subtype="ics",
            cte="base64",
            disposition="attachment",
            filename=spec.attachment_name,
            params={"name": spec.attachment_name},
        )
    _set_headers(message, spec)
    return message


def check_spec(spec: MailSpec) -> str | None:
    """Make the checks of :func:`build_message` without building anything (for the fast
    writer, :mod:`notifications.wire`); returns the calendar method, or None."""
    if not spec.to:
        raise ValueError("a message needs at least one recipient")
    if spec.date.tzinfo is None or spec.date.utcoffset() is None:
        raise ValueError(f"date must be an aware datetime, got {spec.date!r}")
    if not _MESSAGE_ID.match(spec.message_id):
        raise ValueError(f"invalid Message-ID {spec.message_id!r}")
    for contact in (spec.sender, *spec.to):
        _checked_address(contact.name, contact.email)
    for name, _value in spec.headers:
        _check_extra_header(name)
    if spec.calendar is None:
        return None
    _check_attachment_name(spec.attachment_name)
    return _calendar_method(spec)


@lru_cache(maxsize=4096)
def _checked_address(name: str, email: str) -> None:
    _address(Contact(name, email))


def to_bytes(message: EmailMessage) -> bytes:
    """Serialise ``message`` with CRLF line endings, ready for SMTP DATA.

    Raises ``ValueError`` if a header value would come out as more than its own header (a
    last line of defence, like ``verify_generated_headers`` in Python 3.13)."""
    data = message.as_bytes(policy=SMTP)
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    starts = [line for line in lines if line[:1] not in (b" ", b"\t")]
    if len(starts) != len(message.keys()) or any(b"\r" in ln or b"\n" in ln for ln in lines):
        raise ValueError("a header value would add a header line; refusing to send it")
    return data


def _alternative(spec: MailSpec) -> EmailMessage:
    part = EmailMessage(policy=SMTP)
    part.set_content(spec.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    part.add_alternative(spec.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if spec.calendar is not None:
        method = _calendar_method(spec)
        part.add_alternative(
            spec.calendar,
            maintype="text",
            subtype="calendar",
            cte="base64",
            params={"charset": "UTF-8", "method": method},
        )
    return part


def _check_attachment_name(name: str) -> None:
    if not _ASCII_FILENAME.match(name) or not name.lower().endswith(".ics"):
        raise ValueError(f"attachment name {name!r} must be a short ASCII *.ics name")


def _calendar_method(spec: MailSpec) -> str:
    """The ``method=`` parameter; it must equal the calendar's METHOD property."""
    assert spec.calendar is not None
    found = re.search(rb"^METHOD:([A-Za-z-]+)\r?$", spec.calendar, re.MULTILINE)
    inside = found.group(1).decode("ascii").upper() if found else None
    method = (spec.calendar_method or inside or "").upper()
    if method not in _METHODS:
        raise ValueError(f"unsupported calendar method {method!r}")
    if inside != method:
        raise ValueError(f"calendar_method {method!r} differs from METHOD:{inside} in calendar")
    return method


def _set_headers(message: EmailMessage, spec: MailSpec) -> None:
    if not _MESSAGE_ID.match(spec.message_id):
        raise ValueError(f"invalid Message-ID {spec.message_id!r}")
    message["From"] = _address(spec.sender)
    message["To"] = [_address(contact) for contact in spec.to]
    message["Subject"] = clean_header_text(spec.subject)
    message["Date"] = spec.date
    message["Message-ID"] = spec.message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in spec.headers:
        _check_extra_header(name)
        message[name] = clean_header_text(value)
    if "MIME-Version" not in message:
        message["MIME-Version"] = "1.0"
    for part in message.iter_parts():
        _drop_nested_mime_version(part)


def _drop_nested_mime_version(part: MIMEPart) -> None:
    """``MIME-Version`` belongs on the top-level header only (RFC 2045 §4)."""
    del part["MIME-Version"]
    if part.is_multipart():
        for child in part.iter_parts():
            _drop_nested_mime_version(child)


def _check_extra_header(name: str) -> None:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by build_message and cannot be overridden")


def _address(contact: Contact) -> Address:
    email = contact.email.strip()
    if not email or not email.isascii() or any(_is_control(c) or c.isspace() for c in email):
        raise ValueError(f"invalid e-mail address {contact.email!r}")
    display_name = clean_header_text(contact.name)
    try:
        return Address(display_name=display_name, addr_spec=email)
    except (HeaderParseError, ValueError) as exc:  # e.g. 'a@b..dk': one row fails, not the run
        raise ValueError(f"invalid e-mail address {contact.email!r}: {exc}") from None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")
