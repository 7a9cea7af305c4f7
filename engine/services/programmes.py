"""The application service: every command fbh runs, each in one transaction.

A command reads the store, plans with the pure planner, fires the state machines, writes the
event log and queues mail in the outbox, all in the same transaction: either everything
happens or nothing does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, partial
from typing import Any
from zoneinfo import ZoneInfo

from engine.config.settings import Settings
from engine.domain import timeline
from engine.domain.definitions import WorkflowRegistry, load_registry, parse_definition
from engine.domain.errors import (
    ConflictError,
    FbhError,
    InvalidInputError,
    PrerequisiteError,
)
from engine.domain.gcpause import paused_gc
from engine.domain.model import (
    Contact,
    MilestoneKind,
    MilestoneState,
    OutboxDraft,
    ProgrammeState,
    RequestState,
    Role,
)
from engine.domain.planning import BusySlot, Plan, PlannedMilestone, plan_programme
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import DateChange, MilestoneView, ProgrammeView, RequestView
from engine.domain.workdays import WorkingCalendar, week_friday, week_monday
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.request_sla import queue_sla
from engine.store import daemons as daemon_store
from engine.store.store import (
    Milestone,
    OrganisationRef,
    PersonRef,
    Programme,
    Request,
    Store,
    Tx,
)
from notifications import compose
from notifications.compose import MeetingFacts, ProgrammeFacts

log = logging.getLogger(__name__)

REQUEST = "REQUEST"
CANCEL = "CANCEL"
_TIMED_KINDS = ("reminder", "task_due")
DEFAULT_ANSWER_DAYS = 14
CHUNK_SIZE = 500  # programmes per transaction in create_programmes


@dataclass(frozen=True)
class NewProgramme:
    workflow: str
    organisation: str
    municipality: str
    consultant: Contact
    tovholder: Contact
    start: date
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class MoveResult:
    programme_id: int
    old_start: date
    new_start: date
    changes: tuple[DateChange, ...]
    applied: bool


@dataclass
class _Loaded:
    """A programme with its definitions and milestones, inside one transaction."""

    programme: Programme
    base: WorkflowDefinition
    extensions: tuple[WorkflowDefinition, ...]
    milestones: list[Milestone]
    facts: ProgrammeFacts
    definitions: dict[str, WorkflowDefinition] = field(default_factory=dict)

    def definition_of(self, row: Milestone) -> MilestoneDef:
        return self.definitions[row.workflow].milestone(row.key)


@lru_cache(maxsize=256)
def _definition_from_snapshot(key: str, text: str) -> WorkflowDefinition:
    return parse_definition(text, f"snapshot:{key}")


@dataclass(frozen=True)
class Planner:
    """Plans timelines from the current definitions; needs no database."""

    registry: WorkflowRegistry
    calendar: WorkingCalendar
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings, registry: WorkflowRegistry | None = None) -> Planner:
        return cls(
            registry=registry or load_registry(settings.workflows_dir),
            calendar=WorkingCalendar.danish(settings.engine.exclude_optional_days),
            tz=settings.tz,
        )

    def plan(self, workflow: str, start: date, extensions: Sequence[str] = ()) -> Plan:
        base, exts = self.resolve(workflow, extensions)
        return plan_programme(base, start, self.calendar, extensions=exts, tz=self.tz)

    def resolve(
        self, workflow: str, extensions: Sequence[str]
    ) -> tuple[WorkflowDefinition, tuple[WorkflowDefinition, ...]]:
        base = self.registry.get(workflow)
        exts = tuple(self.registry.get(key) for key in dict.fromkeys(extensions))
        for ext in exts:
            if ext.extends is None or ext.extends.workflow != base.key:
                raise InvalidInputError(f"workflow {ext.key!r} cannot extend {base.key!r}")
        return base, exts


class Fbh:
    """fbh's commands over one store, one set of definitions and one calendar."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: WorkflowRegistry,
        *,
        actor: str = "cli",
    ) -> None:
        self.settings = settings
        self.store = store
        self.planner = Planner.from_settings(settings, registry)
        self.registry = registry
        self.actor = actor
        self.tz: ZoneInfo = settings.tz
        self.calendar = self.planner.calendar

    @classmethod
    def open(cls, settings: Settings, *, actor: str = "cli") -> Fbh:
        registry = load_registry(settings.workflows_dir)
        store = Store.open(settings.database_url)
        return cls(settings, store, registry, actor=actor)

    # ----- programmes ---------------------------------------------------------------------

    def create_programme(
        self,
        new: NewProgramme,
        now: datetime,
        *,
        on_created: Callable[[Tx, int], None] | None = None,
    ) -> ProgrammeView:
        """Create, plan and queue a programme: a batch of one (see :meth:`create_programmes`).
        ``on_created(tx, id)`` runs in the same transaction, so a caller can make more changes
        that stand or fall with it."""
        try:
            [programme_id] = self._create_batch([new], now, chunk_size=1, on_created=on_created)
        except BatchItemError as exc:
            raise exc.error from exc.error.__cause__
        return self.show(programme_id)

    def create_programmes(
        self, batch: Sequence[NewProgramme], now: datetime, *, chunk_size: int = CHUNK_SIZE
    ) -> list[int]:
        """Create, plan and queue many programmes, in order; returns their ids.

        Writes exactly the rows :meth:`create_programme` would write for each item in turn
        (an item's consultant is busy with the meetings of earlier items), with a few
        statements per table and chunk instead of a flush per row.

        What a failure leaves behind: first every item is checked, before anything is
        written (workflow and extensions, consultant and tovholder two people, and the
        agreement a workflow requires, which an earlier item may provide). Then each chunk of
        ``chunk_size`` items is planned and written in one transaction. An item that fails
        (e.g. no free day for its consultant) raises :class:`BatchItemError` with its index:
        its whole chunk is rolled back, the chunks before it stay committed (``committed``
        says how many programmes that is) and the items after it are not tried.
        """
        ids = self._create_batch(batch, now, chunk_size=chunk_size)
        log.info("created %d programmes (chunks of %d)", len(ids), chunk_size)
        return ids

    def _create_batch(
        self,
        batch: Sequence[NewProgramme],
        now: datetime,
        *,
        chunk_size: int,
        on_created: Callable[[Tx, int], None] | None = None,
    ) -> list[int]:
        if chunk_size < 1:
            raise InvalidInputError(f"chunk size must be at least 1, got {chunk_size}")
        items = [self._resolve_item(index, new) for index, new in enumerate(batch)]
        if len(items) > chunk_size:  # one chunk checks this itself before it writes
            with self.store.transaction() as tx:
                agreements = tx.workflows_of_organisations([i.organisation for i in items])
            _check_agreements(items, agreements, committed=0)
        shared = _Shared(self.settings, self._today(now))
        ids: list[int] = []
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            with paused_gc(), self.store.transaction() as tx:
                created = self._create_chunk(tx, chunk, now, shared, committed=len(ids))
                if on_created is not None:
                    for item, programme_id in zip(chunk, created, strict=True):
                        with _item_errors(item.index, len(ids)):
                            on_created(tx, programme_id)
            ids += created
            log.debug("programmes %d–%d created", start, start + len(chunk) - 1)
        return ids

    def _resolve_item(self, index: int, new: NewProgramme) -> _Item:
        with _item_errors(index, committed=0):
            base, exts = self.planner.resolve(new.workflow, new.extensions)
            if new.consultant.email == new.tovholder.email:
                raise InvalidInputError("the consultant and the tovholder must be two people")
        return _Item(index, new, new.organisation.strip(), base, exts)

    def _create_chunk(
        self, tx: Tx, chunk: Sequence[_Item], now: datetime, shared: _Shared, *, committed: int
    ) -> list[int]:
        """Plan and write ``chunk`` in ``tx``; nothing is written before every item planned."""
        names = [item.organisation for item in chunk]
        organisations = tx.organisations_named(names, now)
        _check_agreements(chunk, tx.workflows_of_organisations(names), committed)
        people = tx.people_for(
            [c for item in chunk for c in (item.new.consultant, item.new.tovholder)], now
        )
        consultants = [people[item.new.consultant.email.lower()] for item in chunk]
        plans = self._plan_chunk(tx, chunk, [c.id for c in consultants], committed)
        programme_ids = tx.new_programme_ids(len(chunk))
        milestone_ids = iter(tx.new_milestone_ids(sum(len(p.milestones) for p in plans)))
        rows = _NewRows()
        for item, plan, programme_id, consultant in zip(
            chunk, plans, programme_ids, consultants, strict=True
        ):
            parties = _Parties(
                organisations[item.organisation],
                consultant,
                people[item.new.tovholder.email.lower()],
            )
            ids = [next(milestone_ids) for _ in plan.milestones]
            self._add_new_programme(rows, item, plan, programme_id, ids, parties, now, shared)
        rows.write(tx, now)
        return programme_ids

    def _plan_chunk(
        self, tx: Tx, chunk: Sequence[_Item], consultant_ids: Sequence[int], committed: int
    ) -> list[Plan]:
        """Plan every item; a consultant's meetings in earlier items of the batch are busy."""
        tx.lock_people(consultant_ids)
        spans = [_busy_horizon(item) for item in chunk]
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        busy = {
            consultant: [BusySlot(b.start, b.end) for b in slots]
            for consultant, slots in tx.busy_of_consultants(consultant_ids, first, last).items()
        }
        plans = []
        for item, consultant in zip(chunk, consultant_ids, strict=True):
            slots = busy.setdefault(consultant, [])
            with _item_errors(item.index, committed):
                plan = plan_programme(
                    item.base,
                    item.new.start,
                    self.calendar,
                    extensions=item.extensions,
                    busy=slots,
                    tz=self.tz,
                )
            slots.extend(plan.busy_slots())
            plans.append(plan)
        return plans

    def _add_new_programme(
        self,
        rows: _NewRows,
        item: _Item,
        plan: Plan,
        programme_id: int,
        milestone_ids: Sequence[int],
        parties: _Parties,
        now: datetime,
        shared: _Shared,
    ) -> None:
        """Add one new programme's rows: as planned, with the events of its first transitions
        (create, schedule, start), its invites and ledger, reminders, notices and summary."""
        definitions = _snapshot_definitions(item.workflows)
        base = definitions[item.base.key]
        milestones = [
            _NewMilestone(ident, planned, definitions[planned.workflow].milestone(planned.key))
            for ident, planned in zip(milestone_ids, plan.milestones, strict=True)
        ]
        facts = self._new_facts(item, base, programme_id, parties, shared)
        planned_state = ProgrammeState.PLANNED
        starts = shared.today >= plan.start
        state = PROGRAMME.fire(planned_state, "start") if starts else planned_state
        rows.programmes.append(_programme_row(item, plan, programme_id, parties, state, now))
        event = partial(self._event_row, now, programme_id)
        data = {"version": item.base.version, "extensions": [e.key for e in item.extensions]}
        rows.events.append(event("create", None, planned_state.value, data=data))
        created = MilestoneState.PLANNED.value
        rows.events += [event("create", None, created, milestone=m) for m in milestones]
        for milestone in milestones:
            if milestone.is_future_meeting(now):
                self._add_first_invites(rows, facts, milestone, programme_id, now)
                milestone.state = MILESTONE.fire(MilestoneState.PLANNED, "schedule").value
                rows.events.append(event("schedule", created, milestone.state, milestone=milestone))
            rows.outbox += self._timed_drafts(
                facts, milestone.id, milestone.planned, milestone.definition, 0, now
            )
        pairs = [(m.planned, m.definition) for m in milestones]
        budget = shared.budget(base, self._budget_context)
        rows.outbox.append(compose.summary_draft(facts, pairs, budget=budget, now=now))
        if starts:
            rows.events.append(event("start", planned_state.value, state.value))
        rows.milestones += [
            m.row(programme_id, position, now) for position, m in enumerate(milestones)
        ]

    def _new_facts(
        self,
        item: _Item,
        base: WorkflowDefinition,
        programme_id: int,
        parties: _Parties,
        shared: _Shared,
    ) -> ProgrammeFacts:
        """What the mails of a new programme may mention (as :meth:`_load` reads it back)."""
        return ProgrammeFacts(
            id=programme_id,
            workflow_title=base.title,
            organisation=parties.organisation.name,
            municipality=item.new.municipality.strip(),
            consultant=Contact(parties.consultant.name, parties.consultant.email),
            tovholder=Contact(parties.tovholder.name, parties.tovholder.email),
            lead=shared.lead,
            revision=0,
            domain=shared.domain,
            organizer=shared.organizer,
        )

    def _add_first_invites(
        self,
        rows: _NewRows,
        facts: ProgrammeFacts,
        milestone: _NewMilestone,
        programme_id: int,
        now: datetime,
    ) -> None:
        recipients = self._attendees(facts, milestone.definition)
        meeting = MeetingFacts(milestone.id, milestone.planned, milestone.definition, 0)
        rows.outbox += compose.invite_drafts(
            facts, meeting, method=REQUEST, recipients=recipients, now=now, is_update=False
        )
        uid = compose.uid_for(facts, milestone.planned)
        rows.invites += [
            {
                "programme_id": programme_id,
                "milestone_id": milestone.id,
                "recipient": contact.email,
                "uid": uid,
                "sequence": 0,
                "method": REQUEST,
                "updated_at": now,
            }
            for contact, _role in recipients
        ]

    def _attendees(
        self, facts: ProgrammeFacts, definition: MilestoneDef
    ) -> list[tuple[Contact, Role]]:
        """The consultant always gets the invite; then the meeting's other addressable roles."""
        return facts.recipients((Role.CONSULTANT, *definition.attendees))

    def _queue_invites(
        self,
        tx: Tx,
        loaded: _Loaded,
        row: Milestone,
        recipients: Sequence[tuple[Contact, Role | str]],
        method: str,
        now: datetime,
        *,
        is_update: bool,
    ) -> None:
        assert row.id is not None and loaded.programme.id is not None
        meeting = MeetingFacts(row.id, self._planned(row), loaded.definition_of(row), row.sequence)
        drafts = compose.invite_drafts(
            loaded.facts,
            meeting,
            method=method,
            recipients=recipients,
            now=now,
            is_update=is_update,
        )
        tx.enqueue(drafts, now)
        uid = compose.uid_for(loaded.facts, meeting.planned)
        for contact, _role in recipients:
            tx.record_invite(
                programme_id=loaded.programme.id,
                milestone_id=row.id,
                recipient=contact.email,
                uid=uid,
                sequence=row.sequence,
                method=method,
                now=now,
            )

    def _queue_timed(self, tx: Tx, loaded: _Loaded, row: Milestone, now: datetime) -> None:
        """Queue the milestone's reminders and task notice that still lie ahead."""
        assert row.id is not None
        drafts = self._timed_drafts(
            loaded.facts, row.id, self._planned(row), loaded.definition_of(row), row.sequence, now
        )
        tx.enqueue(drafts, now)

    def _timed_drafts(
        self,
        facts: ProgrammeFacts,
        milestone_id: int,
        planned: PlannedMilestone,
        definition: MilestoneDef,
        sequence: int,
        now: datetime,
    ) -> list[OutboxDraft]:
        """The milestone's reminders and task notice that still lie ahead."""
        drafts = compose.reminder_drafts(
            facts,
            milestone_id,
            planned,
            definition,
            sequence=sequence,
            calendar=self.calendar,
            tz=self.tz,
            now=now,
        )
        drafts += compose.task_notice_drafts(
            facts, milestone_id, planned, definition, tz=self.tz, now=now
        )
        return drafts

    def _budget_context(self, definition: WorkflowDefinition) -> dict[str, Any] | None:
        if definition.budget is None:
            return None
        per_day = self.settings.engine.hours_per_workday
        low = definition.budget.minimum.to_hours(per_day)
        high = definition.budget.maximum.to_hours(per_day)
        return {
            "role": definition.budget.role.value,
            "min_hours": low,
            "max_hours": high,
            "text": budget_text(definition.budget.minimum, definition.budget.maximum, low, high),
        }

    def _start_if_due(self, tx: Tx, loaded: _Loaded, now: datetime) -> None:
        programme = loaded.programme
        if (
            programme.state == ProgrammeState.PLANNED.value
            and self._today(now) >= programme.start_date
        ):
            self._fire_programme(tx, now, programme, "start")

    # ----- reading ------------------------------------------------------------------------

    def show(self, programme_id: int) -> ProgrammeView:
        with self.store.transaction() as tx:
            return self._view(tx, tx.get_programme(programme_id))

    def list_programmes(self, *, states: Sequence[str] | None = None) -> list[ProgrammeView]:
        with self.store.transaction() as tx:
            return [self._view(tx, p) for p in tx.list_programmes(states=states)]

    def events(self, programme_id: int) -> list[dict[str, Any]]:
        with self.store.transaction() as tx:
            tx.get_programme(programme_id)
            return [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "entity": e.entity,
                    "entity_id": e.entity_id,
                    "event": e.event,
                    "from": e.from_state,
                    "to": e.to_state,
                    "data": e.data,
                }
                for e in tx.events(programme_id=programme_id)
            ]

    def _view(self, tx: Tx, programme: Programme) -> ProgrammeView:
        assert programme.id is not None
        base = _definition_from_snapshot(
            programme.workflow, programme.workflow_snapshot[programme.workflow]
        )
        organisation = tx.get_organisation(programme.organisation_id)
        consultant = tx.get_person(programme.consultant_id)
        tovholder = tx.get_person(programme.tovholder_id)
        return ProgrammeView(
            id=programme.id,
            workflow=programme.workflow,
            workflow_title=base.title,
            version=programme.workflow_version,
            extensions=tuple(programme.extensions),
            organisation=organisation.name,
            municipality=programme.municipality,
            consultant=Contact(consultant.name, consultant.email),
            tovholder=Contact(tovholder.name, tovholder.email),
            start=programme.start_date,
            end=programme.end_date,
            state=programme.state,
            milestones=tuple(
                MilestoneView(m.id or 0, self._planned(m), m.state, m.sequence)
                for m in tx.milestones(programme.id)
            ),
        )

    def _load(self, tx: Tx, programme: Programme) -> _Loaded:
        assert programme.id is not None
        definitions = {
            key: _definition_from_snapshot(key, text)
            for key, text in programme.workflow_snapshot.items()
        }
        organisation = tx.get_organisation(programme.organisation_id)
        consultant = tx.get_person(programme.consultant_id)
        tovholder = tx.get_person(programme.tovholder_id)
        base = definitions[programme.workflow]
        facts = ProgrammeFacts(
            id=programme.id,
            workflow_title=base.title,
            organisation=organisation.name,
            municipality=programme.municipality,
            consultant=Contact(consultant.name, consultant.email),
            tovholder=Contact(tovholder.name, tovholder.email),
            lead=self.settings.lead,
            revision=programme.revision,
            domain=self.settings.mail_domain,
            organizer=self.settings.sender,
        )
        return _Loaded(
            programme=programme,
            base=base,
            extensions=tuple(definitions[k] for k in programme.extensions),
            milestones=tx.milestones(programme.id),
            facts=facts,
            definitions=definitions,
        )

    def _planned(self, row: Milestone) -> PlannedMilestone:
        return PlannedMilestone(
            workflow=row.workflow,
            key=row.key,
            title=row.title,
            kind=MilestoneKind(row.kind),
            weeks=(row.week_first, row.week_last),
            window_start=row.window_start,
            window_end=row.window_end,
            start=row.start_at.astimezone(self.tz) if row.start_at else None,
            end=row.end_at.astimezone(self.tz) if row.end_at else None,
        )

    # ----- programme life cycle -----------------------------------------------------------

    def cancel(self, programme_id: int, now: datetime, *, reason: str = "") -> ProgrammeView:
        with self.store.transaction() as tx:
            loaded = self._load(tx, tx.get_programme(programme_id, for_update=True))
            self._fire_programme(tx, now, loaded.programme, "cancel", data={"reason": reason})
            tx.cancel_pending(programme_id)
            for row in loaded.milestones:
                if MILESTONE.can(MilestoneState(row.state), "cancel"):
                    self._cancel_meeting_invites(tx, loaded, row, now)
                    self._fire_milestone(tx, now, loaded.programme, row, "cancel")
            tx.enqueue(
                compose.cancellation_notice_drafts(loaded.facts, reason=reason, now=now), now
            )
        return self.show(programme_id)

    def _cancel_meeting_invites(
        self, tx: Tx, loaded: _Loaded, row: Milestone, now: datetime
    ) -> None:
        """Send CANCEL to everyone who may have the meeting in their calendar."""
        if row.kind != MilestoneKind.MEETING.value or row.start_at is None or row.start_at <= now:
            return
        assert row.id is not None
        tx.cancel_pending(loaded.programme.id or 0, milestone_id=row.id)
        delivered = tx.delivered_invites(row.id)
        holders = [
            i for i in tx.invites(row.id) if i.method == REQUEST and i.recipient in delivered
        ]
        if not holders:
            return
        row.sequence += 1
        tx.save(row)
        names = {c.email: (c, r) for c, r in loaded.facts.recipients(list(Role))}
        recipients = [
            names.get(i.recipient, (Contact(i.recipient, i.recipient), "")) for i in holders
        ]
        self._queue_invites(tx, loaded, row, recipients, CANCEL, now, is_update=True)

    def pause(self, programme_id: int, now: datetime) -> ProgrammeView:
        """Hold reminders and notices. Invites stay in calendars: a pause keeps the dates."""
        with self.store.transaction() as tx:
            programme = tx.get_programme(programme_id, for_update=True)
            self._fire_programme(tx, now, programme, "pause")
            held = tx.cancel_pending(programme_id, kinds=_TIMED_KINDS)
            programme.revision += 1
            tx.save(programme)
            log.info("programme %s paused; %d reminders held", programme_id, held)
        return self.show(programme_id)

    def resume(self, programme_id: int, now: datetime) -> ProgrammeView:
        with self.store.transaction() as tx:
            programme = tx.get_programme(programme_id, for_update=True)
            self._fire_programme(tx, now, programme, "resume")
            programme.revision += 1
            tx.save(programme)
            loaded = self._load(tx, programme)
            for row in loaded.milestones:
                if not MILESTONE.is_terminal(MilestoneState(row.state)):
                    self._queue_timed(tx, loaded, row, now)
            self._start_if_due(tx, loaded, now)
        return self.show(programme_id)

    def move(
        self, programme_id: int, new_start: date, now: datetime, *, dry_run: bool = False
    ) -> MoveResult:
        """Re-plan every milestone that is not done from a new start date."""
        with self.store.transaction() as tx:
            programme = tx.get_programme(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "move")
            loaded = self._load(tx, programme)
            plan = self._replan(tx, loaded, new_start)
            changes = tuple(self._changes(loaded.milestones, plan))
            old_start = programme.start_date
            if not dry_run:
                self._apply_move(tx, loaded, plan, changes, now)
        return MoveResult(programme_id, old_start, new_start, changes, applied=not dry_run)

    def _replan(self, tx: Tx, loaded: _Loaded, new_start: date) -> Plan:
        fixed = {
            (row.workflow, row.key): self._planned(row)
            for row in loaded.milestones
            if MILESTONE.is_terminal(MilestoneState(row.state))
        }
        busy = [
            BusySlot(b.start, b.end)
            for b in tx.consultant_busy(
                loaded.programme.consultant_id, exclude_programme=loaded.programme.id
            )
        ]
        return plan_programme(
            loaded.base,
            new_start,
            self.calendar,
            extensions=loaded.extensions,
            busy=busy,
            tz=self.tz,
            fixed=fixed,
        )

    def _changes(self, rows: Sequence[Milestone], plan: Plan) -> list[DateChange]:
        changes = []
        for row in rows:
            before = self._planned(row)
            after = plan.milestone(row.workflow, row.key)
            for name in ("window_start", "window_end", "start"):
                old, new = getattr(before, name), getattr(after, name)
                if old != new:
                    changes.append(
                        DateChange(row.workflow, row.key, row.title, name, _fmt(old), _fmt(new))
                    )
        return changes

    def _apply_move(
        self, tx: Tx, loaded: _Loaded, plan: Plan, changes: Sequence[DateChange], now: datetime
    ) -> None:
        programme = loaded.programme
        old_start = programme.start_date
        programme.start_date, programme.end_date = plan.start, plan.end
        programme.revision += 1
        programme.updated_at = now
        tx.save(programme)
        self._event(
            tx,
            now,
            programme,
            "move",
            programme.state,
            programme.state,
            data={
                "from": old_start.isoformat(),
                "to": plan.start.isoformat(),
                "changes": [c.to_json() for c in changes],
            },
        )
        loaded.facts = _with_revision(loaded.facts, programme.revision)
        changed = {(c.workflow, c.key) for c in changes}
        for row in loaded.milestones:
            if (row.workflow, row.key) not in changed:
                continue
            self._apply_planned(row, plan.milestone(row.workflow, row.key), now)
            self._requeue_changed(tx, loaded, row, now)
            self._event(tx, now, programme, "move", row.state, row.state, milestone=row)

    def _apply_planned(self, row: Milestone, planned: PlannedMilestone, now: datetime) -> None:
        time_changed = row.start_at != planned.start
        row.window_start, row.window_end = planned.window_start, planned.window_end
        row.start_at, row.end_at = planned.start, planned.end
        row.pinned = False
        row.updated_at = now
        if time_changed and row.kind == MilestoneKind.MEETING.value:
            row.sequence += 1

    def _requeue_changed(self, tx: Tx, loaded: _Loaded, row: Milestone, now: datetime) -> None:
        """After a milestone's dates changed: drop its pending mail, queue updates anew."""
        assert row.id is not None
        tx.cancel_pending(loaded.programme.id or 0, milestone_id=row.id)
        tx.save(row)
        if row.kind == MilestoneKind.MEETING.value and row.end_at is not None and row.end_at > now:
            recorded = {i.recipient for i in tx.invites(row.id)}
            recipients = [
                pair
                for pair in self._attendees(loaded.facts, loaded.definition_of(row))
                if not recorded or pair[0].email in recorded
            ]
            self._queue_invites(tx, loaded, row, recipients, REQUEST, now, is_update=bool(recorded))
        if loaded.programme.state != ProgrammeState.PAUSED.value:
            self._queue_timed(tx, loaded, row, now)

    # ----- milestones ---------------------------------------------------------------------

    def milestone_done(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "done", now)

    def milestone_skip(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self._close_milestone(programme_id, key, "skip", now)

    def _close_milestone(
        self, programme_id: int, key: str, event: str, now: datetime
    ) -> ProgrammeView:
        workflow, _, name = key.rpartition(".")
        with self.store.transaction() as tx:
            programme = tx.get_programme(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            row = tx.milestone(programme_id, name, workflow or None)
            loaded = self._load(tx, programme)
            MILESTONE.fire(MilestoneState(row.state), event)
            assert row.id is not None
            tx.cancel_pending(programme_id, milestone_id=row.id)
            if event == "skip":
                self._cancel_meeting_invites(tx, loaded, row, now)
            self._fire_milestone(tx, now, programme, row, event)
            self._complete_if_finished(tx, loaded, now)
        return self.show(programme_id)

    def _complete_if_finished(self, tx: Tx, loaded: _Loaded, now: datetime) -> None:
        rows = tx.milestones(loaded.programme.id or 0)
        if all(MILESTONE.is_terminal(MilestoneState(r.state)) for r in rows) and PROGRAMME.can(
            ProgrammeState(loaded.programme.state), "complete"
        ):
            self._fire_programme(tx, now, loaded.programme, "complete")

    def reschedule(
        self,
        programme_id: int,
        key: str,
        new_start: datetime,
        now: datetime,
        *,
        force: bool = False,
    ) -> ProgrammeView:
        """Move one meeting. Outside its window, on a day off or over another meeting of the
        consultant, it needs ``force``."""
        workflow, _, name = key.rpartition(".")
        with self.store.transaction() as tx:
            programme = tx.get_programme(programme_id, for_update=True)
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
            row = tx.milestone(programme_id, name, workflow or None)
            if (
                row.kind != MilestoneKind.MEETING.value
                or row.start_at is None
                or row.end_at is None
            ):
                raise InvalidInputError(
                    f"{row.key} is a task: only meetings have a time to reschedule"
                )
            MILESTONE.fire(MilestoneState(row.state), "reschedule")
            start = new_start.astimezone(self.tz)
            end = start + (row.end_at - row.start_at)
            if not force:
                self._check_reschedule(tx, programme, row, start, end)
            loaded = self._load(tx, programme)
            before = row.start_at
            if before == start:
                return self._view(tx, programme)
            row.start_at, row.end_at, row.pinned, row.updated_at = start, end, True, now
            row.sequence += 1
            self._requeue_changed(tx, loaded, row, now)
            self._fire_milestone(
                tx,
                now,
                programme,
                row,
                "reschedule",
                data={
                    "from": before.astimezone(self.tz).isoformat(),
                    "to": start.isoformat(),
                    "forced": force,
                },
            )
        return self.show(programme_id)

    def _check_reschedule(
        self, tx: Tx, programme: Programme, row: Milestone, start: datetime, end: datetime
    ) -> None:
        day = start.date()
        window = f"weeks {row.week_first}–{row.week_last}: {row.window_start} … {row.window_end}"
        if not row.window_start <= day <= row.window_end:
            raise ConflictError(
                f"{row.key}: {day} is outside its window ({window}); use --force to move it anyway"
            )
        if not self.calendar.is_working_day(day):
            why = self.calendar.holiday_name(day) or "a weekend"
            raise ConflictError(f"{row.key}: {day} is not a working day ({why}); use --force")
        for busy in tx.consultant_busy(programme.consultant_id):
            if busy.start == row.start_at and busy.end == row.end_at:
                continue
            if busy.start < end and start < busy.end:
                raise ConflictError(
                    f"{row.key}: the consultant has another meeting "
                    f"{busy.start.astimezone(self.tz):%Y-%m-%d %H:%M}–"
                    f"{busy.end.astimezone(self.tz):%H:%M}; use --force to double-book"
                )

    # ----- requests -----------------------------------------------------------------------

    def add_request(
        self,
        *,
        organisation: str,
        contact: Contact,
        wished_start: date,
        received: date | None,
        now: datetime,
        workflow: str = "socialt-beredskab",
    ) -> RequestView:
        definition = self.registry.get(workflow)
        received_on = received or self._today(now)
        if received_on > self._today(now):
            raise InvalidInputError(f"--received {received_on} lies in the future")
        days = definition.request_answer_days or DEFAULT_ANSWER_DAYS
        with self.store.transaction() as tx:
            row = tx.add_request(
                Request(
                    workflow=workflow,
                    organisation=organisation,
                    contact_name=contact.name,
                    contact_email=contact.email,
                    wished_start=wished_start,
                    received=received_on,
                    deadline=received_on + timedelta(days=days),
                    state=RequestState.RECEIVED.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            tx.add_event(
                at=now,
                actor=self.actor,
                entity="request",
                entity_id=row.id,
                event="create",
                to_state=row.state,
                data={"organisation": organisation},
            )
            queue_sla(tx, row, self.settings, self.registry, now)
            return self._request_view(row, now)

    def list_requests(
        self, now: datetime, *, states: Sequence[str] | None = None
    ) -> list[RequestView]:
        with self.store.transaction() as tx:
            return [self._request_view(r, now) for r in tx.list_requests(states=states)]

    def request_view(self, request_id: int, now: datetime) -> RequestView:
        with self.store.transaction() as tx:
            return self._request_view(tx.get_request(request_id), now)

    def _request_view(self, row: Request, now: datetime) -> RequestView:
        assert row.id is not None
        return RequestView(
            id=row.id,
            workflow=row.workflow,
            organisation=row.organisation,
            contact=Contact(row.contact_name, row.contact_email),
            wished_start=row.wished_start,
            received=row.received,
            deadline=row.deadline,
            state=row.state,
            days_left=(row.deadline - self._today(now)).days,
            programme_id=row.programme_id,
        )

    # ----- time-driven transitions (the daemon's leader runs these) ------------------------

    def advance(self, now: datetime) -> list[str]:
        """Fire every transition the passing of time has made due (rules in
        :mod:`engine.domain.timeline`): one transaction per programme, under its row lock, with the
        states read again inside it, so a second leader finds nothing left to do."""
        with self.store.transaction() as tx:
            due = daemon_store.due_programme_ids(tx, now, self.tz)  # a superset, from SQL
        fired: list[str] = []
        for programme_id in due:
            try:
                with self.store.transaction() as tx:
                    fired += self._advance_one(tx, programme_id, now)
            except FbhError as exc:  # one programme must not hold up the others
                log.error("programme %s: time-driven transitions failed: %s", programme_id, exc)
        return fired

    def _advance_one(self, tx: Tx, programme_id: int, now: datetime) -> list[str]:
        programme = tx.get_programme(programme_id, for_update=True)
        clocks = daemon_store.live_clocks(tx, [programme_id])
        steps = timeline.due_steps(clocks[0], now, self.tz) if clocks else []
        if not steps:
            return []
        loaded = self._load(tx, programme)
        rows = {row.id: row for row in loaded.milestones}
        fired = []
        for step in steps:
            data = {"auto": True, "due": step.at.isoformat()}
            if step.milestone_id is None:
                if PROGRAMME.can(ProgrammeState(programme.state), step.event):
                    self._fire_programme(tx, now, programme, step.event, data=data)
                    fired.append(f"programme {programme_id}: {step.event}")
                continue
            row = rows[step.milestone_id]
            if MILESTONE.can(MilestoneState(row.state), step.event):
                self._fire_milestone(tx, now, programme, row, step.event, data=data)
                fired.append(f"programme {programme_id}: {row.key} {step.event}")
        if programme.state == ProgrammeState.RUNNING.value:
            self._complete_if_finished(tx, loaded, now)
        return fired

    def next_transition(self, now: datetime) -> datetime | None:
        """When :meth:`advance` next has something to do."""
        with self.store.transaction() as tx:
            return timeline.next_moment(daemon_store.live_clocks(tx), now, self.tz)

    # ----- state machine plumbing ---------------------------------------------------------

    def _fire_programme(
        self,
        tx: Tx,
        now: datetime,
        programme: Programme,
        event: str,
        *,
        data: dict[str, Any] | None = None,
    ) -> None:
        before = programme.state
        programme.state = PROGRAMME.fire(ProgrammeState(before), event).value
        programme.updated_at = now
        tx.save(programme)
        self._event(tx, now, programme, event, before, programme.state, data=data)

    def _fire_milestone(
        self,
        tx: Tx,
        now: datetime,
        programme: Programme,
        row: Milestone,
        event: str,
        *,
        data: dict[str, Any] | None = None,
    ) -> None:
        before = row.state
        row.state = MILESTONE.fire(MilestoneState(before), event).value
        row.updated_at = now
        tx.save(row)
        self._event(tx, now, programme, event, before, row.state, milestone=row, data=data)

    def _event(
        self,
        tx: Tx,
        now: datetime,
        programme: Programme,
        event: str,
        from_state: str | None,
        to_state: str | None,
        *,
        milestone: Milestone | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        assert programme.id is not None
        row = self._event_row(
            now, programme.id, event, from_state, to_state, milestone=milestone, data=data
        )
        tx.add_event(**row)

    def _event_row(
        self,
        now: datetime,
        programme_id: int,
        event: str,
        from_state: str | None,
        to_state: str | None,
        *,
        milestone: Milestone | _NewMilestone | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An audit event about the programme, or about one of its milestones."""
        entity_data = dict(data or {})
        if milestone is not None:
            entity_data.setdefault("milestone", f"{milestone.workflow}.{milestone.key}")
        return {
            "at": now,
            "actor": self.actor,
            "entity": "milestone" if milestone is not None else "programme",
            "entity_id": milestone.id if milestone is not None else programme_id,
            "programme_id": programme_id,
            "event": event,
            "from_state": from_state,
            "to_state": to_state,
            "data": entity_data,
        }

    def _today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()


# ----- creating programmes in batches ---------------------------------------------------------


class BatchItemError(FbhError):
    """Item ``index`` of a batch failed with ``error``; ``committed`` programmes (the chunks
    before it) were created and stay."""

    def __init__(self, index: int, error: FbhError, *, committed: int) -> None:
        self.index = index
        self.error = error
        self.committed = committed
        self.exit_code = error.exit_code
        super().__init__(
            f"programme {index} of the batch: {error} "
            f"({committed} programmes before it were created)"
        )


@contextmanager
def _item_errors(index: int, committed: int) -> Iterator[None]:
    """Name the batch item an error is about."""
    try:
        yield
    except BatchItemError:
        raise
    except FbhError as exc:
        raise BatchItemError(index, exc, committed=committed) from exc


@dataclass(frozen=True)
class _Item:
    """One programme of a batch with its workflow definitions resolved."""

    index: int
    new: NewProgramme
    organisation: str  # the name, stripped
    base: WorkflowDefinition
    extensions: tuple[WorkflowDefinition, ...]

    @property
    def workflows(self) -> tuple[WorkflowDefinition, ...]:
        return (self.base, *self.extensions)


@dataclass(frozen=True)
class _Parties:
    organisation: OrganisationRef
    consultant: PersonRef
    tovholder: PersonRef


@dataclass
class _NewMilestone:
    """A planned milestone of a programme being created, with its id and definition."""

    id: int
    planned: PlannedMilestone
    definition: MilestoneDef
    state: str = MilestoneState.PLANNED.value

    @property
    def workflow(self) -> str:
        return self.planned.workflow

    @property
    def key(self) -> str:
        return self.planned.key

    def is_future_meeting(self, now: datetime) -> bool:
        end = self.planned.end
        return self.planned.is_meeting and end is not None and end > now

    def row(self, programme_id: int, position: int, now: datetime) -> dict[str, Any]:
        planned = self.planned
        return {
            "id": self.id,
            "programme_id": programme_id,
            "workflow": planned.workflow,
            "key": planned.key,
            "title": planned.title,
            "kind": planned.kind.value,
            "week_first": planned.weeks[0],
            "week_last": planned.weeks[1],
            "window_start": planned.window_start,
            "window_end": planned.window_end,
            "start_at": planned.start,
            "end_at": planned.end,
            "state": self.state,
            "position": position,
            "sequence": 0,
            "pinned": False,
            "updated_at": now,
        }


@dataclass
class _NewRows:
    """The rows a chunk of new programmes writes, table by table, in the order of their ids."""

    programmes: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    invites: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[OutboxDraft] = field(default_factory=list)

    def write(self, tx: Tx, now: datetime) -> None:
        tx.add_programme_rows(self.programmes)
        tx.add_milestone_rows(self.milestones)
        tx.add_event_rows(self.events)
        tx.add_invite_rows(self.invites)
        tx.enqueue_many(self.outbox, now)


class _Shared:
    """What every programme of one batch shares: computed once, not per programme."""

    def __init__(self, settings: Settings, today: date) -> None:
        self.today = today
        self.lead = settings.lead
        self.domain = settings.mail_domain
        self.organizer = settings.sender
        self._budgets: dict[str, dict[str, Any] | None] = {}

    def budget(
        self,
        definition: WorkflowDefinition,
        compute: Callable[[WorkflowDefinition], dict[str, Any] | None],
    ) -> dict[str, Any] | None:
        key = definition.version
        if key not in self._budgets:
            self._budgets[key] = compute(definition)
        return self._budgets[key]


def _check_agreements(
    items: Sequence[_Item], agreements: dict[str, set[str]], committed: int
) -> None:
    """Refuse the first item whose workflows need an agreement its organisation lacks; each
    item is an agreement for the items after it (a new programme is live)."""
    for item in items:
        held = agreements.setdefault(item.organisation, set())
        present = {d.key for d in item.workflows}
        with _item_errors(item.index, committed):
            for definition in item.workflows:
                for required in definition.requires:
                    if required in present or required in held:
                        continue
                    raise PrerequisiteError(
                        f"{definition.key} needs an agreement on {required}: organisation "
                        f"{item.new.organisation!r} has no active or completed {required} "
                        f"programme (create one first, or add {definition.key} to it with --with)"
                    )
        held |= present


def _programme_row(
    item: _Item,
    plan: Plan,
    programme_id: int,
    parties: _Parties,
    state: ProgrammeState,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": programme_id,
        "workflow": item.base.key,
        "workflow_version": item.base.version,
        "workflow_snapshot": {d.key: d.source_text for d in item.workflows},
        "extensions": [e.key for e in item.extensions],
        "organisation_id": parties.organisation.id,
        "municipality": item.new.municipality.strip(),
        "consultant_id": parties.consultant.id,
        "tovholder_id": parties.tovholder.id,
        "start_date": plan.start,
        "end_date": plan.end,
        "state": state.value,
        "revision": 0,
        "created_at": now,
        "updated_at": now,
    }


def _snapshot_definitions(
    workflows: Sequence[WorkflowDefinition],
) -> dict[str, WorkflowDefinition]:
    """The definitions as a new programme's snapshot gives them back (cached per text)."""
    return {d.key: _definition_from_snapshot(d.key, d.source_text) for d in workflows}


def _busy_horizon(item: _Item) -> tuple[datetime, datetime]:
    """An instant span (UTC) that holds every meeting the item's plan could collide with:
    its weeks (week 0 to its last week, DESIGN.md §1), with two days' margin either side."""
    last_week = max(
        [item.base.weeks]
        + [e.extends.at_week + e.weeks for e in item.extensions if e.extends is not None]
    )
    first = week_monday(item.new.start, 0) - timedelta(days=2)
    last = week_friday(item.new.start, last_week) + timedelta(days=3)
    return (
        datetime.combine(first, time(0), tzinfo=UTC),
        datetime.combine(last, time(0), tzinfo=UTC),
    )


def _with_revision(facts: ProgrammeFacts, revision: int) -> ProgrammeFacts:
    return replace(facts, revision=revision)


def _fmt(value: date | datetime | None) -> str:
    if value is None:
        return "-"
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else value.isoformat()


def budget_text(minimum: Any, maximum: Any, low: float, high: float) -> str:
    """``2–3 arbejdsdage (14,8–22,2 timer)`` or ``5–10 timer``."""

    def num(value: float) -> str:
        return f"{value:g}".replace(".", ",")

    hours = f"{num(low)}–{num(high)} timer"
    if minimum.workdays and maximum.workdays and not minimum.hours and not maximum.hours:
        return f"{num(minimum.workdays)}–{num(maximum.workdays)} arbejdsdage ({hours})"
    return hours
