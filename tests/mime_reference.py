"""The reference MIME writer: the message :mod:`notifications.wire` writes, built with the
stdlib :mod:`email` package instead (``multipart/alternative`` with text and HTML; with a
calendar ``multipart/mixed`` > [``multipart/alternative`` (text, HTML, text/calendar),
``application/ics`` attachment]; text attachments such as a CSV file follow in
``multipart/mixed``). The tests parse both and compare them."""

from __future__ import annotations

from email.message import EmailMessage, MIMEPart
from email.policy import SMTP

from notifications.mime import MailSpec, check_spec, clean_header_text, format_address


def build_message(spec: MailSpec) -> EmailMessage:
    """Build the message: ``multipart/alternative`` (text, HTML), or with a calendar
    ``multipart/mixed`` > [``multipart/alternative`` (text, HTML, text/calendar),
    ``application/ics`` attachment]."""
    method = check_spec(spec)
    message = _alternative(spec, method)
    if spec.calendar is not None:
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
    if spec.attachments and spec.calendar is None:
        message.make_mixed()
    for attachment in spec.attachments:
        message.add_attachment(
            attachment.text,
            subtype=attachment.subtype,
            charset="utf-8",
            cte="quoted-printable",
            disposition="attachment",
            filename=attachment.filename,
        )
    _set_headers(message, spec)
    return message


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


def _alternative(spec: MailSpec, method: str | None) -> EmailMessage:
    part = EmailMessage(policy=SMTP)
    part.set_content(spec.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    part.add_alternative(spec.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if spec.calendar is not None:
        part.add_alternative(
            spec.calendar,
            maintype="text",
            subtype="calendar",
            cte="base64",
            params={"charset": "UTF-8", "method": method},
        )
    return part


def _set_headers(message: EmailMessage, spec: MailSpec) -> None:
    message["From"] = format_address(spec.sender)
    message["To"] = [format_address(contact) for contact in spec.to]
    message["Subject"] = clean_header_text(spec.subject)
    message["Date"] = spec.date
    message["Message-ID"] = spec.message_id
    message["Auto-Submitted"] = "auto-generated"
    if spec.reply_to is not None:
        message["Reply-To"] = format_address(spec.reply_to)
    for name, value in spec.headers:
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
