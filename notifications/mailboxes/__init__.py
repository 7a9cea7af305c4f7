"""Mailbox readers for inbound mail: a local Maildir (embedded default) and IMAP."""

from notifications.mailboxes.base import Mailbox, MailboxError, RawMessage
from notifications.mailboxes.imap import ImapMailbox
from notifications.mailboxes.maildir import MaildirMailbox

__all__ = ["ImapMailbox", "Mailbox", "MailboxError", "MaildirMailbox", "RawMessage"]
