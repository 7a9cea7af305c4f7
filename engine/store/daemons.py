"""The SQL of the daemon: heartbeats, orphaned claims, catch-up and the timeline's inputs.

Functions over a :class:`~engine.store.store.Tx`, kept apart from the command queries in
``store.py``. Every state change is a conditional UPDATE, so two daemons racing on the same
row cannot both win.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select

from engine.domain import OutboxState
from engine.store.store import Milestone, OutboxMessage, Programme, Request, Tx
from engine.store.tables import Daemon, Event
from engine.timeline import LIVE_STATES, MilestoneClock, ProgrammeClock

DAEMON_PREFIX = "daemon:"  # worker ids of daemons start with this; the CLI's with "cli:"


# ----- heartbeats ----------------------------------------------------------------------------


def beat(
    tx: Tx, *, name: str, host: str, pid: int, started_at: datetime, now: datetime, leader: bool
) -> None:
    """Record that daemon ``name`` is alive at ``now`` (insert its row the first time).

    A leader also clears the flag of every other daemon: it holds the lock, so they do not.
    """
    if leader:
        tx.session.execute(
            update(Daemon)
            .where(col(Daemon.name) != name, col(Daemon.is_leader).is_(True))
            .values(is_leader=False)
        )
    statement = (
        update(Daemon)
        .where(col(Daemon.name) == name)
        .values(seen_at=now, is_leader=leader, host=host, pid=pid)
    )
    if tx.session.execute(statement).rowcount:  # type: ignore[attr-defined]
        return
    tx.session.add(
        Daemon(name=name, host=host, pid=pid, started_at=started_at, seen_at=now, is_leader=leader)
    )
    tx.session.flush()


def forget(tx: Tx, name: str) -> None:
    """Remove a daemon that stopped cleanly."""
    tx.session.execute(delete(Daemon).where(col(Daemon.name) == name))


def daemons(tx: Tx) -> list[Daemon]:
    return list(tx.session.exec(select(Daemon).order_by(col(Daemon.started_at), col(Daemon.id))))


def alive_names(tx: Tx, fresh_after: datetime) -> set[str]:
    statement = select(Daemon.name).where(col(Daemon.seen_at) >= fresh_after)
    return set(tx.session.exec(statement))


def prune(tx: Tx, seen_before: datetime) -> int:
    """Delete daemons unseen since ``seen_before`` (crashed long ago)."""
    result = tx.session.execute(delete(Daemon).where(col(Daemon.seen_at) < seen_before))
    return max(result.rowcount, 0)  # type: ignore[attr-defined]


# ----- outbox --------------------------------------------------------------------------------


def release_orphans(tx: Tx, now: datetime, alive: Collection[str]) -> list[tuple[int, str]]:
    """Return rows claimed by daemons that are not alive to ``pending``.

    Only daemon claims are judged here (a daemon has a heartbeat); a CLI's claim is left to
    the age-based :meth:`Tx.release_stuck`. Returns ``(id, former worker)`` pairs.
    """
    statement = select(OutboxMessage.id, OutboxMessage.claimed_by).where(
        col(OutboxMessage.state) == OutboxState.SENDING.value,
        col(OutboxMessage.claimed_by).startswith(DAEMON_PREFIX, autoescape=True),
    )
    orphans = [(i, w) for i, w in tx.session.exec(statement) if i and w and w not in alive]
    released = []
    for ident, worker in orphans:
        result = tx.session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == ident,
                col(OutboxMessage.state) == OutboxState.SENDING.value,
                col(OutboxMessage.claimed_by) == worker,
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


def late_pending(tx: Tx, now: datetime) -> list[OutboxMessage]:
    """Pending rows that may be sent now and fell due before ``now``."""
    statement = select(OutboxMessage).where(
        col(OutboxMessage.state) == OutboxState.PENDING.value,
        col(OutboxMessage.next_attempt_at) <= now,
        col(OutboxMessage.due_at) < now,
    )
    return list(tx.session.exec(statement.order_by(col(OutboxMessage.id))))


def mark_missed(tx: Tx, row: OutboxMessage, now: datetime, *, actor: str, reason: str) -> bool:
    """Record a late row as ``missed`` instead of sending it, with a ``missed`` event.

    False when the row was not pending any more (another daemon claimed it meanwhile).
    """
    result = tx.session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == row.id,
            col(OutboxMessage.state) == OutboxState.PENDING.value,
        )
        .values(state=OutboxState.MISSED.value, last_error=f"missed: {reason}")
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    tx.add_event(
        at=now,
        actor=actor,
        entity="outbox",
        entity_id=row.id,
        programme_id=row.programme_id,
        event="missed",
        from_state=OutboxState.PENDING.value,
        to_state=OutboxState.MISSED.value,
        data={
            "kind": row.kind,
            "recipient": row.recipient,
            "due_at": row.due_at.isoformat(),
            "milestone_id": row.milestone_id,
            "reason": reason,
        },
    )
    return True


def cancel_by_prefix(tx: Tx, prefix: str) -> int:
    """Cancel pending rows whose dedupe key starts with ``prefix``."""
    statement = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.state) == OutboxState.PENDING.value,
            col(OutboxMessage.dedupe_key).startswith(prefix, autoescape=True),
        )
        .values(state=OutboxState.CANCELLED.value)
    )
    tx.touch()
    return max(tx.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]


# ----- timeline and requests -----------------------------------------------------------------


def live_clocks(tx: Tx, programme_ids: Sequence[int] | None = None) -> list[ProgrammeClock]:
    """The timeline inputs of every live programme (or of ``programme_ids``), in two queries."""
    programmes = select(Programme).where(col(Programme.state).in_(LIVE_STATES))
    if programme_ids is not None:
        programmes = programmes.where(col(Programme.id).in_(programme_ids))
    rows = list(tx.session.exec(programmes.order_by(col(Programme.id))))
    ids = [p.id for p in rows if p.id is not None]
    by_programme: dict[int, list[MilestoneClock]] = defaultdict(list)
    if ids:
        statement = (
            select(Milestone)
            .where(col(Milestone.programme_id).in_(ids))
            .order_by(col(Milestone.position), col(Milestone.id))
        )
        for m in tx.session.exec(statement):
            assert m.id is not None
            by_programme[m.programme_id].append(
                MilestoneClock(m.id, m.kind, m.state, m.window_start, m.window_end, m.end_at, m.key)
            )
    return [
        ProgrammeClock(p.id, p.state, p.start_date, p.end_date, tuple(by_programme.get(p.id, ())))
        for p in rows
        if p.id is not None
    ]


def request_for_update(tx: Tx, request_id: int) -> Request:
    """The request, locked against concurrent answers on PostgreSQL."""
    if tx.dialect == "postgresql":
        statement = select(Request).where(col(Request.id) == request_id).with_for_update()
        found = tx.session.exec(statement).first()
        if found is not None:
            return found
    return tx.get_request(request_id)


def request_events(tx: Tx, request_id: int, event: str) -> int:
    """How many ``event`` events the request has had."""
    statement = select(Event.id).where(
        col(Event.entity) == "request",
        col(Event.entity_id) == request_id,
        col(Event.event) == event,
    )
    return len(list(tx.session.exec(statement)))


def next_pending(tx: Tx) -> OutboxMessage | None:
    """The pending row that falls due first."""
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.state) == OutboxState.PENDING.value)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(1)
    )
    return tx.session.exec(statement).first()
