"""``tx.feeds``: the calendar feeds' hashed tokens, and the invites a person was sent.

A token is never stored, only its SHA-256 (``engine.services.feeds`` hashes it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from engine.domain.model import OutboxState
from engine.store.base import Repository
from engine.store.tables import FeedToken, OutboxMessage, Person

INVITE_KIND = "invite"


class FeedTokens(Repository):
    """``tx.feeds``: tokens of ``/feeds/{token}.ics`` and what a feed shows."""

    def add(self, person_id: int, token_hash: str, now: datetime) -> None:
        self.session.add(FeedToken(person_id=person_id, token_hash=token_hash, created_at=now))
        self.session.flush()

    def revoke(self, person_id: int, now: datetime) -> int:
        """Revoke every live token of the person; returns how many."""
        statement = (
            update(FeedToken)
            .where(col(FeedToken.person_id) == person_id, col(FeedToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]

    def owner(self, token_hash: str) -> tuple[str, Person] | None:
        """The stored hash and its person, for a live (unrevoked) token with this hash."""
        statement = (
            select(FeedToken.token_hash, Person)
            .join(Person, col(Person.id) == col(FeedToken.person_id))
            .where(col(FeedToken.token_hash) == token_hash, col(FeedToken.revoked_at).is_(None))
        )
        found = self.session.exec(statement).first()
        return None if found is None else (found[0], found[1])

    def invites_to(self, email: str) -> list[OutboxMessage]:
        """Every invite and cancellation queued for ``email`` (superseded rows that were never
        sent, state ``cancelled``, left out), oldest first."""
        statement = (
            select(OutboxMessage)
            .where(
                col(OutboxMessage.kind) == INVITE_KIND,
                col(OutboxMessage.recipient) == email.lower(),
                col(OutboxMessage.state) != OutboxState.CANCELLED.value,
            )
            .order_by(col(OutboxMessage.id))
        )
        return list(self.session.exec(statement))
