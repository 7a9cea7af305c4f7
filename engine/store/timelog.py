"""The tovholder's time log: entries of hours per programme and part."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select

from engine.store.base import Repository
from engine.store.tables import Programme, TimeEntry


class TimeLog(Repository):
    """``tx.time``."""

    def add(self, entry: TimeEntry) -> TimeEntry:
        added: TimeEntry = self.unit.save(entry)
        return added

    def get(self, entry_id: int) -> TimeEntry:
        found: TimeEntry = self.unit.get(TimeEntry, entry_id, "time entry")
        return found

    def find(self, programme_id: int) -> list[TimeEntry]:
        """The programme's entries, by date."""
        statement = (
            select(TimeEntry)
            .where(TimeEntry.programme_id == programme_id)
            .order_by(col(TimeEntry.work_date), col(TimeEntry.id))
        )
        return list(self.session.exec(statement))

    def hours_on(self, person_id: int, day: date, *, exclude_entry: int | None = None) -> float:
        """What the person logged on ``day`` across all programmes."""
        statement = select(func.coalesce(func.sum(TimeEntry.hours), 0.0)).where(
            TimeEntry.person_id == person_id, TimeEntry.work_date == day
        )
        if exclude_entry is not None:
            statement = statement.where(TimeEntry.id != exclude_entry)
        return float(self.session.exec(statement).one())

    def ended_programmes(self, states: Sequence[str], since: date, before: date) -> list[Programme]:
        """Programmes in ``states`` whose last day lies in [since, before), found in SQL (not
        every programme with its snapshot)."""
        statement = select(Programme).where(
            col(Programme.state).in_(states),
            col(Programme.end_date) >= since,
            col(Programme.end_date) < before,
        )
        return list(self.session.exec(statement.order_by(col(Programme.id))))
