"""The transport contract: deliver a batch of ready-made messages and report per envelope.

Error reporting (every transport follows it):

* ``send_batch`` returns exactly one :class:`DeliveryResult` per envelope, in order. A result
  is ``ok`` when ``error`` is ``None``. ``error.permanent`` tells the outbox whether retrying
  can help (5xx, a malformed address) or not (4xx, a dropped connection, a timeout).
* A failure that happens **before any envelope is attempted** (connection refused, connect or
  greeting timeout, TLS handshake failure, authentication rejected) raises
  :class:`~engine.domain.errors.TransportError` for the whole batch; nothing was sent. It is
  transient (``permanent=False``) except when the server rejects the credentials with a 5xx
  reply: a :class:`~engine.domain.errors.SmtpAuthenticationError`, which the outbox treats as
  the configuration's fault, not the messages' (they spend no attempt; sending pauses).
* A connection lost **during** the batch (disconnect or timeout mid-transaction) does not
  raise: the envelope being sent gets a transient error, while the envelopes already
  accepted keep their ``ok`` result. The envelope in flight may still have been delivered;
  delivery is at-least-once and the Message-ID is deterministic. The later ones go over the
  transport's other connections, if it has any left; those no connection could take were
  never tried (``attempted=False``): the outbox sends them again at once, so one message that
  breaks the connection cannot hold back the rest of its batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType

from engine.domain.errors import TransportError

__all__ = ["DeliveryResult", "Envelope", "Transport"]


@dataclass(frozen=True)
class Envelope:
    """One message as it goes over the wire: SMTP envelope addresses and the message bytes."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome for one envelope.

    ``rejected`` lists recipients the server refused while it accepted the message for
    others; such a result is still ``ok`` (retrying would duplicate the mail for the others).
    ``attempted`` is false for an envelope that was never tried because the connection was
    lost before its turn; nothing of it reached the server.
    """

    message_id: str
    error: TransportError | None = None
    rejected: tuple[tuple[str, TransportError], ...] = ()
    attempted: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


class Transport(ABC):
    """Delivers envelopes. Implementations must follow the error rules in the module doc."""

    @abstractmethod
    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        """Deliver ``envelopes``; return one result per envelope, in order."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """A run of batches (a delivery pass, a drain): the transport may keep its connections
        open from one batch to the next until the block ends, instead of opening them for each
        batch. Nothing to keep by default."""
        yield

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources; the transport is not used afterwards."""

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
