"""What an e-mail is (:class:`MailSpec`) and the checks it passes before it is written.

:mod:`notifications.wire` writes the bytes (RFC 5322/2045, iMIP RFC 6047). Every header value
passes through :func:`clean_header_text`, which turns control characters (CR, LF, NUL, Unicode
line separators, ...) into spaces and defuses RFC 2047 encoded-word lookalikes, so no input can
add a header. Addresses are checked with :class:`email.headerregistry.Address`, which quotes
commas and quotes and RFC 2047-encodes non-ASCII display names. A reference writer built on the
stdlib :mod:`email` package lives with the tests (``tests/mime_reference.py``); the tests check
that both write the same message.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import lru_cache

from engine.domain.model import Contact

__all__ = [
    "Attachment",
    "MailSpec",
    "check_spec",
    "clean_header_text",
    "format_address",
    "message_id_for",
]

_ASCII_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TEXT_SUBTYPES = frozenset({"csv", "plain"})
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
class Attachment:
    """A text file attached to a mail (e.g. the lead digest's overview as CSV): written as
    ``text/{subtype}; charset="utf-8"`` in quoted-printable, with line breaks as CRLF."""

    filename: str  # a short ASCII name with the subtype's extension
    subtype: str  # "csv" or "plain"
    text: str


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
    reply_to: Contact | None = None  # people answer people: the consultant (docs/inbound.md)
    attachments: tuple[Attachment, ...] = ()  # text files, after the calendar if any


def message_id_for(dedupe_key: str, domain: str) -> str:
    """Return a deterministic Message-ID ``<sha256-hex-prefix@domain>`` for an outbox key.

    Re-sending the same outbox row gives the same Message-ID, so receiving systems can
    recognise a duplicate.
    """
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_message_id_host(domain)}>"


@lru_cache(maxsize=16)  # one domain per installation, asked once per queued mail
def _message_id_host(domain: str) -> str:
    host = domain.strip()
    if not _DOMAIN.match(host):
        raise ValueError(f"invalid Message-ID domain {domain!r}")
    return host.lower()


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


def check_spec(spec: MailSpec) -> str | None:
    """Check a spec before :mod:`notifications.wire` writes it; returns the calendar method,
    or None. Raises ValueError for anything that could not be sent as it is."""
    if not spec.to:
        raise ValueError("a message needs at least one recipient")
    if spec.date.tzinfo is None or spec.date.utcoffset() is None:
        raise ValueError(f"date must be an aware datetime, got {spec.date!r}")
    if not _MESSAGE_ID.match(spec.message_id):
        raise ValueError(f"invalid Message-ID {spec.message_id!r}")
    for contact in (spec.sender, *spec.to, *((spec.reply_to,) if spec.reply_to else ())):
        _checked_address(contact.name, contact.email)
    for name, _value in spec.headers:
        _check_extra_header(name)
    for attachment in spec.attachments:
        _check_text_attachment(attachment)
    if spec.calendar is None:
        return None
    _check_attachment_name(spec.attachment_name)
    return _calendar_method(spec)


@lru_cache(maxsize=4096)
def _checked_address(name: str, email: str) -> None:
    format_address(Contact(name, email))


def _check_attachment_name(name: str) -> None:
    if not _ASCII_FILENAME.match(name) or not name.lower().endswith(".ics"):
        raise ValueError(f"attachment name {name!r} must be a short ASCII *.ics name")


def _check_text_attachment(attachment: Attachment) -> None:
    if attachment.subtype not in _TEXT_SUBTYPES:
        raise ValueError(f"attachment type text/{attachment.subtype!r} is not supported")
    extension = ".txt" if attachment.subtype == "plain" else f".{attachment.subtype}"
    name = attachment.filename
    if not _ASCII_FILENAME.match(name) or not name.lower().endswith(extension):
        raise ValueError(f"attachment name {name!r} must be a short ASCII *{extension} name")


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


def _check_extra_header(name: str) -> None:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by fbh and cannot be overridden")


def format_address(contact: Contact) -> Address:
    """The RFC 5322 address of ``contact`` (display name cleaned); ValueError if invalid."""
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
