"""Programmes and their milestones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select

from engine.backends.abc import slices
from engine.domain.errors import InvalidInputError, NotFoundError
from engine.domain.i18n import _
from engine.domain.model import MilestoneKind, MilestoneState, ProgrammeState
from engine.store.base import Repository, table_of
from engine.store.tables import Milestone, Organisation, Programme

CLOSED_MILESTONE = (MilestoneState.CANCELLED.value, MilestoneState.SKIPPED.value)
LIVE_PROGRAMME = tuple(
    s.value for s in (ProgrammeState.PLANNED, ProgrammeState.RUNNING, ProgrammeState.PAUSED)
)

QUEUEING_PROGRAMME = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value)
FINISHED_MILESTONE = (*CLOSED_MILESTONE, MilestoneState.DONE.value)


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime


class Programmes(Repository):
    """``tx.programmes``: programmes and milestones."""

    def add(self, programme: Programme) -> Programme:
        added: Programme = self.unit.save(programme)
        return added

    def get(self, programme_id: int, *, for_update: bool = False) -> Programme:
        """The programme; ``for_update`` locks its row against concurrent commands."""
        if not for_update:
            found: Programme = self.unit.get(Programme, programme_id, "programme")
            return found
        statement = self.backend.for_update(select(Programme).where(Programme.id == programme_id))
        locked = self.session.exec(statement).first()
        if locked is None:
            raise NotFoundError("programme", programme_id)
        return locked

    def find(
        self, *, states: Sequence[str] | None = None, consultant_id: int | None = None
    ) -> list[Programme]:
        statement = select(Programme).order_by(col(Programme.id))
        if states:
            statement = statement.where(col(Programme.state).in_(states))
        if consultant_id is not None:
            statement = statement.where(Programme.consultant_id == consultant_id)
        return list(self.session.exec(statement))

    def with_person(self, person_id: int) -> list[int]:
        """The ids of the programmes whose consultant or tovholder the person is."""
        statement = select(Programme.id).where(
            or_(col(Programme.consultant_id) == person_id, col(Programme.tovholder_id) == person_id)
        )
        return sorted(i for i in self.session.exec(statement) if i is not None)

    def add_milestones(self, milestones: Iterable[Milestone]) -> list[Milestone]:
        rows = list(milestones)
        self.unit.touch()
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
            names = _(" or ").join(f"{m.workflow}.{m.key}" for m in candidates)
            raise InvalidInputError(
                _("milestone {name!r} is ambiguous in programme {id}: use {names}").format(
                    name=key, id=programme_id, names=names
                )
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
                col(Programme.state).in_(LIVE_PROGRAMME),
                Milestone.kind == MilestoneKind.MEETING.value,
                col(Milestone.start_at).is_not(None),
                col(Milestone.state).not_in(CLOSED_MILESTONE),
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
                col(Programme.state).in_(LIVE_PROGRAMME),
            )
        )
        return [(m, p) for m, p in self.session.exec(statement)]

    def timed_due(self, until: datetime) -> list[int]:
        """The programmes with timed mail left to queue before ``until`` (``timed_from``):
        those running or planned, for their milestones not done, skipped or cancelled. A
        paused programme's mail is queued again when it resumes."""
        statement = (
            select(Milestone.programme_id)
            .join(Programme, col(Programme.id) == Milestone.programme_id)
            .where(
                col(Milestone.timed_from) < until,
                col(Programme.state).in_(QUEUEING_PROGRAMME),
                col(Milestone.state).not_in(FINISHED_MILESTONE),
            )
            .distinct()
        )
        return sorted(self.session.exec(statement))

    def checkins_due(self, until: datetime) -> list[int]:
        """The programmes with check-in mail left to queue before ``until``
        (``checkins_from``): any not cancelled, for check-ins follow the end."""
        statement = select(Programme.id).where(
            col(Programme.checkins_from) < until,
            col(Programme.state) != ProgrammeState.CANCELLED.value,
        )
        return sorted(i for i in self.session.exec(statement) if i is not None)

    # ----- bulk writes (creating many programmes at once) ---------------------------------
    #
    # These take plain dicts keyed by column name and write them with one executemany per
    # table: no ORM objects, no flush per row. Ids are allocated up front (``new_ids``), so
    # rows that refer to each other can be built before anything is inserted.

    def workflows_of_organisations(self, names: Sequence[str]) -> dict[str, set[str]]:
        """Per organisation name, the workflows of its live or completed programmes
        (extensions included): an agreement that a workflow's ``requires`` can rest on."""
        states = (*LIVE_PROGRAMME, ProgrammeState.COMPLETED.value)
        programmes = table_of(Programme)
        organisations = table_of(Organisation)
        found: dict[str, set[str]] = {}
        for part in slices(list(dict.fromkeys(names))):
            statement = (
                select(organisations.c.name, programmes.c.workflow, programmes.c.extensions)
                .join(programmes, programmes.c.organisation_id == organisations.c.id)
                .where(organisations.c.name.in_(part), programmes.c.state.in_(states))
            )
            for name, workflow, extensions in self.session.connection().execute(statement):
                found.setdefault(name, set()).update((workflow, *extensions))
        return found

    def busy_of_consultants(
        self, consultant_ids: Iterable[int], start: datetime, end: datetime
    ) -> dict[int, list[Busy]]:
        """:meth:`consultant_busy` for many consultants, limited to meetings that overlap
        [start, end): the only ones a plan inside that span can collide with."""
        found: dict[int, list[Busy]] = {}
        for part in slices(sorted(set(consultant_ids))):
            statement = (
                select(Programme.consultant_id, Milestone.start_at, Milestone.end_at)
                .join(Programme, col(Programme.id) == Milestone.programme_id)
                .where(
                    col(Programme.consultant_id).in_(part),
                    col(Programme.state).in_(LIVE_PROGRAMME),
                    Milestone.kind == MilestoneKind.MEETING.value,
                    col(Milestone.start_at) < end,
                    col(Milestone.end_at) > start,
                    col(Milestone.state).not_in(CLOSED_MILESTONE),
                )
                .order_by(col(Milestone.id))
            )
            for consultant_id, begin, finish in self.session.exec(statement):
                if begin and finish:
                    found.setdefault(consultant_id, []).append(Busy(begin, finish))
        return found

    def new_ids(self, count: int) -> list[int]:
        """Reserve ``count`` programme ids, in ascending order."""
        return self.backend.new_ids(self.session.connection(), table_of(Programme), count)

    def new_milestone_ids(self, count: int) -> list[int]:
        return self.backend.new_ids(self.session.connection(), table_of(Milestone), count)

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self.unit.insert_many(table_of(Programme), rows)

    def add_milestone_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self.unit.insert_many(table_of(Milestone), rows)
