"""The SQL behind ``/metrics`` and ``/readyz``: aggregates over the outbox and the event log.

Functions over a :class:`~engine.store.store.Tx`; each is one aggregate query, so a scrape
costs the same however many rows there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as columns
from sqlmodel import col

from engine.domain.model import OutboxState
from engine.store.store import Tx
from engine.store.tables import Event, OutboxMessage


@dataclass(frozen=True)
class Lateness:
    """Sent messages of one kind: how late each went out (due → sent), bucketed."""

    kind: str
    buckets: tuple[int, ...]  # cumulative counts, one per bound
    count: int
    total_seconds: float


@dataclass(frozen=True)
class Backlog:
    """Pending messages that are due: how many, and the oldest due time."""

    due: int
    oldest: datetime | None

    def lag_seconds(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max((now - self.oldest).total_seconds(), 0.0)


def outbox_counts(tx: Tx) -> list[tuple[str, str, int]]:
    """``(kind, state, count)`` for every kind and state present."""
    statement = columns(col(OutboxMessage.kind), col(OutboxMessage.state), func.count()).group_by(
        col(OutboxMessage.kind), col(OutboxMessage.state)
    )
    return [(kind, state, int(n)) for kind, state, n in tx.session.execute(statement)]


def lateness(tx: Tx, bounds: Sequence[float]) -> list[Lateness]:
    """Per kind, the sent messages' lateness in seconds against ``bounds`` (ascending)."""
    late = _seconds_between(tx.backend.name, col(OutboxMessage.due_at), col(OutboxMessage.sent_at))
    statement = (
        columns(
            col(OutboxMessage.kind),
            func.count(),
            func.coalesce(func.sum(late), 0.0),
            *[func.coalesce(func.sum(case((late <= bound, 1), else_=0)), 0) for bound in bounds],
        )
        .where(
            col(OutboxMessage.state) == OutboxState.SENT.value,
            col(OutboxMessage.sent_at).is_not(None),
        )
        .group_by(col(OutboxMessage.kind))
        .order_by(col(OutboxMessage.kind))
    )
    return [
        Lateness(
            kind=row[0],
            count=int(row[1]),
            total_seconds=float(row[2]),
            buckets=tuple(int(n) for n in row[3:]),
        )
        for row in tx.session.execute(statement)
    ]


def backlog(tx: Tx, now: datetime) -> Backlog:
    statement = columns(func.count(), func.min(OutboxMessage.due_at)).where(
        col(OutboxMessage.state) == OutboxState.PENDING.value,
        col(OutboxMessage.due_at) <= now,
    )
    due, oldest = tx.session.execute(statement).one()
    return Backlog(due=int(due), oldest=oldest)


def last_event_at(tx: Tx, event: str) -> datetime | None:
    statement = columns(func.max(Event.at)).where(col(Event.event) == event)
    found: datetime | None = tx.session.execute(statement).scalar()
    return found


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
