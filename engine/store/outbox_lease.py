"""Rows claimed ahead of sending (the daemon's ``daemon.claim_ahead``): one claim leases more
rows than one batch, and each later batch is checked as still the worker's just before it is
sent, in the transaction that records the batch before it (notifications/outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlmodel import col

from engine.backends.abc import slices
from engine.domain.model import OutboxState
from engine.store.base import Repository
from engine.store.tables import OutboxMessage


class OutboxLease(Repository):
    """Part of ``tx.outbox``."""

    def still_claimed(self, message_ids: Sequence[int], worker: str) -> set[int]:
        """The ids among ``message_ids`` that are still claimed by ``worker`` (``sending``
        under its name). A row given back meanwhile (its worker was taken for dead) is not
        among them. A read, not a write: the lease is young (notifications/outbox.py)."""
        kept: set[int] = set()
        for chunk in slices(list(message_ids)):
            statement = select(col(OutboxMessage.id)).where(
                col(OutboxMessage.id).in_(chunk),
                col(OutboxMessage.state) == OutboxState.SENDING.value,
                col(OutboxMessage.claimed_by) == worker,
            )
            kept.update(i for i in self.session.connection().execute(statement).scalars() if i)
        return kept

    def give_back(self, message_ids: Sequence[int], worker: str) -> int:
        """Return rows ``worker`` claimed but never tried to ``pending``, due as they were,
        with the attempt their claim counted taken back."""
        given = 0
        for chunk in slices(list(message_ids)):
            statement = (
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_(chunk),
                    col(OutboxMessage.state) == OutboxState.SENDING.value,
                    col(OutboxMessage.claimed_by) == worker,
                )
                .values(state=OutboxState.PENDING.value, attempts=OutboxMessage.attempts - 1)
            )
            given += max(self.session.connection().execute(statement).rowcount, 0)
        return given
