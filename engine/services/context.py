"""What every use case shares: settings, store, definitions, calendar and clock, a programme
loaded with its definitions, the state machines' plumbing and the event log.

:class:`ServiceContext` is the base of the :class:`~engine.services.facade.Fbh` facade; the
use-case modules (programmes, queries, lifecycle, milestones, requests, transitions, timelog,
digests, status) take it as their first argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.config.settings import Settings
from engine.domain.definitions import WorkflowRegistry, load_registry, parse_definition
from engine.domain.errors import InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import Contact, MilestoneKind, MilestoneState, ProgrammeState
from engine.domain.planning import Plan, PlannedMilestone, plan_programme
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import ProgrammeView
from engine.domain.workdays import WorkingCalendar
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.answers import milestone_views
from engine.services.checkins import CheckinDesk
from engine.store.store import Milestone, Programme, Store, Tx
from notifications.compose import ProgrammeFacts


class MilestoneRef(Protocol):
    """What an event about a milestone names: a stored row, or one being created."""

    @property
    def id(self) -> int | None: ...

    @property
    def workflow(self) -> str: ...

    @property
    def key(self) -> str: ...


@lru_cache(maxsize=256)
def definition_from_snapshot(key: str, text: str) -> WorkflowDefinition:
    """A workflow definition as a programme's snapshot stored it (parsed once per text)."""
    return parse_definition(text, f"snapshot:{key}")


@dataclass
class LoadedProgramme:
    """A programme with its definitions and milestones, inside one transaction."""

    programme: Programme
    base: WorkflowDefinition
    extensions: tuple[WorkflowDefinition, ...]
    milestones: list[Milestone]
    facts: ProgrammeFacts
    definitions: dict[str, WorkflowDefinition] = field(default_factory=dict)

    def definition_of(self, row: Milestone) -> MilestoneDef:
        return self.definitions[row.workflow].milestone(row.key)


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
            calendar=settings.calendar,
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
                raise InvalidInputError(
                    _("workflow {ext!r} cannot extend {base!r}").format(ext=ext.key, base=base.key)
                )
        return base, exts


class ServiceContext:
    """One store, one set of definitions and one calendar, and the helpers over them that
    more than one group of use cases needs."""

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
        self.checkins = CheckinDesk(
            self.calendar, self.tz, timedelta(days=settings.mail.queue_ahead_days)
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    # ----- reading programmes -------------------------------------------------------------

    def load(self, tx: Tx, programme: Programme) -> LoadedProgramme:
        """The programme with the definitions of its snapshot, its milestones and the facts
        its mails may mention."""
        assert programme.id is not None
        definitions = {
            key: definition_from_snapshot(key, text)
            for key, text in programme.workflow_snapshot.items()
        }
        organisation = tx.people.get_organisation(programme.organisation_id)
        consultant = tx.people.get(programme.consultant_id)
        tovholder = tx.people.get(programme.tovholder_id)
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
            installation=self.uid_installation(programme.id),
            part_titles=tuple(
                (key, definitions[key].title) for key in (programme.workflow, *programme.extensions)
            ),
        )
        return LoadedProgramme(
            programme=programme,
            base=base,
            extensions=tuple(definitions[k] for k in programme.extensions),
            milestones=tx.programmes.milestones(programme.id),
            facts=facts,
            definitions=definitions,
        )

    def uid_installation(self, programme_id: int) -> str:
        """The installation id for the programme's meeting UIDs: '' for programmes that existed
        before installation ids (they keep their UIDs; migration 0004). Read inside a
        transaction, which has loaded it."""
        info = self.store.installation()
        return info.installation_id if programme_id > info.legacy_max_programme_id else ""

    def view(self, tx: Tx, programme: Programme, *, attendees: bool = False) -> ProgrammeView:
        assert programme.id is not None
        base = definition_from_snapshot(
            programme.workflow, programme.workflow_snapshot[programme.workflow]
        )
        organisation = tx.people.get_organisation(programme.organisation_id)
        consultant = tx.people.get(programme.consultant_id)
        tovholder = tx.people.get(programme.tovholder_id)
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
            milestones=milestone_views(
                tx, tx.programmes.milestones(programme.id), self.planned, attendees=attendees
            ),
            # check-ins only for one programme shown: `programme list` reads none
            checkins=self.checkins.views(tx, programme, base) if attendees else (),
        )

    def show(self, programme_id: int) -> ProgrammeView:
        with self.store.transaction() as tx:
            return self.view(tx, tx.programmes.get(programme_id), attendees=True)

    def planned(self, row: Milestone) -> PlannedMilestone:
        """A stored milestone as the planner's value, its times in local time."""
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

    # ----- state machine plumbing ---------------------------------------------------------

    def fire_programme(
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
        self.event(tx, now, programme, event, before, programme.state, data=data)

    def fire_milestone(
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
        if MILESTONE.is_terminal(MilestoneState(row.state)):
            row.timed_from = None  # nothing more to queue: see engine/services/horizon.py
        tx.save(row)
        self.event(tx, now, programme, event, before, row.state, milestone=row, data=data)

    def complete_if_finished(self, tx: Tx, loaded: LoadedProgramme, now: datetime) -> None:
        rows = tx.programmes.milestones(loaded.programme.id or 0)
        if all(MILESTONE.is_terminal(MilestoneState(r.state)) for r in rows) and PROGRAMME.can(
            ProgrammeState(loaded.programme.state), "complete"
        ):
            self.fire_programme(tx, now, loaded.programme, "complete")

    def start_if_due(self, tx: Tx, loaded: LoadedProgramme, now: datetime) -> None:
        programme = loaded.programme
        if (
            programme.state == ProgrammeState.PLANNED.value
            and self.today(now) >= programme.start_date
        ):
            self.fire_programme(tx, now, programme, "start")

    # ----- the event log ------------------------------------------------------------------

    def event(
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
        row = self.event_row(
            now, programme.id, event, from_state, to_state, milestone=milestone, data=data
        )
        tx.events.add(**row)

    def event_row(
        self,
        now: datetime,
        programme_id: int,
        event: str,
        from_state: str | None,
        to_state: str | None,
        *,
        milestone: MilestoneRef | None = None,
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
