"""The outbox's rendered bytes (render ahead, migration 0010): which pending rows still need
rendering, and storing what was rendered for them.

A row's ``rendered`` holds its wire bytes and ``rendered_with`` the fingerprint of what
rendered them (:func:`notifications.prerender.fingerprint`). ``rendered_with`` set with
``rendered`` NULL means rendering ahead was tried with that fingerprint and failed: the row
is rendered at send, as every row without bytes is. Every statement that changes a pending
row's payload clears both (``tx.outbox.replace_pending_payload``, ``upsert_pending``, and
``engine.store.forget``), and a row that leaves the outbox's pending life (sent, failed,
missed, cancelled) drops its bytes.

Storing is a conditional UPDATE: the row must still be ``pending`` and its payload still the
text that was rendered, so bytes rendered from a payload that changed meanwhile are never
stored (no lock is held while rendering).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, or_, update
from sqlalchemy import select as columns
from sqlmodel import col

from engine.backends.abc import slices
from engine.domain.model import OutboxState
from engine.store.base import Repository
from engine.store.tables import OutboxMessage

# What a row whose message is not pending any more keeps of its rendered bytes: nothing.
DROP_RENDERED: dict[str, Any] = {"rendered": None, "rendered_with": None}


@dataclass(frozen=True)
class ToRender:
    """A pending row to render: the columns rendering reads, and its payload as stored (the
    text :meth:`OutboxRendering.store_rendered` checks is unchanged)."""

    id: int
    kind: str
    message_id: str
    created_at: datetime
    payload_text: str


@dataclass(frozen=True)
class Rendered:
    """What rendering one :class:`ToRender` gave: bytes, or None when it failed."""

    row: ToRender
    data: bytes | None


class OutboxRendering(Repository):
    """Part of ``tx.outbox``."""

    def to_render(
        self,
        fingerprint: str,
        *,
        before: datetime | None = None,
        after: datetime | None = None,
        keys: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[ToRender]:
        """Pending rows not yet rendered with ``fingerprint``: those due in (``after``,
        ``before``] (soonest first), or those with the dedupe ``keys``; at most ``limit``."""
        payload = cast(col(OutboxMessage.payload), Text)
        statement = columns(
            col(OutboxMessage.id),
            col(OutboxMessage.kind),
            col(OutboxMessage.message_id),
            col(OutboxMessage.created_at),
            payload,
        ).where(
            col(OutboxMessage.state) == OutboxState.PENDING.value,
            or_(
                col(OutboxMessage.rendered_with).is_(None),
                col(OutboxMessage.rendered_with) != fingerprint,
            ),
        )
        if before is not None:
            statement = statement.where(col(OutboxMessage.next_attempt_at) <= before)
        if after is not None:
            statement = statement.where(col(OutboxMessage.next_attempt_at) > after)
        if keys is not None:
            statement = statement.where(col(OutboxMessage.dedupe_key).in_(list(keys)))
        statement = statement.order_by(
            col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)
        ).limit(limit)
        return [ToRender(*row) for row in self.session.execute(statement)]

    def store_rendered(self, results: Sequence[Rendered], fingerprint: str) -> int:
        """Keep the bytes of each result (or, for a failed one, the note that ``fingerprint``
        failed) on its row, if the row is still pending with the payload that was rendered.
        Returns how many rows took their result."""
        payload = cast(col(OutboxMessage.payload), Text)
        stored = 0
        for part in slices(list(results)):
            for result in part:
                statement = (
                    update(OutboxMessage)
                    .where(
                        col(OutboxMessage.id) == result.row.id,
                        col(OutboxMessage.state) == OutboxState.PENDING.value,
                        payload == result.row.payload_text,
                    )
                    .values(rendered=result.data, rendered_with=fingerprint)
                    .execution_options(synchronize_session=False)
                )
                stored += max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]
        return stored
