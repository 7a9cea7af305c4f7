"""``tx.checkins``: the maintenance check-ins after a programme that were closed by hand.

The open check-ins are not stored: they follow from the definition's ``checkins`` and the
programme's end date (engine/services/checkins.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from engine.domain.model import OutboxState
from engine.store.base import Repository
from engine.store.tables import Checkin, OutboxMessage

CHECKIN_KIND = "checkin"


class Checkins(Repository):
    """``tx.checkins``: closed check-ins by programme and offset in months."""

    def closed(self, programme_id: int) -> dict[int, str]:
        """{months: state} of the programme's closed check-ins."""
        statement = select(Checkin).where(col(Checkin.programme_id) == programme_id)
        return {row.months: row.state for row in self.session.exec(statement)}

    def close(self, programme_id: int, months: int, state: str, now: datetime) -> None:
        statement = select(Checkin).where(
            col(Checkin.programme_id) == programme_id, col(Checkin.months) == months
        )
        row = self.session.exec(statement).first()
        if row is None:
            row = Checkin(programme_id=programme_id, months=months, state=state, updated_at=now)
        row.state, row.updated_at = state, now
        self.unit.save(row)

    def sent_months(self, programme_id: int) -> set[int]:
        """The offsets whose check-in mail went out."""
        statement = select(OutboxMessage.dedupe_key).where(
            col(OutboxMessage.programme_id) == programme_id,
            col(OutboxMessage.kind) == CHECKIN_KIND,
            col(OutboxMessage.state) == OutboxState.SENT.value,
        )
        found = set()
        for key in self.session.exec(statement):
            parts = key.split(":")
            if len(parts) > 2 and parts[2].isdigit():
                found.add(int(parts[2]))
        return found
