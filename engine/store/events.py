"""The event log (audit): every change of state, who made it and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from engine.store.base import Repository, table_of
from engine.store.tables import Event


class Events(Repository):
    """``tx.events``: append and read the event log."""

    def add(
        self,
        *,
        at: datetime,
        actor: str,
        entity: str,
        event: str,
        entity_id: int | None = None,
        programme_id: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        row = Event(
            at=at,
            actor=actor,
            entity=entity,
            entity_id=entity_id,
            programme_id=programme_id,
            event=event,
            from_state=from_state,
            to_state=to_state,
            data=data or {},
        )
        added: Event = self.unit.save(row)
        return added

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self.unit.insert_many(table_of(Event), rows)

    def find(self, *, programme_id: int | None = None, event: str | None = None) -> list[Event]:
        statement = select(Event).order_by(col(Event.id))
        if programme_id is not None:
            statement = statement.where(Event.programme_id == programme_id)
        if event is not None:
            statement = statement.where(Event.event == event)
        return list(self.session.exec(statement))

    def count(self, *, entity: str, entity_id: int, event: str) -> int:
        """How many ``event`` events the entity has had."""
        statement = select(Event.id).where(
            col(Event.entity) == entity,
            col(Event.entity_id) == entity_id,
            col(Event.event) == event,
        )
        return len(list(self.session.exec(statement)))

    def latest(self, entity: str, events: Sequence[str]) -> Event | None:
        """The newest of the ``events`` events of ``entity``."""
        statement = (
            select(Event)
            .where(col(Event.entity) == entity, col(Event.event).in_(list(events)))
            .order_by(col(Event.id).desc())
            .limit(1)
        )
        return self.session.exec(statement).first()

    def of(self, entity: str, entity_id: int) -> list[Event]:
        """Every event of one entity, oldest first."""
        statement = (
            select(Event)
            .where(col(Event.entity) == entity, col(Event.entity_id) == entity_id)
            .order_by(col(Event.id))
        )
        return list(self.session.exec(statement))

    def exists_since(self, event: str, since: datetime) -> bool:
        """Whether an ``event`` event was written at or after ``since``."""
        statement = select(Event.id).where(col(Event.at) >= since, col(Event.event) == event)
        return self.session.exec(statement.limit(1)).first() is not None
