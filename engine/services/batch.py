"""Creating programmes in batches: the items, the rows they write and how a failure is
reported (see :meth:`engine.services.programmes.ProgrammeCreation.create_programmes`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.config.settings import Settings
from engine.domain.errors import FbhError, PrerequisiteError
from engine.domain.i18n import _
from engine.domain.model import Contact, MilestoneState, OutboxDraft, ProgrammeState
from engine.domain.planning import BusySlot, Plan, PlannedMilestone
from engine.domain.workdays import week_friday, week_monday
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.context import definition_from_snapshot
from engine.store.store import OrganisationRef, PersonRef, Tx
from notifications import compose

# (workflow, extensions, start) of a plan: the definitions' ids are stable while the batch's
# items hold them
PlanKey = tuple[int, tuple[int, ...], date]
MAX_BUSY_PLANS = 2_000  # remembered plans around busy slots, at most


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

    def __init__(self, settings: Settings, today: date, *, memo: bool = True) -> None:
        self.today = today
        self.lead = settings.lead
        self.domain = settings.mail_domain
        self.organizer = settings.sender
        # plans without the consultant's other meetings
        self.free_plans: dict[PlanKey, Plan] = {}
        # plans around busy slots, by the same key and the slots: consultants whose earlier
        # programmes share a plan are busy at the same instants, and so get the same plan
        self.busy_plans: dict[tuple[PlanKey, frozenset[BusySlot]], Plan] = {}
        self.memo = MilestoneMemo() if memo else None
        self.remember_plans = memo

    def plan_around(self, key: PlanKey, busy: Sequence[BusySlot], plan: Callable[[], Plan]) -> Plan:
        """``plan()``, the plan of ``key`` around ``busy``, made once per set of busy slots.
        The planner only asks whether a time overlaps a slot (``_BusyIndex.is_free``), so
        the slots' order and zones do not matter, only their instants."""
        if not self.remember_plans:
            return plan()
        slots = (key, frozenset(busy))
        found = self.busy_plans.get(slots)
        if found is None:
            if len(self.busy_plans) >= MAX_BUSY_PLANS:
                self.busy_plans.clear()
            found = self.busy_plans[slots] = plan()
        return found

    def forget(self) -> None:
        """Drop the memo (not the free plans): it holds the milestones of every plan made."""
        if self.memo is not None:
            self.memo = MilestoneMemo()


@dataclass
class _Remembered:
    planned: PlannedMilestone  # held, so that the ids in the key stay theirs
    definition: MilestoneDef
    context: dict[str, Any] | None = None
    times: list[datetime] | None = None
    first: datetime | None = None  # min(times)


class MilestoneMemo:
    """What depends only on a planned milestone and its definition, remembered per pair of
    objects for one batch: the programmes that reuse a plan (:attr:`Shared.free_plans`) share
    its ``PlannedMilestone`` objects, and their definitions come from the snapshot cache, so
    the milestone's template context and the due times of its timed mail are computed once
    per plan rather than once per programme. Keyed by identity, not by value: hashing a
    planned milestone costs about as much as computing what is remembered."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], _Remembered] = {}
        # the definition is held, so that its id stays its own
        self._checkins: dict[tuple[int, date], tuple[WorkflowDefinition, Any]] = {}

    def _entry(self, planned: PlannedMilestone, definition: MilestoneDef) -> _Remembered:
        key = (id(planned), id(definition))
        entry = self._known.get(key)
        if entry is None:
            entry = self._known[key] = _Remembered(planned, definition)
        return entry

    def context(self, planned: PlannedMilestone, definition: MilestoneDef) -> dict[str, Any]:
        """:func:`notifications.compose.milestone_context`, shared: never change it."""
        entry = self._entry(planned, definition)
        if entry.context is None:
            entry.context = compose.milestone_context(planned, definition)
        return entry.context

    def checkin_dues(
        self,
        base: WorkflowDefinition,
        end: date,
        compute: Callable[[WorkflowDefinition, date], list[tuple[int, datetime]]],
    ) -> list[tuple[int, datetime]]:
        """``compute(base, end)``, the check-ins of a programme ending on ``end``, once."""
        key = (id(base), end)
        found = self._checkins.get(key)
        if found is None:
            found = self._checkins[key] = (base, compute(base, end))
        return found[1]

    def due_times(
        self,
        planned: PlannedMilestone,
        definition: MilestoneDef,
        compute: Callable[[PlannedMilestone, MilestoneDef], list[datetime]],
    ) -> tuple[list[datetime], datetime | None]:
        """``compute(planned, definition)`` once per pair (the batch has one ``now``), and
        the earliest of those times (None: none)."""
        entry = self._entry(planned, definition)
        if entry.times is None:
            entry.times = compute(planned, definition)
            entry.first = min(entry.times, default=None)
        return entry.times, entry.first


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
        "checkins_from": None,  # set once its check-ins are split at the horizon
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
