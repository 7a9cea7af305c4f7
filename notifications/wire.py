"""The wire bytes of a :class:`~notifications.mime.MailSpec`, written directly.

:func:`message_bytes` gives the message the reference writer ``build_message`` in
tests/mime_reference.py builds with the stdlib — the same MIME tree, headers, parameters and
encodings — as bytes ready for SMTP DATA, without
the stdlib :mod:`email` object model, whose header registry and generator cost several
milliseconds per message (the outbox renders every message it sends, so that was most of the
daemon's time per message). The input is checked by :func:`notifications.mime.check_spec`, so
it refuses exactly what ``build_message`` refuses.

The format:

* CRLF line endings, 7-bit clean: bodies are quoted-printable (text, HTML) or base64
  (calendar), headers are ASCII, with RFC 2047 ``=?utf-8?b?…?=`` encoded words for non-ASCII
  text; header lines are folded at spaces to 78 characters where they can be.
* Boundaries start with ``=_``, which neither quoted-printable nor base64 output can contain,
  and are derived from the Message-ID, so sending a row again gives the same bytes apart from
  the ``Date``.

tests/unit/test_wire.py checks, also with generated input, that a parser reads the same
message from these bytes as from ``to_bytes(build_message(spec))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from email.utils import format_datetime
from functools import lru_cache

from engine.domain.model import Contact
from notifications.mime import MailSpec, check_spec, clean_header_text

__all__ = ["message_bytes"]

CRLF = b"\r\n"
_MAX_LINE = 78
_WORD_BYTES = 39  # UTF-8 bytes per encoded word: "=?utf-8?b?" + 52 + "?=" = 64 characters
_SPECIALS = frozenset('()<>[]:;@\\,."')


def message_bytes(spec: MailSpec) -> bytes:
    """The message as bytes for SMTP DATA; raises ValueError for a spec check_spec refuses."""
    method = check_spec(spec)
    tag = hashlib.sha256(spec.message_id.encode("ascii")).hexdigest()[:24]
    parts = [
        _text_part("plain", spec.text),
        _text_part("html", spec.html),
    ]
    if spec.calendar is not None:
        parts.append(
            _base64_part(f'text/calendar; charset="UTF-8"; method="{method}"', None, spec.calendar)
        )
    content_type, body = _multipart("alternative", f"=_fbh_a_{tag}", parts)
    attached = []
    if spec.calendar is not None:
        name = spec.attachment_name  # checked: a short ASCII *.ics name, nothing to quote
        attached.append(
            _base64_part(
                f'application/ics; name="{name}"', f'attachment; filename="{name}"', spec.calendar
            )
        )
    attached += [_text_part(a.subtype, a.text, a.filename) for a in spec.attachments]
    if attached:
        alternative = _header("Content-Type", content_type) + CRLF + body
        content_type, body = _multipart("mixed", f"=_fbh_m_{tag}", [alternative, *attached])
    head = [
        b"MIME-Version: 1.0\r\n",
        _header("Content-Type", content_type),
        _address_header("From", (spec.sender,)),
        _address_header("To", spec.to),
        _unstructured("Subject", clean_header_text(spec.subject)),
        _header("Date", format_datetime(spec.date)),
        _header("Message-ID", spec.message_id),
        b"Auto-Submitted: auto-generated\r\n",
    ]
    if spec.reply_to is not None:
        head.append(_address_header("Reply-To", (spec.reply_to,)))
    head += [_unstructured(name, clean_header_text(value)) for name, value in spec.headers]
    _check_head(head)
    return b"".join(head) + CRLF + body


def _check_head(head: list[bytes]) -> None:
    """Each header is one header: every line after its first is a continuation (a last line
    of defence, as ``to_bytes`` in tests/mime_reference.py does)."""
    for header in head:
        lines = header[:-2].split(CRLF)
        if any(b"\r" in line or b"\n" in line for line in lines) or any(
            line[:1] not in (b" ", b"\t") for line in lines[1:]
        ):
            raise ValueError("a header value would add a header line; refusing to send it")


# ----- parts -------------------------------------------------------------------------------


def _text_part(subtype: str, text: str, filename: str | None = None) -> bytes:
    """A UTF-8 text part in quoted-printable, line endings normalised as the email package
    does (every line ends with a line break); with ``filename`` an attachment (checked: a
    short ASCII name, nothing to quote)."""
    data = text.encode("utf-8")
    if b"\r" in data:  # CR and CRLF line breaks become LF (then CRLF, below)
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    encoded = b"".join([_qp_line(line) for line in data.splitlines(keepends=True)])
    disposition = (
        "" if filename is None else f'Content-Disposition: attachment; filename="{filename}"\r\n'
    )
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n{disposition}\r\n"
    ).encode("ascii") + encoded.replace(b"\n", CRLF)


# Quoted-printable encodes each line on its own (b2a_qp starts every line afresh, and the
# text has only LF breaks here), so the text is encoded line by line, each distinct line
# once: a week's digests repeat the same table rows, timeline rows and style sheet lines
# thousands of times (tests/unit/test_wire.py compares it with encoding the whole text).
@lru_cache(maxsize=16384)
def _qp_line(line: bytes) -> bytes:
    return binascii.b2a_qp(line, istext=True)


def _base64_part(content_type: str, disposition: str | None, data: bytes) -> bytes:
    head = _header("Content-Type", content_type) + b"Content-Transfer-Encoding: base64\r\n"
    if disposition is not None:
        head += _header("Content-Disposition", disposition)
    return head + CRLF + base64.encodebytes(data).replace(b"\n", CRLF)


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> tuple[str, bytes]:
    """The Content-Type and body of a multipart of ``parts`` (each headers + body)."""
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(delimiter + CRLF + part + CRLF for part in parts) + delimiter + b"--" + CRLF
    return f'multipart/{subtype}; boundary="{boundary}"', body


# ----- headers -----------------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    """A header whose value is ASCII and safe as it is; folded at spaces when long."""
    return _fold(f"{name}:", value.split(" ")).encode("ascii")


def _unstructured(name: str, value: str) -> bytes:
    """Subject and other free text: ASCII words as they are, runs of words that are not
    ASCII (or look like encoded words) as UTF-8 encoded words."""
    if value.isascii() and "=?" not in value:
        return _header(name, value)
    items: list[str] = []
    run: list[str] = []
    for word in value.split(" "):
        if word.isascii() and "=?" not in word:
            if run:
                items += _encoded_words(" ".join(run))
                run = []
            items.append(word)
        else:
            run.append(word)
    if run:
        items += _encoded_words(" ".join(run))
    return _fold(f"{name}:", items).encode("ascii")


def _address_header(name: str, contacts: tuple[Contact, ...]) -> bytes:
    items: list[str] = []
    for index, contact in enumerate(contacts):
        words = _mailbox(contact)
        if index < len(contacts) - 1:
            words[-1] += ","
        items += words
    return _fold(f"{name}:", items).encode("ascii")


def _mailbox(contact: Contact) -> list[str]:
    """``Name <addr>`` as words to fold: a quoted string when the name has specials, encoded
    words when it is not ASCII."""
    address = f"<{contact.email.strip()}>"
    name = clean_header_text(contact.name)
    if not name:
        return [address[1:-1]]
    if not name.isascii() or "=?" in name:
        return [*_encoded_words(name), address]
    if any(c in _SPECIALS for c in name):
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"', address]
    return [*name.split(" "), address]


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 encoded words (UTF-8, base64) of ``text``, never splitting a character;
    adjacent encoded words decode to one text, with the white space between them dropped."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode("utf-8"))
        if size + width > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return [
        "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?="
        for word in words
    ]


def _fold(label: str, items: list[str]) -> str:
    """``label`` and ``items`` separated by spaces, a line break before a space wherever a
    line would pass 78 characters (an item longer than a line stays whole)."""
    lines, line = [], label
    for item in items:
        if len(line) + 1 + len(item) > _MAX_LINE and line.strip() and line != label:
            lines.append(line)
            line = " " + item
        else:
            line += " " + item
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"
