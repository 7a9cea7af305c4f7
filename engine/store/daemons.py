"""The SQL of the daemon: heartbeats, orphaned claims, catch-up and the timeline's inputs.

Functions over a :class:`~engine.store.store.Tx`, kept apart from the command queries in
``store.py``. Every state change is a conditional UPDATE, so two daemons racing on the same
row cannot both win.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, or_, type_coerce, update
from sqlalchemy import select as columns  # many columns: sqlmodel's select types up to four
from sqlmodel import col, select

from engine.domain.model import MilestoneKind, MilestoneState, OutboxState, ProgrammeState
from engine.domain.timeline import _OPEN_MILESTONE as OPEN_MILESTONE  # the states time moves on
from engine.domain.timeline import LIVE_STATES, MilestoneClock, ProgrammeClock, midnight
from engine.store.store import Milestone, OutboxMessage, Programme, Request, Tx
from engine.store.tables import Daemon, Event

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


def unclaim(tx: Tx, message_id: int, worker: str, now: datetime, note: str) -> bool:
    """Give back a claimed row that was never tried (the connection was lost before its turn):
    ``pending``, due at ``now``, and the attempt its claim counted is returned. False if the
    claim was lost meanwhile."""
    result = tx.session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.state) == OutboxState.SENDING.value,
            col(OutboxMessage.claimed_by) == worker,
        )
        .values(
            state=OutboxState.PENDING.value,
            next_attempt_at=now,
            attempts=OutboxMessage.attempts - 1,
            last_error=note,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LateRow:
    """A late pending row as the catch-up sees it: ``payload`` holds only the parts asked for
    (the ones that say when the message stops making sense), read in SQL."""

    id: int
    kind: str
    recipient: str
    due_at: datetime
    programme_id: int | None
    milestone_id: int | None
    payload: dict[str, Any]


def late_pending(tx: Tx, now: datetime, paths: Sequence[tuple[str, ...]] = ()) -> list[LateRow]:
    """Pending rows that may be sent now and fell due before ``now``, with the string values
    at ``paths`` of their payload (JSON paths, extracted by the database: a burst of due rows
    does not cost a JSON parse of every whole payload in Python)."""
    payload = col(OutboxMessage.payload)
    statement = columns(
        col(OutboxMessage.id),
        col(OutboxMessage.kind),
        col(OutboxMessage.recipient),
        col(OutboxMessage.due_at),
        col(OutboxMessage.programme_id),
        col(OutboxMessage.milestone_id),
        *(payload[path].as_string() for path in paths),
    ).where(
        col(OutboxMessage.state) == OutboxState.PENDING.value,
        col(OutboxMessage.next_attempt_at) <= now,
        col(OutboxMessage.due_at) < now,
    )
    rows = []
    for ident, kind, recipient, due_at, programme_id, milestone_id, *values in tx.session.execute(
        statement.order_by(col(OutboxMessage.id))
    ):
        part: dict[str, Any] = {}
        for path, value in zip(paths, values, strict=True):
            if value is None:
                continue
            node = part
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        rows.append(LateRow(ident, kind, recipient, due_at, programme_id, milestone_id, part))
    return rows


def mark_missed(
    tx: Tx, row: OutboxMessage | LateRow, now: datetime, *, actor: str, reason: str
) -> bool:
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
    """The timeline inputs of every live programme (or of ``programme_ids``), in two queries
    of the columns the timeline needs (not whole rows: a programme carries its workflow
    snapshot)."""
    live = col(Programme.state).in_(LIVE_STATES)
    programmes = columns(
        col(Programme.id), col(Programme.state), col(Programme.start_date), col(Programme.end_date)
    ).where(live)
    milestones = (
        columns(
            col(Milestone.programme_id),
            col(Milestone.id),
            col(Milestone.kind),
            col(Milestone.state),
            col(Milestone.window_start),
            col(Milestone.window_end),
            col(Milestone.end_at),
            col(Milestone.key),
        )
        .join(Programme, col(Programme.id) == Milestone.programme_id)
        .where(live)
        .order_by(col(Milestone.position), col(Milestone.id))
    )
    if programme_ids is not None:
        programmes = programmes.where(col(Programme.id).in_(programme_ids))
        milestones = milestones.where(col(Programme.id).in_(programme_ids))
    rows = list(tx.session.execute(programmes.order_by(col(Programme.id))))
    by_programme: dict[int, list[MilestoneClock]] = defaultdict(list)
    if rows:
        for programme_id, *fields in tx.session.execute(milestones):
            by_programme[programme_id].append(MilestoneClock(*fields))
    return [
        ProgrammeClock(ident, state, start, end, tuple(by_programme.get(ident, ())))
        for ident, state, start, end in rows
        if ident is not None
    ]


def due_programme_ids(tx: Tx, now: datetime, tz: ZoneInfo) -> list[int]:
    """The live programmes that may have a transition due at ``now``, found in SQL.

    A superset of those :func:`engine.domain.timeline.due_steps` finds something for (the caller
    checks each under its row lock): a planned programme whose start date has come, one whose
    end date has passed, or an open milestone that is a meeting whose end has passed, or a
    task whose window has opened (still planned) or closed. Dates compare with the local
    date of ``now``: a step on day D is due from 00:00 local on D.
    """
    today = now.astimezone(tz).date()
    meeting = col(Milestone.kind) == MilestoneKind.MEETING.value
    milestone_due = select(Milestone.programme_id).where(
        col(Milestone.state).in_(OPEN_MILESTONE),
        or_(
            and_(meeting, col(Milestone.end_at) <= now),
            and_(
                ~meeting,
                col(Milestone.state) == MilestoneState.PLANNED.value,
                col(Milestone.window_start) <= today,
            ),
            and_(~meeting, col(Milestone.window_end) < today),
        ),
    )
    statement = (
        select(Programme.id)
        .where(
            col(Programme.state).in_(LIVE_STATES),
            or_(
                and_(
                    col(Programme.state) == ProgrammeState.PLANNED.value,
                    col(Programme.start_date) <= today,
                ),
                col(Programme.end_date) < today,
                col(Programme.id).in_(milestone_due),
            ),
        )
        .order_by(col(Programme.id))
    )
    return [ident for ident in tx.session.exec(statement) if ident is not None]


def next_transition_bound(tx: Tx, now: datetime, tz: ZoneInfo) -> datetime | None:
    """A moment after ``now`` no later than the next transition of any live programme (None:
    there is none), from aggregates in SQL instead of every programme's timeline.

    The candidates are the first future start of a planned programme, end of a live one,
    end of an open meeting, opening of a planned task's window and closing of an open task's
    window. Each transition is at one of these moments or later (a step never comes before its
    programme's start), so a timer armed here never fires late. The milestone aggregates do
    not look at the programme's state (a join that a planner without statistics turns into a
    nested loop over every programme): a paused programme's milestone can make the timer
    fire early, once, and find nothing due.
    """
    today = now.astimezone(tz).date()
    live = col(Programme.state).in_(LIVE_STATES)
    open_ = col(Milestone.state).in_(OPEN_MILESTONE)
    meeting = col(Milestone.kind) == MilestoneKind.MEETING.value
    task = col(Milestone.kind) != MilestoneKind.MEETING.value
    planned = col(Milestone.state) == MilestoneState.PLANNED.value
    starts, ends = tx.session.exec(
        select(
            func.min(
                _when(
                    col(Programme.state) == ProgrammeState.PLANNED.value,
                    col(Programme.start_date) > today,
                    col(Programme.start_date),
                )
            ),
            func.min(_when(col(Programme.end_date) >= today, col(Programme.end_date))),
        ).where(live)
    ).one()
    meeting_end, opens, closes = tx.session.exec(
        select(
            func.min(_when(meeting, col(Milestone.end_at) > now, col(Milestone.end_at))),
            func.min(
                _when(
                    task, planned, col(Milestone.window_start) > today, col(Milestone.window_start)
                )
            ),
            func.min(_when(task, col(Milestone.window_end) >= today, col(Milestone.window_end))),
        ).where(open_)
    ).one()
    candidates = [
        midnight(starts, tz) if starts is not None else None,
        midnight(ends + timedelta(days=1), tz) if ends is not None else None,
        meeting_end,
        midnight(opens, tz) if opens is not None else None,
        midnight(closes + timedelta(days=1), tz) if closes is not None else None,
    ]
    found = [moment for moment in candidates if moment is not None]
    return min(found) if found else None


def _when(*conditions_and_value: Any) -> Any:
    """``CASE WHEN all conditions THEN value END``, typed as ``value`` (for ``min``)."""
    *conditions, value = conditions_and_value
    return type_coerce(case((and_(*conditions), value)), value.type)


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


def event_since(tx: Tx, event: str, since: datetime) -> bool:
    """Whether an ``event`` event was written at or after ``since``."""
    statement = select(Event.id).where(col(Event.at) >= since, col(Event.event) == event)
    return tx.session.exec(statement.limit(1)).first() is not None


def next_pending(tx: Tx) -> OutboxMessage | None:
    """The pending row that falls due first."""
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.state) == OutboxState.PENDING.value)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(1)
    )
    return tx.session.exec(statement).first()
