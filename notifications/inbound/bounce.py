"""Bounces: delivery status notifications (RFC 3464) and the common non-standard formats.

A DSN (``multipart/report; report-type=delivery-status``, as Postfix, Exim, Exchange and
Gmail send) is read here, with the original Message-ID from its returned headers. Anything
else that looks like a bounce (mailer-daemon sender, ``X-Failed-Recipients``, a bounce
subject) goes to flufl.bounce's detectors for the addresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message

__all__ = ["BounceReport", "Failure", "read_bounce"]

_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|delivery has failed|returned mail|"
    r"mail delivery failed|failure notice|non remis|unzustellbar|kunne ikke leveres)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Failure:
    email: str
    status: str  # e.g. "5.1.1 (failed)" or "" when the report gives none


@dataclass(frozen=True)
class BounceReport:
    failures: tuple[Failure, ...]
    original_message_id: str  # '' when the report does not name it
    delayed_only: bool  # a DSN that reports delays, not failures


def read_bounce(
    message: Message, headers: Mapping[str, str], sender: str, subject: str
) -> BounceReport | None:
    """The failed recipients if ``message`` is a bounce, else None."""
    if message.get_content_type() == "multipart/report":
        report = _dsn(message)
        if report is not None:
            return report
    if not _looks_like_bounce(headers, sender, subject):
        return None
    from flufl.bounce import all_failures  # on first use: the daemon's start-up does without it

    _temporary, permanent = all_failures(message)
    emails = {_decode(a) for a in permanent}
    emails.update(
        a.strip().lower() for a in headers.get("x-failed-recipients", "").split(",") if "@" in a
    )
    emails.discard("")
    if not emails:
        return None
    return BounceReport(
        failures=tuple(Failure(e, "") for e in sorted(emails)),
        original_message_id=_original_id(message, headers),
        delayed_only=False,
    )


def _decode(address: bytes | str) -> str:
    text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return text.strip().strip("<>").lower()


def _looks_like_bounce(headers: Mapping[str, str], sender: str, subject: str) -> bool:
    return bool(
        _BOUNCE_SENDER.match(sender)
        or "x-failed-recipients" in headers
        or _BOUNCE_SUBJECT.search(subject)
    )


def _dsn(message: Message) -> BounceReport | None:
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    failures: list[Failure] = []
    delayed = False
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part):
            action = block.get("action", "").lower()
            recipient = block.get("final-recipient") or block.get("original-recipient", "")
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            if action == "failed" and "@" in address:
                status = block.get("status", "")
                failures.append(Failure(address, f"{status} ({action})".strip()))
            elif action == "delayed":
                delayed = True
    if not failures and not delayed:
        return None
    return BounceReport(tuple(failures), _original_id(message, {}), delayed and not failures)


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a message/delivery-status part."""
    blocks: list[dict[str, str]] = []
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses each block as a header set
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields: dict[str, str] = {}
        for line in chunk.splitlines():
            name, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[name.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _original_id(message: Message, headers: Mapping[str, str]) -> str:
    """The Message-ID of the mail that bounced: from the returned message or its headers."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found = _MESSAGE_ID.search(str(inner[0].get("Message-ID", "")))
                if found:
                    return found.group(0)
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            found = re.search(r"^message-id:\s*(<[^<>\s@]+@[^<>\s@]+>)", text, re.I | re.M)
            if found:
                return found.group(1)
    # Non-standard bounces quote the original headers in the text.
    for part in message.walk():
        if part.get_content_maintype() == "text":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            found = re.search(r"^\s*message-id:\s*(<[^<>\s@]+@[^<>\s@]+>)", text, re.I | re.M)
            if found:
                return found.group(1)
    for name in ("in-reply-to", "references"):
        found = _MESSAGE_ID.search(headers.get(name, ""))
        if found:
            return found.group(0)
    return ""
