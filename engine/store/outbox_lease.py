"""Leases on claimed rows. Rows claimed ahead of sending (the daemon's ``daemon.claim_ahead``):
one claim leases more rows than one batch, and each later batch is checked as still the
worker's just before it is sent, in the transaction that records the batch before it
(notifications/outbox.py). And claims taken back: from a daemon that stops, from daemons that
are not alive, and by age."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, or_, update
from sqlalchemy import select as columns
from sqlmodel import col

from engine.backends.abc import slices
from engine.domain.model import OutboxState
from engine.store.base import Repository, table_of
from engine.store.tables import OutboxMessage

DAEMON_PREFIX = "daemon:"  # worker ids of daemons start with this; the CLI's with "cli:"


class OutboxLease(Repository):
    """Part of ``tx.outbox``."""

    def still_claimed(self, message_ids: Sequence[int], worker: str) -> set[int]:
        """The ids among ``message_ids`` that are still claimed by ``worker`` (``sending``
        under its name). A row given back meanwhile (its worker was taken for dead) is not
        among them. A read, not a write: the lease is young (notifications/outbox.py)."""
        kept: set[int] = set()
        connection = self.session.connection()
        for chunk in slices(list(message_ids)):
            found = connection.execute(_STILL_CLAIMED, {"ids": chunk, "claimer": worker})
            kept.update(i for i in found.scalars() if i)
        return kept

    def give_back(self, message_ids: Sequence[int], worker: str) -> int:
        """Return rows ``worker`` claimed but never tried to ``pending``, due as they were,
        with the attempt their claim counted taken back."""
        given = 0
        for chunk in slices(list(message_ids)):
            statement = (
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_(chunk),
                    col(OutboxMessage.state) == OutboxState.SENDING.value,
                    col(OutboxMessage.claimed_by) == worker,
                )
                .values(state=OutboxState.PENDING.value, attempts=OutboxMessage.attempts - 1)
            )
            given += max(self.session.connection().execute(statement).rowcount, 0)
        return given

    def release_stuck(self, now: datetime, older_than: timedelta) -> list[tuple[int, str | None]]:
        """Return rows stuck in ``sending`` (their worker died) to ``pending``. Returns
        ``(id, former worker)`` pairs. Core statements, as :meth:`release_orphans`."""
        table = table_of(OutboxMessage)
        cutoff = now - older_than
        statement = columns(table.c.id, table.c.claimed_by).where(
            table.c.state == OutboxState.SENDING.value,
            or_(table.c.claimed_at.is_(None), table.c.claimed_at < cutoff),
        )
        stuck = [(int(i), w) for i, w in self.session.execute(statement).all()]
        if stuck:
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("stuck_id"))
                .values(
                    state=OutboxState.PENDING.value,
                    next_attempt_at=now,
                    last_error=bindparam("stuck_error"),
                ),
                [
                    {"stuck_id": i, "stuck_error": f"reclaimed after worker {w} stopped"}
                    for i, w in stuck
                ],
            )
        return stuck

    def release_claims(self, worker: str, now: datetime) -> int:
        """Give back every claim of ``worker`` (a daemon that stops)."""
        statement = (
            update(OutboxMessage)
            .where(*_claimed_by(worker))
            .values(state=OutboxState.PENDING.value, next_attempt_at=now)
        )
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]

    def release_orphans(self, now: datetime, alive: Collection[str]) -> list[tuple[int, str]]:
        """Return rows claimed by daemons that are not alive to ``pending``.

        Only daemon claims are judged here (a daemon has a heartbeat); a CLI's claim is left
        to the age-based :meth:`release_stuck`. Returns ``(id, former worker)`` pairs.
        """
        table = table_of(OutboxMessage)  # Core: no mapper is configured before `ready` (Daemons)
        statement = columns(table.c.id, table.c.claimed_by).where(
            table.c.state == OutboxState.SENDING.value,
            table.c.claimed_by.startswith(DAEMON_PREFIX, autoescape=True),
        )
        found = self.session.execute(statement).all()
        orphans = [(i, w) for i, w in found if i and w and w not in alive]
        released = []
        for ident, worker in orphans:
            result = self.session.execute(
                update(table)
                .where(
                    table.c.id == ident,
                    table.c.state == OutboxState.SENDING.value,
                    table.c.claimed_by == worker,
                )
                .values(
                    state=OutboxState.PENDING.value,
                    next_attempt_at=now,
                    last_error=f"reclaimed: worker {worker} stopped",
                )
            )
            if result.rowcount:  # type: ignore[attr-defined]
                released.append((ident, worker))
        return released


def _still_claimed() -> Select[Any]:
    table = table_of(OutboxMessage)
    return columns(table.c.id).where(
        table.c.id.in_(bindparam("ids", expanding=True)),
        table.c.state == OutboxState.SENDING.value,
        table.c.claimed_by == bindparam("claimer", type_=table.c.claimed_by.type),
    )


# Built once: the worker asks before every batch it claimed ahead (parameters ``ids``,
# ``claimer``).
_STILL_CLAIMED = _still_claimed()


def _claimed_by(worker: str) -> tuple[Any, Any]:
    """The row is in ``sending`` under ``worker``'s claim."""
    return (
        col(OutboxMessage.state) == OutboxState.SENDING.value,
        col(OutboxMessage.claimed_by) == worker,
    )
