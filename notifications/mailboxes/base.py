"""The interface of a mailbox that fbh reads.

A message stays in the mailbox until it is marked: ``mark_processed`` after the transaction
that applied it has committed, ``set_aside`` when it could not be used. Both keep the message
(a flag, or a move to ``cur/``); nothing is deleted. A crash between the commit and the mark
leaves it unmarked, and the next pass finds its Message-ID in the database and only marks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from engine.domain.errors import FbhError

__all__ = ["Mailbox", "MailboxError", "RawMessage"]


class MailboxError(FbhError):
    """The mailbox cannot be read (server unreachable, login refused, folder missing)."""

    exit_code = 3


@dataclass(frozen=True)
class RawMessage:
    key: str  # Maildir file name, or "UIDVALIDITY:UID" on IMAP
    data: bytes  # empty when the message is larger than the reader's limit
    size: int
    received: datetime | None  # when the mailbox got it (file time, IMAP INTERNALDATE)


class Mailbox(ABC):
    """One inbox. Blocking calls; the daemon runs them in a thread."""

    @abstractmethod
    def pending(self, limit: int) -> list[str]:
        """Keys of up to ``limit`` messages that are not marked yet, oldest first."""

    @abstractmethod
    def fetch(self, key: str, max_bytes: int) -> RawMessage | None:
        """The message (without its bytes if over ``max_bytes``); None if it is gone."""

    @abstractmethod
    def mark_processed(self, key: str) -> None: ...

    @abstractmethod
    def set_aside(self, key: str) -> None: ...

    def wait(self, timeout: float) -> bool:
        """Block until new mail may have arrived or ``timeout`` passed (IMAP IDLE); returns
        whether the server said something. The default only tells the caller to poll."""
        return False

    @property
    def can_wait(self) -> bool:
        return False

    def close(self) -> None:  # noqa: B027 - optional: only connections have one to release
        """Release the connection, if any."""
