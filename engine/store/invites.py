"""The invite ledger: who was sent which calendar invite of a meeting, and its sequence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from engine.store.base import Repository, table_of
from engine.store.tables import Invite


class Invites(Repository):
    """``tx.invites``: the ledger (what left the outbox is :meth:`Outbox.delivered_invites`)."""

    def find(self, milestone_id: int) -> list[Invite]:
        statement = (
            select(Invite).where(Invite.milestone_id == milestone_id).order_by(col(Invite.id))
        )
        return list(self.session.exec(statement))

    def record(
        self,
        *,
        programme_id: int,
        milestone_id: int,
        recipient: str,
        uid: str,
        sequence: int,
        method: str,
        now: datetime,
    ) -> Invite:
        found = self.session.exec(
            select(Invite).where(Invite.milestone_id == milestone_id, Invite.recipient == recipient)
        ).first()
        row = found or Invite(
            programme_id=programme_id,
            milestone_id=milestone_id,
            recipient=recipient,
            uid=uid,
            sequence=sequence,
            method=method,
            updated_at=now,
        )
        row.uid, row.sequence, row.method, row.updated_at = uid, sequence, method, now
        saved: Invite = self.unit.save(row)
        return saved

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """New rows of the ledger (for milestones that have none yet)."""
        self.unit.insert_many(table_of(Invite), rows)
