"""Creating programmes in batches: the items, the rows they write and how a failure is
reported (see :meth:`engine.services.programmes.ProgrammeCreation.create_programmes`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.config.settings import Settings
from engine.domain.errors import FbhError, PrerequisiteError
from engine.domain.i18n import _
from engine.domain.model import Contact, MilestoneState, OutboxDraft, ProgrammeState
from engine.domain.planning import Plan, PlannedMilestone
from engine.domain.workdays import week_friday, week_monday
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.context import definition_from_snapshot
from engine.store.store import OrganisationRef, PersonRef, Tx


@dataclass(frozen=True)
class NewProgramme:
    workflow: str
    organisation: str
    municipality: str
    consultant: Contact
    tovholder: Contact
    start: date
    extensions: tuple[str, ...] = ()


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
def item_errors(index: int, committed: int) -> Iterator[None]:
    """Name the batch item an error is about."""
    try:
        yield
    except BatchItemError:
        raise
    except FbhError as exc:
        raise BatchItemError(index, exc, committed=committed) from exc


@dataclass(frozen=True)
class Item:
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
class Parties:
    organisation: OrganisationRef
    consultant: PersonRef
    tovholder: PersonRef


@dataclass
class NewMilestone:
    """A planned milestone of a programme being created, with its id and definition."""

    id: int
    planned: PlannedMilestone
    definition: MilestoneDef
    state: str = MilestoneState.PLANNED.value
    timed_from: datetime | None = None  # the first timed mail not queued (Mailings.timed_split)

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
            "timed_from": self.timed_from,
            "updated_at": now,
        }


@dataclass
class NewRows:
    """The rows a chunk of new programmes writes, table by table, in the order of their ids."""

    programmes: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    invites: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[OutboxDraft] = field(default_factory=list)
    page_tokens: list[dict[str, Any]] = field(default_factory=list)

    def write(self, tx: Tx, now: datetime) -> None:
        tx.programmes.add_rows(self.programmes)
        tx.programmes.add_milestone_rows(self.milestones)
        tx.events.add_rows(self.events)
        tx.invites.add_rows(self.invites)
        tx.pages.add_rows(self.page_tokens)
        tx.outbox.enqueue_many(self.outbox, now)


class Shared:
    """What every programme of one batch shares: computed once, not per programme."""

    def __init__(self, settings: Settings, today: date) -> None:
        self.today = today
        self.lead = settings.lead
        self.domain = settings.mail_domain
        self.organizer = settings.sender
        # plans without the consultant's other meetings, by (workflow, extensions, start):
        # the definitions' ids are stable while the batch's items hold them
        self.free_plans: dict[tuple[int, tuple[int, ...], date], Plan] = {}


def check_agreements(
    items: Sequence[Item], agreements: dict[str, set[str]], committed: int
) -> None:
    """Refuse the first item whose workflows need an agreement its organisation lacks; each
    item is an agreement for the items after it (a new programme is live)."""
    for item in items:
        held = agreements.setdefault(item.organisation, set())
        present = {d.key for d in item.workflows}
        with item_errors(item.index, committed):
            for definition in item.workflows:
                for required in definition.requires:
                    if required in present or required in held:
                        continue
                    raise PrerequisiteError(
                        _(
                            "{key} needs an agreement on {required}: organisation "
                            "{organisation!r} has no active or completed {required} "
                            "programme (create one first, or add {key} to it with --with)"
                        ).format(
                            key=definition.key,
                            required=required,
                            organisation=item.new.organisation,
                        )
                    )
        held |= present


def programme_row(
    item: Item,
    plan: Plan,
    programme_id: int,
    parties: Parties,
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


def snapshot_definitions(
    workflows: Sequence[WorkflowDefinition],
) -> dict[str, WorkflowDefinition]:
    """The definitions as a new programme's snapshot gives them back (cached per text)."""
    return {d.key: definition_from_snapshot(d.key, d.source_text) for d in workflows}


def busy_horizon(item: Item) -> tuple[datetime, datetime]:
    """An instant span (UTC) that holds every meeting the item's plan could collide with:
    its weeks (week 0 to its last week), with two days' margin either side."""
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
