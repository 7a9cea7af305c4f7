"""Configuration of inbound mail (``[inbox]``, ``[inbox.imap]``); see docs/inbound.md.

The IMAP password is read only from ``FBH_IMAP_PASSWORD``; a password in the file is refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact

IMAP_PASSWORD_ENV = "FBH_IMAP_PASSWORD"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImapSection(_Section):
    host: str = "localhost"
    port: int = Field(default=993, gt=0, lt=65536)
    tls: bool = True  # implicit TLS (IMAPS)
    starttls: bool = False
    username: str | None = None
    folder: str = "INBOX"
    cafile: str | None = None  # a CA bundle for a private server certificate
    validate_certs: bool = True
    timeout: float = Field(default=30.0, gt=0)


class InboxSection(_Section):
    transport: Literal["maildir", "imap"] = "maildir"
    maildir: str = "var/inbox"
    # Where organisations send requests ("Name <addr>"); default: the [mail] sender, the
    # address fbh reads (the ORGANIZER of every invite).
    request_address: str | None = None
    poll_seconds: float = Field(default=30.0, gt=0)  # without IMAP IDLE
    batch_size: int = Field(default=50, gt=0)  # messages per pass and transaction batch
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # larger mail is set aside
    max_parts: int = Field(default=100, gt=0)
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
