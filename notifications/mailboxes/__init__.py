"""Mailbox readers for inbound mail: a local Maildir (embedded default) and IMAP.

``ImapMailbox`` is imported on first use, so a Maildir inbox (``fbh serve``'s default) does not
load imapclient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notifications.mailboxes.base import Mailbox, MailboxError, RawMessage
from notifications.mailboxes.maildir import MaildirMailbox

if TYPE_CHECKING:
    from notifications.mailboxes.imap import ImapMailbox

__all__ = ["ImapMailbox", "Mailbox", "MailboxError", "MaildirMailbox", "RawMessage"]


def __getattr__(name: str) -> Any:
    if name == "ImapMailbox":
        from notifications.mailboxes.imap import ImapMailbox

        return ImapMailbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
