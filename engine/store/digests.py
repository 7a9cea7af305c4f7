"""The SQL of the weekly digests: what every consultant's digest and the lead's read, in a
few queries for all of them at once (kept apart from the command queries in ``store.py``).

The weekly run reads every live programme with its milestones, hours and people: tens of
thousands of rows. They are read as plain rows rather than ORM objects, and on SQLite dates
and times are read as the text SQLite stores and parsed with ``fromisoformat`` (the same
values the column types return, at a fraction of the cost). A programme's workflow snapshot
is read as text (on SQLite as its bytes, which are not decoded row by row) and parsed once per
distinct snapshot.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    LargeBinary,
    String,
    bindparam,
    cast,
    select,
    type_coerce,
)
from sqlmodel import col

from engine.domain.model import Contact, MilestoneKind
from engine.store.store import Tx
from engine.store.tables import (
    Event,
    Milestone,
    Organisation,
    OutboxMessage,
    Person,
    Programme,
    TimeEntry,
)

__all__ = [
    "MilestoneRow",
    "ProgrammeRow",
    "consultant_ids",
    "consultant_programme_ids",
    "contacts",
    "hours_by_part",
    "meeting_starts",
    "milestones",
    "missed_events",
    "missed_rows",
    "organisation_names",
    "people_by_email",
    "programme_organisations",
    "programmes",
]

_IN_LIST = 500  # ids per IN (…) list
# The IN lists are one expanding parameter: each statement is built and compiled once, and
# its values are bound as they are, not made into 500 literal expressions per chunk.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
# What converts a date and a moment read from the store (neither None).
_Converters = tuple[Callable[[Any], date], Callable[[Any], datetime]]


class ProgrammeRow(NamedTuple):
    id: int
    workflow: str
    extensions: tuple[str, ...]
    organisation_id: int
    municipality: str
    consultant_id: int
    tovholder_id: int
    start_date: date
    end_date: date
    state: str
    snapshot: dict[str, str]  # the workflow TOML it runs, {key: source}; shared, do not change


class MilestoneRow(NamedTuple):
    programme_id: int
    workflow: str
    key: str
    title: str
    kind: str
    state: str
    week_first: int
    week_last: int
    window_start: date
    window_end: date
    start_at: datetime | None
    end_at: datetime | None


def programmes(
    tx: Tx,
    *,
    states: Sequence[str],
    consultant_ids: Collection[int] | None = None,
    ending_from: date | None = None,
) -> list[ProgrammeRow]:
    """Programmes in ``states`` (of ``consultant_ids`` when given; ending on ``ending_from``
    or later when given), by id."""
    table = Programme.__table__  # type: ignore[attr-defined]
    text = _Text(tx)
    statement = (
        select(
            table.c.id,
            table.c.workflow,
            table.c.extensions,
            table.c.organisation_id,
            table.c.municipality,
            table.c.consultant_id,
            table.c.tovholder_id,
            text.column(table.c.start_date),
            text.column(table.c.end_date),
            table.c.state,
            # SQLite: as bytes, so only each distinct snapshot is decoded (most are equal)
            cast(table.c.workflow_snapshot, LargeBinary if text.raw else String),
        )
        .where(table.c.state.in_(list(states)))
        .order_by(table.c.id)
    )
    if ending_from is not None:
        statement = statement.where(table.c.end_date >= ending_from)
    snapshots: dict[str | bytes, dict[str, str]] = {}
    found = []
    mine = statement.where(table.c.consultant_id.in_(_IDS))
    for ident in _chunks(sorted(consultant_ids)) if consultant_ids is not None else [None]:
        rows = (
            tx.session.execute(statement)
            if ident is None
            else tx.session.execute(mine, {"ids": ident})
        )
        for row in rows:
            snapshot = snapshots.get(row[10])
            if snapshot is None:
                snapshot = snapshots[row[10]] = json.loads(row[10])
            found.append(
                ProgrammeRow(
                    row[0],
                    row[1],
                    tuple(row[2]),
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    text.date(row[7]),
                    text.date(row[8]),
                    row[9],
                    snapshot,
                )
            )
    if consultant_ids is not None:
        found.sort(key=lambda p: p.id)
    return found


def milestones(tx: Tx, programme_ids: Iterable[int]) -> dict[int, list[MilestoneRow]]:
    """The milestones of each programme, in timeline order (position, id)."""
    text = _Text(tx)
    found: dict[int, list[MilestoneRow]] = defaultdict(list)
    statement = (
        select(
            col(Milestone.programme_id),
            col(Milestone.workflow),
            col(Milestone.key),
            col(Milestone.title),
            col(Milestone.kind),
            col(Milestone.state),
            col(Milestone.week_first),
            col(Milestone.week_last),
            text.column(col(Milestone.window_start)),
            text.column(col(Milestone.window_end)),
            text.column(col(Milestone.start_at)),
            text.column(col(Milestone.end_at)),
        )
        .where(col(Milestone.programme_id).in_(_IDS))
        .order_by(col(Milestone.programme_id), col(Milestone.position), col(Milestone.id))
    )
    day, moment = text.converters()
    make = MilestoneRow
    connection = tx.session.connection()
    for chunk in _chunks(sorted(set(programme_ids))):
        # on the connection: the ORM would wrap each of the many rows again (loading.py)
        for (
            pid,
            workflow,
            key,
            title,
            kind,
            state,
            first,
            last,
            opens,
            closes,
            start,
            end,
        ) in connection.execute(statement, {"ids": chunk}).fetchall():
            found[pid].append(
                make(  # positional: the fields in the order selected
                    pid,
                    workflow,
                    key,
                    title,
                    kind,
                    state,
                    first,
                    last,
                    day(opens),
                    day(closes),
                    None if start is None else moment(start),
                    None if end is None else moment(end),
                )
            )
    return found


def hours_by_part(tx: Tx, programme_ids: Iterable[int]) -> dict[int, list[tuple[str, float]]]:
    """Each programme's time entries as (part, hours), in the order ``TimeLog.find``
    gives them (so sums come out exactly as ``engine.services.timelog.used_by_part`` makes them)."""
    found: dict[int, list[tuple[str, float]]] = defaultdict(list)
    statement = (
        select(col(TimeEntry.programme_id), col(TimeEntry.workflow), col(TimeEntry.hours))
        .where(col(TimeEntry.programme_id).in_(_IDS))
        .order_by(col(TimeEntry.programme_id), col(TimeEntry.work_date), col(TimeEntry.id))
    )
    connection = tx.session.connection()
    for chunk in _chunks(sorted(set(programme_ids))):
        for programme_id, workflow, hours in connection.execute(statement, {"ids": chunk}).all():
            found[programme_id].append((workflow, hours))
    return found


def contacts(tx: Tx, person_ids: Iterable[int]) -> dict[int, Contact]:
    found = {}
    statement = select(col(Person.id), col(Person.name), col(Person.email)).where(
        col(Person.id).in_(_IDS)
    )
    for chunk in _chunks(sorted(set(person_ids))):
        rows = tx.session.execute(statement, {"ids": chunk})
        found.update({ident: Contact(name, email) for ident, name, email in rows})
    return found


def people_by_email(tx: Tx, emails: Iterable[str]) -> dict[str, tuple[int, Contact]]:
    """Lower-cased address → the person's id and contact, for the addresses that are known."""
    found = {}
    statement = select(col(Person.id), col(Person.name), col(Person.email)).where(
        col(Person.email).in_(_IDS)
    )
    for chunk in _chunks(sorted({e.lower() for e in emails})):
        for ident, name, email in tx.session.execute(statement, {"ids": chunk}):
            found[email] = (ident, Contact(name, email))
    return found


def organisation_names(tx: Tx, organisation_ids: Iterable[int]) -> dict[int, str]:
    found = {}
    statement = select(col(Organisation.id), col(Organisation.name)).where(
        col(Organisation.id).in_(_IDS)
    )
    for chunk in _chunks(sorted(set(organisation_ids))):
        rows = tx.session.execute(statement, {"ids": chunk})
        found.update({ident: name for ident, name in rows})
    return found


def consultant_ids(tx: Tx, *, states: Sequence[str]) -> set[int]:
    """The consultants of the programmes in ``states``."""
    statement = select(col(Programme.consultant_id)).where(col(Programme.state).in_(list(states)))
    return set(tx.session.execute(statement.distinct()).scalars())


def meeting_starts(
    tx: Tx, begin: datetime, until: datetime, *, states: Sequence[str], skip: Sequence[str]
) -> list[tuple[int, datetime]]:
    """(consultant id, start) of the meetings starting in [begin, until) of programmes in
    ``states``, except milestones in ``skip``."""
    text = _Text(tx)
    statement = (
        select(col(Programme.consultant_id), text.column(col(Milestone.start_at)))
        .join(Programme, col(Programme.id) == col(Milestone.programme_id))
        .where(
            col(Milestone.kind) == MilestoneKind.MEETING.value,
            col(Milestone.start_at) >= begin,
            col(Milestone.start_at) < until,
            col(Milestone.state).not_in(list(skip)),
            col(Programme.state).in_(list(states)),
        )
    )
    found = []
    for consultant_id, start in tx.session.execute(statement):
        moment = text.moment(start)
        assert moment is not None
        found.append((consultant_id, moment))
    return found


def consultant_programme_ids(tx: Tx) -> dict[int, set[int]]:
    """Every programme's id by consultant, whatever its state."""
    found: dict[int, set[int]] = defaultdict(set)
    statement = select(col(Programme.consultant_id), col(Programme.id))
    for consultant_id, programme_id in tx.session.execute(statement):
        found[consultant_id].add(programme_id)
    return found


def programme_organisations(tx: Tx, programme_ids: Iterable[int]) -> dict[int, str]:
    """Programme id → its organisation's name."""
    found = {}
    statement = (
        select(col(Programme.id), col(Organisation.name))
        .join(Organisation, col(Organisation.id) == col(Programme.organisation_id))
        .where(col(Programme.id).in_(_IDS))
    )
    for chunk in _chunks(sorted(set(programme_ids))):
        rows = tx.session.execute(statement, {"ids": chunk})
        found.update({ident: name for ident, name in rows})
    return found


def missed_rows(tx: Tx, since: datetime, ids: Collection[int]) -> list[OutboxMessage]:
    """Outbox rows in state ``missed`` due on ``since`` or later, or with one of ``ids``, by
    id. Sorted here: asked for ``ORDER BY id``, SQLite scans the whole outbox instead of
    searching its (state, due_at) index."""
    missed = col(OutboxMessage.state) == _MISSED
    recent = select(OutboxMessage).where(missed, col(OutboxMessage.due_at) >= since)
    found: dict[int, OutboxMessage] = {}
    for row in tx.session.scalars(recent):
        found[row.id or 0] = row
    flagged = select(OutboxMessage).where(missed, col(OutboxMessage.id).in_(_IDS))
    for chunk in _chunks(sorted(set(ids) - found.keys())):
        for row in tx.session.scalars(flagged, {"ids": chunk}):
            found[row.id or 0] = row
    return [found[ident] for ident in sorted(found)]


def missed_events(tx: Tx, since: datetime) -> list[Event]:
    """The ``missed`` events since ``since``, by id."""
    statement = (
        select(Event)
        .where(col(Event.event) == _MISSED, col(Event.at) >= since)
        .order_by(col(Event.id))
    )
    return list(tx.session.scalars(statement))


_MISSED = "missed"  # the outbox state, and the event that records it


class _Text:
    """Dates and times as SQLite stores them, parsed with ``fromisoformat``; on other
    databases the column types' own values."""

    def __init__(self, tx: Tx) -> None:
        self.raw = tx.backend.text_datetimes

    def column(self, column: Any) -> ColumnElement[Any]:
        return type_coerce(column, String) if self.raw else column

    def date(self, value: Any) -> date:
        found: date = _day(value) if self.raw else value
        return found

    def converters(self) -> _Converters:
        """(date, moment) as functions of a value that is not None: for many rows, without a
        method call each."""
        if self.raw:
            return _day, _utc
        return _same, _in_utc

    def moment(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if self.raw:  # stored naive, in UTC (engine.store.types.UTCDateTime)
            return _utc(value)
        moment: datetime = value
        return moment.astimezone(UTC)


# The same few hundred dates recur across tens of thousands of milestone rows (a task's
# window opens on a Monday and closes on a Friday of the programme's weeks), and so do the
# meetings' times: each is parsed once. Dates and datetimes are immutable, so sharing them
# is safe.
@lru_cache(maxsize=8192)
def _day(value: str) -> date:
    return date.fromisoformat(value)


@lru_cache(maxsize=8192)
def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _same(value: Any) -> Any:
    return value


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _chunks(ids: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(ids), _IN_LIST):
        yield list(ids[start : start + _IN_LIST])
