"""The store: every SQL query fbh makes, behind transactions.

``Store.transaction()`` yields a ``Tx`` whose methods read and write rows; it commits when the
block ends and rolls back on any error, so a failed command leaves nothing half-written.
Driver errors are translated into ``StoreError`` here, with the cause attached.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from engine.domain.errors import InvalidInputError, NotFoundError, StoreError
from engine.domain.model import (
    Contact,
    MilestoneKind,
    MilestoneState,
    OutboxDraft,
    OutboxState,
    ProgrammeState,
)
from engine.store.bulk import BulkInsert
from engine.store.database import create_db_engine, migrate, redact
from engine.store.tables import (
    Event,
    Invite,
    Milestone,
    Organisation,
    OutboxMessage,
    Person,
    Programme,
    Request,
    TimeEntry,
)

log = logging.getLogger(__name__)

__all__ = [
    "Event",
    "Invite",
    "Milestone",
    "Organisation",
    "OrganisationRef",
    "OutboxMessage",
    "Person",
    "PersonRef",
    "Programme",
    "Request",
    "Store",
    "TimeEntry",
    "Tx",
]

NOTIFY_CHANNEL = "fbh"  # PostgreSQL channel of committed changes to the schedule
# SQLite has no NOTIFY: a transaction that changes the schedule bumps this header field
# instead, which ``fbh serve`` polls (engine.backends.watch). Unlike ``PRAGMA data_version`` it does
# not move on the daemon's own heartbeats and claims.
CHANGE_COUNTER_PRAGMA = "user_version"
_CLOSED_MILESTONE = (MilestoneState.CANCELLED.value, MilestoneState.SKIPPED.value)
_LIVE_PROGRAMME = tuple(
    s.value for s in (ProgrammeState.PLANNED, ProgrammeState.RUNNING, ProgrammeState.PAUSED)
)


_IN_LIST = 500  # values per IN (…) list and rows per multi-row statement
_BULK_SLICE = 5000  # rows per executemany in bulk inserts


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OrganisationRef:
    """An organisation's id and stored name, without the cost of an ORM object."""

    id: int
    name: str


@dataclass(frozen=True)
class PersonRef:
    """A person's id, stored name and address, without the cost of an ORM object."""

    id: int
    name: str
    email: str


class Store:
    """Owns the database engine. Open with ``Store.open(url)``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True, **engine_kwargs: Any) -> Store:
        engine = create_db_engine(url, **engine_kwargs)
        try:
            with engine.connect():
                pass
            if run_migrations:
                migrate(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot connect to database {redact(url)}: {_reason(exc)}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        session = Session(self.engine, expire_on_commit=False)
        try:
            tx = Tx(session)
            yield tx
            if tx.changed and self.dialect == "postgresql":
                # Wakes every ``fbh serve`` (LISTEN fbh); delivered only if this commits.
                session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            elif tx.changed:
                bump_change_counter(session)  # SQLite's NOTIFY: ``fbh serve`` polls it
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"database error: {_reason(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _outbox_row(draft: OutboxDraft, now: datetime) -> dict[str, Any]:
    return {
        "dedupe_key": draft.dedupe_key,
        "kind": draft.kind,
        "programme_id": draft.programme_id,
        "milestone_id": draft.milestone_id,
        "recipient": draft.recipient,
        "payload": draft.payload,
        "state": OutboxState.PENDING.value,
        "due_at": draft.due_at,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": draft.due_at,
        "message_id": draft.message_id,
    }


def _table(model: Any) -> Table:
    """The Core table of a SQLModel class (for bulk statements)."""
    table: Table = model.__table__
    return table


def _slices(items: Sequence[Any], size: int = _IN_LIST) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bump_change_counter(session: Session) -> None:
    """SQLite: count this transaction as a change to the schedule (see CHANGE_COUNTER_PRAGMA).
    The write lock is held (``BEGIN IMMEDIATE``), so read-then-write cannot race."""
    value = session.execute(text(f"PRAGMA {CHANGE_COUNTER_PRAGMA}")).scalar_one()
    session.execute(text(f"PRAGMA {CHANGE_COUNTER_PRAGMA} = {(int(value) + 1) % 2**31}"))


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    message = str(original if original is not None else exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


class Tx:
    """One unit of work on the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.changed = False  # set by writes the daemons must hear about (see NOTIFY_CHANNEL)

    def touch(self) -> None:
        """Mark this transaction as one that changes what the daemons schedule."""
        self.changed = True

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name

    # ----- organisations and people -------------------------------------------------------

    def find_organisation(self, name: str) -> Organisation | None:
        return self.session.exec(select(Organisation).where(Organisation.name == name)).first()

    def person(self, contact: Contact, now: datetime) -> Person:
        found = self.person_by_email(contact.email)
        if found is not None:
            return found
        return self._add(Person(name=contact.name, email=contact.email, created_at=now))

    def person_by_email(self, email: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.email == email.lower())).first()

    def get_person(self, person_id: int) -> Person:
        return self._get(Person, person_id, "person")

    def get_organisation(self, organisation_id: int) -> Organisation:
        return self._get(Organisation, organisation_id, "organisation")

    # ----- programmes and milestones ------------------------------------------------------

    def add_programme(self, programme: Programme) -> Programme:
        return self._add(programme)

    def get_programme(self, programme_id: int, *, for_update: bool = False) -> Programme:
        if for_update and self.dialect == "postgresql":
            statement = select(Programme).where(Programme.id == programme_id).with_for_update()
            found = self.session.exec(statement).first()
            if found is None:
                raise NotFoundError("programme", programme_id)
            return found
        return self._get(Programme, programme_id, "programme")

    def list_programmes(
        self, *, states: Sequence[str] | None = None, consultant_id: int | None = None
    ) -> list[Programme]:
        statement = select(Programme).order_by(col(Programme.id))
        if states:
            statement = statement.where(col(Programme.state).in_(states))
        if consultant_id is not None:
            statement = statement.where(Programme.consultant_id == consultant_id)
        return list(self.session.exec(statement))

    def add_milestones(self, milestones: Iterable[Milestone]) -> list[Milestone]:
        rows = list(milestones)
        self.touch()
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def milestones(self, programme_id: int) -> list[Milestone]:
        statement = (
            select(Milestone)
            .where(Milestone.programme_id == programme_id)
            .order_by(col(Milestone.position), col(Milestone.id))
        )
        return list(self.session.exec(statement))

    def milestone(self, programme_id: int, key: str, workflow: str | None = None) -> Milestone:
        """The milestone ``key``; ``workflow`` may be omitted when the key is unambiguous."""
        candidates = [m for m in self.milestones(programme_id) if m.key == key]
        if workflow is not None:
            candidates = [m for m in candidates if m.workflow == workflow]
        if not candidates:
            raise NotFoundError("milestone", f"{programme_id}/{key}")
        if len(candidates) > 1:
            names = " or ".join(f"{m.workflow}.{m.key}" for m in candidates)
            raise InvalidInputError(
                f"milestone {key!r} is ambiguous in programme {programme_id}: use {names}"
            )
        return candidates[0]

    def consultant_busy(
        self, consultant_id: int, *, exclude_programme: int | None = None
    ) -> list[Busy]:
        """Every meeting of the consultant in live programmes, as busy slots."""
        statement = (
            select(Milestone.start_at, Milestone.end_at)
            .join(Programme, col(Programme.id) == Milestone.programme_id)
            .where(
                Programme.consultant_id == consultant_id,
                col(Programme.state).in_(_LIVE_PROGRAMME),
                Milestone.kind == MilestoneKind.MEETING.value,
                col(Milestone.start_at).is_not(None),
                col(Milestone.state).not_in(_CLOSED_MILESTONE),
            )
        )
        if exclude_programme is not None:
            statement = statement.where(Milestone.programme_id != exclude_programme)
        return [Busy(start, end) for start, end in self.session.exec(statement) if start and end]

    def meetings_between(self, start: datetime, end: datetime) -> list[tuple[Milestone, Programme]]:
        statement = (
            select(Milestone, Programme)
            .join(Programme, col(Programme.id) == Milestone.programme_id)
            .where(
                Milestone.kind == MilestoneKind.MEETING.value,
                col(Milestone.start_at) >= start,
                col(Milestone.start_at) < end,
                col(Programme.state).in_(_LIVE_PROGRAMME),
            )
        )
        return [(m, p) for m, p in self.session.exec(statement)]

    # ----- events -------------------------------------------------------------------------

    def add_event(
        self,
        *,
        at: datetime,
        actor: str,
        entity: str,
        event: str,
        entity_id: int | None = None,
        programme_id: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        return self._add(
            Event(
                at=at,
                actor=actor,
                entity=entity,
                entity_id=entity_id,
                programme_id=programme_id,
                event=event,
                from_state=from_state,
                to_state=to_state,
                data=data or {},
            )
        )

    def events(self, *, programme_id: int | None = None, event: str | None = None) -> list[Event]:
        statement = select(Event).order_by(col(Event.id))
        if programme_id is not None:
            statement = statement.where(Event.programme_id == programme_id)
        if event is not None:
            statement = statement.where(Event.event == event)
        return list(self.session.exec(statement))

    # ----- outbox -------------------------------------------------------------------------

    def enqueue(self, drafts: Iterable[OutboxDraft], now: datetime) -> int:
        """Queue messages; a dedupe key already queued is skipped. Returns how many were new."""
        rows = [_outbox_row(d, now) for d in drafts]
        if not rows:
            return 0
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(OutboxMessage)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(OutboxMessage.id))
        )
        connection = self.session.connection()
        inserted = 0
        for part in _slices(rows):
            inserted += len(connection.execute(statement, part).all())
        if inserted:
            self.touch()
        return inserted

    def cancel_pending(
        self,
        programme_id: int,
        *,
        kinds: Sequence[str] | None = None,
        milestone_id: int | None = None,
    ) -> int:
        """Cancel queued, unsent messages of a programme (optionally of one milestone/kind)."""
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.programme_id) == programme_id,
                col(OutboxMessage.state) == OutboxState.PENDING.value,
            )
            .values(state=OutboxState.CANCELLED.value)
        )
        if kinds:
            statement = statement.where(col(OutboxMessage.kind).in_(kinds))
        if milestone_id is not None:
            statement = statement.where(col(OutboxMessage.milestone_id) == milestone_id)
        self.touch()
        result = self.session.execute(statement)
        return max(result.rowcount, 0)  # type: ignore[attr-defined]

    def outbox(
        self, *, states: Sequence[str] | None = None, programme_id: int | None = None
    ) -> list[OutboxMessage]:
        statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if states:
            statement = statement.where(col(OutboxMessage.state).in_(states))
        if programme_id is not None:
            statement = statement.where(OutboxMessage.programme_id == programme_id)
        return list(self.session.exec(statement))

    def outbox_counts(self) -> dict[str, int]:
        statement = select(OutboxMessage.state, func.count()).group_by(col(OutboxMessage.state))
        return {state: count for state, count in self.session.exec(statement)}

    def next_due(self) -> datetime | None:
        statement = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.state == OutboxState.PENDING.value
        )
        return self.session.exec(statement).first()

    def claim_due(self, now: datetime, worker: str, limit: int) -> list[OutboxMessage]:
        """Atomically move up to ``limit`` due pending rows to ``sending`` for ``worker``.

        The conditional UPDATE is the fence: a row another worker claimed first is not
        ``pending`` any more and cannot be claimed twice.
        """
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.state == OutboxState.PENDING.value,
                col(OutboxMessage.next_attempt_at) <= now,
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(self.session.exec(due))
        if not ids:
            return []
        pending = OutboxState.PENDING.value
        fence: ColumnElement[bool] = col(OutboxMessage.state) == pending
        if self.dialect == "sqlite":
            # ``state || ''``: the same test, but SQLite cannot answer it from an index, so it
            # looks the ids up by primary key instead of walking every pending row of the
            # state index (24 ms a batch with 100k pending rows; bench/lateness.py).
            fence = col(OutboxMessage.state).concat("") == pending
        statement = (
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids), fence)
            .values(
                state=OutboxState.SENDING.value,
                claimed_at=now,
                claimed_by=worker,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(col(OutboxMessage.id))
            .execution_options(synchronize_session=False)  # the rows are re-read below
        )
        claimed = [row[0] for row in self.session.execute(statement)]
        if not claimed:
            return []
        rows = select(OutboxMessage).where(col(OutboxMessage.id).in_(claimed))
        return list(
            self.session.exec(
                rows.order_by(col(OutboxMessage.id)).execution_options(populate_existing=True)
            )
        )

    def finish_claim(
        self,
        message_id: int,
        worker: str,
        *,
        state: OutboxState,
        now: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record the outcome of a claimed send; False if the claim was lost meanwhile."""
        values: dict[str, Any] = {"state": state.value, "last_error": error}
        if state is OutboxState.SENT:
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message_id,
                col(OutboxMessage.state) == OutboxState.SENDING.value,
                col(OutboxMessage.claimed_by) == worker,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def finish_sent(self, message_ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Record many claimed sends as ``sent`` at once (one statement per 500 rows, where
        :meth:`finish_claim` takes one per row); returns the ids whose claim was still
        ``worker``'s. The others were lost meanwhile and are left alone."""
        kept: set[int] = set()
        for chunk in _slices(list(message_ids)):
            statement = (
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_(chunk),
                    col(OutboxMessage.state) == OutboxState.SENDING.value,
                    col(OutboxMessage.claimed_by) == worker,
                )
                .values(state=OutboxState.SENT.value, last_error=None, sent_at=now)
                .returning(col(OutboxMessage.id))
            )
            # Core, not the ORM's bulk UPDATE: no session objects to synchronise.
            kept.update(ident for (ident,) in self.session.connection().execute(statement) if ident)
        return kept

    def release_stuck(self, now: datetime, older_than: timedelta) -> list[OutboxMessage]:
        """Return rows stuck in ``sending`` (their worker died) to ``pending``."""
        cutoff = now - older_than
        stuck = list(
            self.session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.state == OutboxState.SENDING.value,
                    or_(
                        col(OutboxMessage.claimed_at).is_(None),
                        col(OutboxMessage.claimed_at) < cutoff,
                    ),
                )
            )
        )
        for row in stuck:
            row.state = OutboxState.PENDING.value
            row.next_attempt_at = now
            row.last_error = f"reclaimed after worker {row.claimed_by} stopped"
            self.session.add(row)
        self.session.flush()
        return stuck

    def release_claims(self, worker: str, now: datetime) -> int:
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.state) == OutboxState.SENDING.value,
                col(OutboxMessage.claimed_by) == worker,
            )
            .values(state=OutboxState.PENDING.value, next_attempt_at=now)
        )
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]

    # ----- invite ledger ------------------------------------------------------------------

    def delivered_invites(self, milestone_id: int) -> set[str]:
        """Recipients whose invite for the milestone left (or may have left) the outbox."""
        statement = select(OutboxMessage.recipient).where(
            OutboxMessage.milestone_id == milestone_id,
            OutboxMessage.kind == "invite",
            col(OutboxMessage.state).in_(
                [OutboxState.SENT.value, OutboxState.SENDING.value, OutboxState.FAILED.value]
            ),
        )
        return set(self.session.exec(statement))

    def lock_person(self, person_id: int) -> None:
        """Serialise planning for one consultant (PostgreSQL; SQLite writers are serial)."""
        if self.dialect == "postgresql":
            self.session.exec(select(Person.id).where(Person.id == person_id).with_for_update())

    def invites(self, milestone_id: int) -> list[Invite]:
        statement = (
            select(Invite).where(Invite.milestone_id == milestone_id).order_by(col(Invite.id))
        )
        return list(self.session.exec(statement))

    def record_invite(
        self,
        *,
        programme_id: int,
        milestone_id: int,
        recipient: str,
        uid: str,
        sequence: int,
        method: str,
        now: datetime,
    ) -> Invite:
        found = self.session.exec(
            select(Invite).where(Invite.milestone_id == milestone_id, Invite.recipient == recipient)
        ).first()
        row = found or Invite(
            programme_id=programme_id,
            milestone_id=milestone_id,
            recipient=recipient,
            uid=uid,
            sequence=sequence,
            method=method,
            updated_at=now,
        )
        row.uid, row.sequence, row.method, row.updated_at = uid, sequence, method, now
        return self._add(row)

    # ----- bulk writes (creating many programmes at once) ---------------------------------
    #
    # These take plain dicts keyed by column name and write them with one executemany per
    # table: no ORM objects, no flush per row. Ids are allocated up front (``new_ids``), so
    # rows that refer to each other can be built before anything is inserted.

    def organisations_named(
        self, names: Sequence[str], now: datetime
    ) -> dict[str, OrganisationRef]:
        """Get or create the organisations ``names``; new ones are added in the order given."""
        table = _table(Organisation)
        wanted = list(dict.fromkeys(names))
        found: dict[str, OrganisationRef] = {}
        for part in _slices(wanted):
            statement = select(table.c.id, table.c.name).where(table.c.name.in_(part))
            for ident, name in self.session.connection().execute(statement):
                found[name] = OrganisationRef(ident, name)
        missing = [name for name in wanted if name not in found]
        ids = self.new_ids(table, len(missing))
        created = [OrganisationRef(i, name) for i, name in zip(ids, missing, strict=True)]
        self._insert_many(table, [{"id": o.id, "name": o.name, "created_at": now} for o in created])
        found.update((o.name, o) for o in created)
        return found

    def people_for(self, contacts: Sequence[Contact], now: datetime) -> dict[str, PersonRef]:
        """Get or create the people ``contacts``, keyed by lower-case address (as
        :meth:`person`): an existing person keeps their stored name."""
        table = _table(Person)
        wanted: dict[str, Contact] = {}
        for contact in contacts:
            wanted.setdefault(contact.email.lower(), contact)
        found: dict[str, PersonRef] = {}
        for part in _slices(list(wanted)):
            statement = select(table.c.id, table.c.name, table.c.email).where(
                table.c.email.in_(part)
            )
            for ident, name, email in self.session.connection().execute(statement):
                found[email] = PersonRef(ident, name, email)
        missing = [(key, contact) for key, contact in wanted.items() if key not in found]
        ids = self.new_ids(table, len(missing))
        rows = []
        for ident, (key, contact) in zip(ids, missing, strict=True):
            found[key] = PersonRef(ident, contact.name, contact.email)
            rows.append(
                {"id": ident, "name": contact.name, "email": contact.email, "created_at": now}
            )
        self._insert_many(table, rows)
        return found

    def workflows_of_organisations(self, names: Sequence[str]) -> dict[str, set[str]]:
        """Per organisation name, the workflows of its live or completed programmes
        (extensions included): an agreement that a workflow's ``requires`` can rest on."""
        states = (*_LIVE_PROGRAMME, ProgrammeState.COMPLETED.value)
        programmes = _table(Programme)
        organisations = _table(Organisation)
        found: dict[str, set[str]] = {}
        for part in _slices(list(dict.fromkeys(names))):
            statement = (
                select(organisations.c.name, programmes.c.workflow, programmes.c.extensions)
                .join(programmes, programmes.c.organisation_id == organisations.c.id)
                .where(organisations.c.name.in_(part), programmes.c.state.in_(states))
            )
            for name, workflow, extensions in self.session.connection().execute(statement):
                found.setdefault(name, set()).update((workflow, *extensions))
        return found

    def lock_people(self, person_ids: Iterable[int]) -> None:
        """:meth:`lock_person` for many, in id order (so two batches cannot deadlock)."""
        if self.dialect != "postgresql":
            return
        for part in _slices(sorted(set(person_ids))):
            statement = select(Person.id).where(col(Person.id).in_(part)).order_by(col(Person.id))
            self.session.exec(statement.with_for_update()).all()

    def busy_of_consultants(
        self, consultant_ids: Iterable[int], start: datetime, end: datetime
    ) -> dict[int, list[Busy]]:
        """:meth:`consultant_busy` for many consultants, limited to meetings that overlap
        [start, end): the only ones a plan inside that span can collide with."""
        found: dict[int, list[Busy]] = {}
        for part in _slices(sorted(set(consultant_ids))):
            statement = (
                select(Programme.consultant_id, Milestone.start_at, Milestone.end_at)
                .join(Programme, col(Programme.id) == Milestone.programme_id)
                .where(
                    col(Programme.consultant_id).in_(part),
                    col(Programme.state).in_(_LIVE_PROGRAMME),
                    Milestone.kind == MilestoneKind.MEETING.value,
                    col(Milestone.start_at) < end,
                    col(Milestone.end_at) > start,
                    col(Milestone.state).not_in(_CLOSED_MILESTONE),
                )
                .order_by(col(Milestone.id))
            )
            for consultant_id, begin, finish in self.session.exec(statement):
                if begin and finish:
                    found.setdefault(consultant_id, []).append(Busy(begin, finish))
        return found

    def new_ids(self, table: Table, count: int) -> list[int]:
        """Reserve ``count`` ids for ``table``, in ascending order.

        PostgreSQL draws them from the table's sequence. On SQLite this transaction holds the
        write lock from its first statement (``BEGIN IMMEDIATE``), so the next ids are the ones
        SQLite itself would give: one past the largest.
        """
        if count <= 0:
            return []
        connection = self.session.connection()
        if self.dialect == "postgresql":
            sequence = func.pg_get_serial_sequence(table.name, "id")
            statement = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
            return sorted(connection.execute(statement).scalars())
        largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
        return list(range(largest + 1, largest + 1 + count))

    def new_programme_ids(self, count: int) -> list[int]:
        return self.new_ids(_table(Programme), count)

    def new_milestone_ids(self, count: int) -> list[int]:
        return self.new_ids(_table(Milestone), count)

    def add_programme_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many(_table(Programme), rows)

    def add_milestone_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many(_table(Milestone), rows)

    def add_event_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many(_table(Event), rows)

    def add_invite_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """New rows of the invite ledger (for milestones that have none yet)."""
        self._insert_many(_table(Invite), rows)

    def enqueue_many(self, drafts: Iterable[OutboxDraft], now: datetime) -> None:
        """:meth:`enqueue` without counting what was new (no RETURNING): for bulk writes."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(OutboxMessage).on_conflict_do_nothing(
            index_elements=["dedupe_key"]
        )
        self._insert_many(
            _table(OutboxMessage), [_outbox_row(d, now) for d in drafts], statement=statement
        )

    def _insert_many(
        self, table: Table, rows: Sequence[dict[str, Any]], *, statement: Insert | None = None
    ) -> None:
        """Insert ``rows`` (dicts with the same keys), a slice per statement.

        SQLite gets one driver-level executemany per slice (:mod:`engine.store.bulk`): its
        driver steps a prepared statement per row, so what costs is building the parameters.
        PostgreSQL keeps SQLAlchemy's executemany (psycopg pipelines it).
        """
        if not rows:
            return
        self.touch()
        connection = self.session.connection()
        statement = statement if statement is not None else insert(table)
        if self.dialect == "postgresql":
            for part in _slices(rows, _BULK_SLICE):
                connection.execute(statement, part)
            return
        bulk = BulkInsert.compile(statement, table, list(rows[0]), connection.dialect)
        for part in _slices(rows, _BULK_SLICE):
            connection.exec_driver_sql(bulk.sql, bulk.parameters(part))

    # ----- requests and time --------------------------------------------------------------

    def add_request(self, request: Request) -> Request:
        return self._add(request)

    def get_request(self, request_id: int) -> Request:
        return self._get(Request, request_id, "request")

    def list_requests(self, *, states: Sequence[str] | None = None) -> list[Request]:
        statement = select(Request).order_by(col(Request.deadline), col(Request.id))
        if states:
            statement = statement.where(col(Request.state).in_(states))
        return list(self.session.exec(statement))

    def add_time_entry(self, entry: TimeEntry) -> TimeEntry:
        return self._add(entry)

    def get_time_entry(self, entry_id: int) -> TimeEntry:
        return self._get(TimeEntry, entry_id, "time entry")

    def delete(self, row: Any) -> None:
        self.session.delete(row)
        self.session.flush()

    def time_entries(self, programme_id: int) -> list[TimeEntry]:
        statement = (
            select(TimeEntry)
            .where(TimeEntry.programme_id == programme_id)
            .order_by(col(TimeEntry.work_date), col(TimeEntry.id))
        )
        return list(self.session.exec(statement))

    def hours_on(self, person_id: int, day: date, *, exclude_entry: int | None = None) -> float:
        statement = select(func.coalesce(func.sum(TimeEntry.hours), 0.0)).where(
            TimeEntry.person_id == person_id, TimeEntry.work_date == day
        )
        if exclude_entry is not None:
            statement = statement.where(TimeEntry.id != exclude_entry)
        return float(self.session.exec(statement).one())

    # ----- helpers ------------------------------------------------------------------------

    def save(self, row: Any) -> Any:
        return self._add(row)

    def _add(self, row: Any) -> Any:
        self.touch()
        self.session.add(row)
        self.session.flush()
        return row

    def _get(self, table: Any, ident: int, what: str) -> Any:
        found = self.session.get(table, ident)
        if found is None:
            raise NotFoundError(what, ident)
        return found
