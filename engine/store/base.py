"""What every repository of a transaction shares: its session, its backend, and whether it
changed what the daemons schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from engine.backends.abc import Backend
from engine.domain.errors import NotFoundError


class Unit:
    """One unit of work on the database: a session on one backend."""

    def __init__(self, session: Session, backend: Backend) -> None:
        self.session = session
        self.backend = backend
        self.changed = False  # set by writes the daemons must hear about (announce_change)
        self.installation = ""  # goes into every new Message-ID (engine/domain/identity.py)

    def touch(self) -> None:
        """Mark this transaction as one that changes what the daemons schedule."""
        self.changed = True

    def save(self, row: Any) -> Any:
        """Add or update ``row`` and flush it (so it has its id)."""
        self.touch()
        self.session.add(row)
        self.session.flush()
        return row

    def delete(self, row: Any) -> None:
        self.session.delete(row)
        self.session.flush()

    def get(self, table: Any, ident: int, what: str) -> Any:
        found = self.session.get(table, ident)
        if found is None:
            raise NotFoundError(what, ident)
        return found

    def insert_many(
        self, table: Table, rows: Sequence[dict[str, Any]], *, statement: Insert | None = None
    ) -> None:
        """Insert ``rows`` (dicts keyed by column name, all with the same keys) as the
        backend does it fastest: no ORM objects, no flush per row."""
        if not rows:
            return
        self.touch()
        connection = self.session.connection()
        self.backend.insert_many(
            connection, table, rows, statement if statement is not None else insert(table)
        )


class Repository:
    """The queries of one aggregate, inside the transaction ``unit``."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @property
    def session(self) -> Session:
        return self.unit.session

    @property
    def backend(self) -> Backend:
        return self.unit.backend


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class (for bulk statements)."""
    table: Table = model.__table__
    return table
