"""``tx.participants``: the participants of a programme's parts (workshop, course days)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col, select

from engine.store.base import Repository
from engine.store.tables import Participant

__all__ = ["Participant", "Participants"]


class Participants(Repository):
    """``tx.participants``: add, find, list and remove participants."""

    def add(self, participant: Participant) -> Participant:
        added: Participant = self.unit.save(participant)
        return added

    def add_many(self, participants: Sequence[Participant]) -> None:
        for participant in participants:
            self.session.add(participant)
        self.unit.touch()
        self.session.flush()

    def of(self, programme_id: int, part: str | None = None) -> list[Participant]:
        """A programme's participants (of one part), in the order they were added."""
        statement = select(Participant).where(Participant.programme_id == programme_id)
        if part is not None:
            statement = statement.where(Participant.part == part)
        return list(self.session.exec(statement.order_by(col(Participant.id))))

    def names(self, programme_ids: Sequence[int]) -> dict[str, str]:
        """email → name of the participants of these programmes, in one query."""
        statement = select(Participant.email, Participant.name).where(
            col(Participant.programme_id).in_(list(programme_ids))
        )
        return {email: name for email, name in self.session.exec(statement)}

    def find(self, programme_id: int, email: str, part: str | None = None) -> list[Participant]:
        statement = select(Participant).where(
            Participant.programme_id == programme_id, Participant.email == email.lower()
        )
        if part is not None:
            statement = statement.where(Participant.part == part)
        return list(self.session.exec(statement.order_by(col(Participant.id))))

    def with_email(self, email: str) -> list[Participant]:
        """Every participant row of an address, across programmes."""
        statement = select(Participant).where(Participant.email == email.lower())
        return list(self.session.exec(statement.order_by(col(Participant.id))))

    def remove(self, participant: Participant) -> None:
        self.unit.touch()
        self.unit.delete(participant)

    def forget(self, email: str) -> int:
        """Delete every participant row of ``email``; returns how many."""
        statement = delete(Participant).where(col(Participant.email) == email.lower())
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]
