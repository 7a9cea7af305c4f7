"""Requests for a programme, from their registration to their answer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from engine.domain.errors import NotFoundError
from engine.store.base import Repository
from engine.store.tables import Request


class Requests(Repository):
    """``tx.requests``."""

    def add(self, request: Request) -> Request:
        added: Request = self.unit.save(request)
        return added

    def get(self, request_id: int, *, for_update: bool = False) -> Request:
        """The request; ``for_update`` locks it against concurrent answers."""
        if not for_update:
            found: Request = self.unit.get(Request, request_id, "request")
            return found
        statement = self.backend.for_update(select(Request).where(col(Request.id) == request_id))
        locked = self.session.exec(statement).first()
        if locked is None:
            raise NotFoundError("request", request_id)
        return locked

    def find(self, *, states: Sequence[str] | None = None) -> list[Request]:
        statement = select(Request).order_by(col(Request.deadline), col(Request.id))
        if states:
            statement = statement.where(col(Request.state).in_(states))
        return list(self.session.exec(statement))
