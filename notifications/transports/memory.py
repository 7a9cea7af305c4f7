"""An in-memory transport for unit tests: it keeps every delivered envelope."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence

from engine.domain.errors import TransportError
from notifications.transports.base import DeliveryResult, Envelope, Transport

__all__ = ["InMemoryTransport"]

log = logging.getLogger(__name__)


class InMemoryTransport(Transport):
    """Collects envelopes in :attr:`sent`.

    ``script`` scripts the outcome of the next envelopes, one item per envelope: ``None``
    delivers it, a :class:`TransportError` fails it (it is not kept in :attr:`sent`). After the
    script runs out every envelope is delivered. :meth:`fail_next_batch` makes the next
    ``send_batch`` call raise, like a refused connection.
    """

    def __init__(self, script: Iterable[TransportError | None] = ()) -> None:
        self.sent: list[Envelope] = []
        self.batches: list[list[Envelope]] = []
        self.closed = False
        self._script: deque[TransportError | None] = deque(script)
        self._batch_failure: TransportError | None = None

    def script(self, *outcomes: TransportError | None) -> None:
        """Append outcomes for the next envelopes (``None`` = deliver)."""
        self._script.extend(outcomes)

    def fail_next_batch(self, error: TransportError) -> None:
        """Make the next ``send_batch`` raise ``error`` without delivering anything."""
        self._batch_failure = error

    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        if self.closed:
            raise TransportError("transport is closed")
        self.batches.append(list(envelopes))
        if self._batch_failure is not None:
            error, self._batch_failure = self._batch_failure, None
            raise error
        return [self._deliver(envelope) for envelope in envelopes]

    async def aclose(self) -> None:
        self.closed = True

    def _deliver(self, envelope: Envelope) -> DeliveryResult:
        outcome = self._script.popleft() if self._script else None
        if outcome is not None:
            log.debug("scripted failure for %s: %s", envelope.message_id, outcome)
            return DeliveryResult(envelope.message_id, outcome)
        self.sent.append(envelope)
        return DeliveryResult(envelope.message_id, None)
