"""Heartbeats: which daemons run, which of them leads, and when each was last seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, update
from sqlalchemy import select as columns
from sqlmodel import col, select

from engine.store.base import Repository, table_of
from engine.store.outbox_lease import DAEMON_PREFIX
from engine.store.tables import Daemon

__all__ = ["DAEMON_PREFIX", "Daemons"]


class Daemons(Repository):
    """``tx.daemons``. Core statements on the table but in :meth:`find`: the heartbeat is the
    daemon's first statement, and an ORM one would configure every mapper before ``ready``
    (docs/benchmarks.md, "Start-up (§5)")."""

    def beat(
        self, *, name: str, host: str, pid: int, started_at: datetime, now: datetime, leader: bool
    ) -> None:
        """Record that daemon ``name`` is alive at ``now`` (insert its row the first time).

        A leader also clears the flag of every other daemon: it holds the lock, so they do not.
        """
        table = table_of(Daemon)
        if leader:
            self.session.execute(
                update(table)
                .where(table.c.name != name, table.c.is_leader.is_(True))
                .values(is_leader=False)
            )
        statement = (
            update(table)
            .where(table.c.name == name)
            .values(seen_at=now, is_leader=leader, host=host, pid=pid)
        )
        if self.session.execute(statement).rowcount:  # type: ignore[attr-defined]
            return
        self.session.execute(
            insert(table).values(
                name=name, host=host, pid=pid, started_at=started_at, seen_at=now, is_leader=leader
            )
        )

    def forget(self, name: str) -> None:
        """Remove a daemon that stopped cleanly."""
        table = table_of(Daemon)
        self.session.execute(delete(table).where(table.c.name == name))

    def find(self) -> list[Daemon]:
        statement = select(Daemon).order_by(col(Daemon.started_at), col(Daemon.id))
        return list(self.session.exec(statement))

    def alive_names(self, fresh_after: datetime) -> set[str]:
        table = table_of(Daemon)
        statement = columns(table.c.name).where(table.c.seen_at >= fresh_after)
        return set(self.session.execute(statement).scalars())

    def prune(self, seen_before: datetime) -> int:
        """Delete daemons unseen since ``seen_before`` (crashed long ago)."""
        table = table_of(Daemon)
        result = self.session.execute(delete(table).where(table.c.seen_at < seen_before))
        return max(result.rowcount, 0)  # type: ignore[attr-defined]
