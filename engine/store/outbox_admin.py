"""The operator's side of the outbox: one message by id (``fbh outbox show``), failed messages
put back (``fbh outbox retry``), unsent messages cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from engine.backends.abc import slices
from engine.domain.model import OutboxState
from engine.store.base import Repository
from engine.store.events import Events
from engine.store.tables import OutboxMessage


class OutboxAdmin(Repository):
    """Part of ``tx.outbox``."""

    def message(self, message_id: int) -> OutboxMessage:
        """One message by id; NotFoundError if there is none."""
        found: OutboxMessage = self.unit.get(OutboxMessage, message_id, "message")
        return found

    def retry_failed(
        self, now: datetime, *, actor: str, ids: Sequence[int] | None = None
    ) -> list[int]:
        """Put ``failed`` messages (those of ``ids``, or every one) back to ``pending``: due
        now, attempts from zero, with a ``retried`` event each. A conditional UPDATE: a message
        that is not ``failed`` (sent, or being sent) is never touched, so nothing sent goes
        twice. Returns the ids put back."""
        statement = (
            update(OutboxMessage)
            .where(col(OutboxMessage.state) == OutboxState.FAILED.value)
            .values(
                state=OutboxState.PENDING.value,
                attempts=0,
                due_at=now,
                next_attempt_at=now,
                claimed_at=None,
                claimed_by=None,
            )
            .returning(
                col(OutboxMessage.id),
                col(OutboxMessage.programme_id),
                col(OutboxMessage.recipient),
                col(OutboxMessage.kind),
            )
            .execution_options(synchronize_session=False)
        )
        if ids is None:
            rows = list(self.session.execute(statement))
        else:
            rows = []
            for chunk in slices(list(ids)):
                chosen = statement.where(col(OutboxMessage.id).in_(chunk))
                rows += list(self.session.execute(chosen))
        events = Events(self.unit)
        for ident, programme_id, recipient, kind in rows:
            events.add(
                at=now,
                actor=actor,
                entity="outbox",
                entity_id=ident,
                programme_id=programme_id,
                event="retried",
                from_state=OutboxState.FAILED.value,
                to_state=OutboxState.PENDING.value,
                data={"kind": kind, "recipient": recipient},
            )
        if rows:
            self.unit.touch()  # wakes the daemons: the messages are due now
        return sorted(ident for ident, *_ in rows)

    def cancel_unsent(self, ids: Sequence[int]) -> int:
        """Cancel the messages of ``ids`` that are ``pending`` or ``failed`` (not being sent,
        not sent)."""
        cancelled = 0
        for chunk in slices(list(ids)):
            result = self.session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_(chunk),
                    col(OutboxMessage.state).in_(
                        [OutboxState.PENDING.value, OutboxState.FAILED.value]
                    ),
                )
                .values(state=OutboxState.CANCELLED.value, rendered=None, rendered_with=None)
            )
            cancelled += max(result.rowcount, 0)  # type: ignore[attr-defined]
        if cancelled:
            self.unit.touch()
        return cancelled
