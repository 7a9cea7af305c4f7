"""Configuration of inbound mail (``[inbox]``, ``[inbox.imap]``); see docs/inbound.md.

The IMAP password is read only from ``FBH_IMAP_PASSWORD``; a password in the file is refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import field_validator

from engine.config.base import Between, Section
from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact

IMAP_PASSWORD_ENV = "FBH_IMAP_PASSWORD"


class ImapSection(Section):
    host: str = "localhost"
    port: Annotated[int, Between(1, 65535)] = 993
    tls: bool = True  # implicit TLS (IMAPS)
    starttls: bool = False
    username: str | None = None
    folder: str = "INBOX"
    cafile: str | None = None  # a CA bundle for a private server certificate
    validate_certs: bool = True
    timeout: Annotated[float, Between(0.1, 3600)] = 30.0


class InboxSection(Section):
    transport: Literal["maildir", "imap"] = "maildir"
    maildir: str = "var/inbox"
    # Where organisations send requests ("Name <addr>"); default: the [mail] sender, the
    # address fbh reads (the ORGANIZER of every invite).
    request_address: str | None = None
    poll_seconds: Annotated[float, Between(0.1, 86_400)] = 30.0  # without IMAP IDLE
    # messages per pass and transaction batch
    batch_size: Annotated[int, Between(1, 10_000)] = 50
    # larger mail is set aside (1 KiB … 1 GiB)
    max_bytes: Annotated[int, Between(1024, 1024**3)] = 10 * 1024 * 1024
    max_parts: Annotated[int, Between(1, 10_000)] = 100
    enabled: bool = True  # whether ``fbh serve`` reads the inbox
    imap: ImapSection = ImapSection()

    @field_validator("request_address")
    @classmethod
    def _valid_contact(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Contact.parse(value)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from exc
        return value
