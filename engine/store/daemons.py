"""Heartbeats: which daemons run, which of them leads, and when each was last seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select

from engine.store.base import Repository
from engine.store.outbox_lease import DAEMON_PREFIX
from engine.store.tables import Daemon

__all__ = ["DAEMON_PREFIX", "Daemons"]


class Daemons(Repository):
    """``tx.daemons``."""

    def beat(
        self, *, name: str, host: str, pid: int, started_at: datetime, now: datetime, leader: bool
    ) -> None:
        """Record that daemon ``name`` is alive at ``now`` (insert its row the first time).

        A leader also clears the flag of every other daemon: it holds the lock, so they do not.
        """
        if leader:
            self.session.execute(
                update(Daemon)
                .where(col(Daemon.name) != name, col(Daemon.is_leader).is_(True))
                .values(is_leader=False)
            )
        statement = (
            update(Daemon)
            .where(col(Daemon.name) == name)
            .values(seen_at=now, is_leader=leader, host=host, pid=pid)
        )
        if self.session.execute(statement).rowcount:  # type: ignore[attr-defined]
            return
        self.session.add(
            Daemon(
                name=name, host=host, pid=pid, started_at=started_at, seen_at=now, is_leader=leader
            )
        )
        self.session.flush()

    def forget(self, name: str) -> None:
        """Remove a daemon that stopped cleanly."""
        self.session.execute(delete(Daemon).where(col(Daemon.name) == name))

    def find(self) -> list[Daemon]:
        statement = select(Daemon).order_by(col(Daemon.started_at), col(Daemon.id))
        return list(self.session.exec(statement))

    def alive_names(self, fresh_after: datetime) -> set[str]:
        statement = select(Daemon.name).where(col(Daemon.seen_at) >= fresh_after)
        return set(self.session.exec(statement))

    def prune(self, seen_before: datetime) -> int:
        """Delete daemons unseen since ``seen_before`` (crashed long ago)."""
        result = self.session.execute(delete(Daemon).where(col(Daemon.seen_at) < seen_before))
        return max(result.rowcount, 0)  # type: ignore[attr-defined]
