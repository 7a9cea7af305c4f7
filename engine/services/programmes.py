"""Creating programmes: one, or many at once with a few statements per table and chunk.

A command reads the store, plans with the pure planner, fires the state machines, writes the
event log and queues mail in the outbox, all in the same transaction: either everything
happens or nothing does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from engine.domain.errors import InvalidInputError, PlanningError
from engine.domain.gcpause import paused_gc
from engine.domain.horizon import horizon_end
from engine.domain.i18n import _
from engine.domain.model import MAX_NAME, Contact, MilestoneState, ProgrammeState, check_text
from engine.domain.planning import BusySlot, Plan, PlannedMilestone, plan_programme
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import ProgrammeView
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.batch import (
    BatchItemError,
    Item,
    NewMilestone,
    NewProgramme,
    NewRows,
    Parties,
    Shared,
    busy_horizon,
    check_agreements,
    item_errors,
    programme_row,
    snapshot_definitions,
)
from engine.services.context import ServiceContext
from engine.services.mailings import REQUEST, Mailings
from engine.services.pages import new_token, page_url, token_row
from engine.store.store import Tx
from notifications import compose
from notifications.compose import MeetingFacts, ProgrammeFacts

log = logging.getLogger(__name__)

CHUNK_SIZE = 500  # programmes per transaction in create_programmes


class ProgrammeCreation:
    """Creates, plans and queues new programmes."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings
        # a batch remembers what a shared plan's milestones give (batch.MilestoneMemo); off,
        # each programme computes it anew: the tests compare the two
        self.memo = True

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
        return self.ctx.show(programme_id)

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
            with self.ctx.store.transaction() as tx:
                agreements = tx.programmes.workflows_of_organisations(
                    [i.organisation for i in items]
                )
            check_agreements(items, agreements, committed=0)
        shared = Shared(self.ctx.settings, self.ctx.today(now), memo=self.memo)
        ids: list[int] = []
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            shared.forget()  # what the last chunk's own plans gave is not asked for again
            with paused_gc(), self.ctx.store.transaction() as tx:
                created = self._create_chunk(tx, chunk, now, shared, committed=len(ids))
                if on_created is not None:
                    for item, programme_id in zip(chunk, created, strict=True):
                        with item_errors(item.index, len(ids)):
                            on_created(tx, programme_id)
            ids += created
            log.debug("programmes %d–%d created", start, start + len(chunk) - 1)
        return ids

    def _resolve_item(self, index: int, new: NewProgramme) -> Item:
        with item_errors(index, committed=0):
            base, exts = self.ctx.planner.resolve(new.workflow, new.extensions)
            if new.consultant.email == new.tovholder.email:
                raise InvalidInputError(_("the consultant and the tovholder must be two people"))
            organisation = check_text(new.organisation, "organisation", MAX_NAME)
            check_text(new.municipality, "municipality", MAX_NAME)
        return Item(index, new, organisation, base, exts)

    def _create_chunk(
        self, tx: Tx, chunk: Sequence[Item], now: datetime, shared: Shared, *, committed: int
    ) -> list[int]:
        """Plan and write ``chunk`` in ``tx``; nothing is written before every item planned."""
        names = [item.organisation for item in chunk]
        organisations = tx.people.organisations_named(names, now)
        check_agreements(chunk, tx.programmes.workflows_of_organisations(names), committed)
        people = tx.people.for_contacts(
            [c for item in chunk for c in (item.new.consultant, item.new.tovholder)], now
        )
        consultants = [people[item.new.consultant.email.lower()] for item in chunk]
        plans = self._plan_chunk(tx, chunk, [c.id for c in consultants], committed, shared)
        programme_ids = tx.programmes.new_ids(len(chunk))
        milestone_ids = iter(tx.programmes.new_milestone_ids(sum(len(p.milestones) for p in plans)))
        rows = NewRows()
        for item, plan, programme_id, consultant in zip(
            chunk, plans, programme_ids, consultants, strict=True
        ):
            parties = Parties(
                organisations[item.organisation],
                consultant,
                people[item.new.tovholder.email.lower()],
            )
            ids = [next(milestone_ids) for _ in plan.milestones]
            self._add_new_programme(rows, item, plan, programme_id, ids, parties, now, shared)
        rows.write(tx, now)
        return programme_ids

    def _plan_chunk(
        self,
        tx: Tx,
        chunk: Sequence[Item],
        consultant_ids: Sequence[int],
        committed: int,
        shared: Shared,
    ) -> list[Plan]:
        """Plan every item; a consultant's meetings in earlier items of the batch are busy."""
        tx.people.lock_many(consultant_ids)
        spans = [busy_horizon(item) for item in chunk]
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        busy = {
            consultant: [BusySlot(b.start, b.end) for b in slots]
            for consultant, slots in tx.programmes.busy_of_consultants(
                consultant_ids, first, last
            ).items()
        }
        plans = []
        for item, consultant in zip(chunk, consultant_ids, strict=True):
            slots = busy.setdefault(consultant, [])
            with item_errors(item.index, committed):
                plan = self._plan_item(item, slots, shared)
            slots.extend(plan.busy_slots())
            plans.append(plan)
        return plans

    def _plan_item(self, item: Item, busy: Sequence[BusySlot], shared: Shared) -> Plan:
        """The item's plan: the batch's plan of the same workflows and start made without
        ``busy`` when none of its meetings overlaps ``busy``, else planned around ``busy``.

        The two are equal then: each meeting goes on the first candidate day that is free,
        the days before it were refused already without ``busy`` (more busy slots refuse
        more, never less), and its own day is free of ``busy`` too."""
        key = (id(item.base), tuple(id(e) for e in item.extensions), item.new.start)
        free = shared.free_plans.get(key)
        if free is None:
            try:
                free = shared.free_plans[key] = self._plan(item, ())
            except PlanningError:
                free = None  # planned below with busy, which raises the error itself
        if free is not None and free.clear_of(busy):
            return free
        return shared.plan_around(key, busy, partial(self._plan, item, busy))

    def _plan(self, item: Item, busy: Sequence[BusySlot]) -> Plan:
        return plan_programme(
            item.base,
            item.new.start,
            self.ctx.calendar,
            extensions=item.extensions,
            busy=busy,
            tz=self.ctx.tz,
        )

    def _add_new_programme(
        self,
        rows: NewRows,
        item: Item,
        plan: Plan,
        programme_id: int,
        milestone_ids: Sequence[int],
        parties: Parties,
        now: datetime,
        shared: Shared,
    ) -> None:
        """Add one new programme's rows: as planned, with the events of its first transitions
        (create, schedule, start), its invites and ledger, reminders, notices and summary."""
        definitions = snapshot_definitions(item.workflows)
        base = definitions[item.base.key]
        milestones = [
            NewMilestone(ident, planned, definitions[planned.workflow].milestone(planned.key))
            for ident, planned in zip(milestone_ids, plan.milestones, strict=True)
        ]
        installation = self.ctx.uid_installation(programme_id)
        facts = _new_facts(item, base, programme_id, parties, shared, installation)
        planned_state = ProgrammeState.PLANNED
        starts = shared.today >= plan.start
        state = PROGRAMME.fire(planned_state, "start") if starts else planned_state
        rows.programmes.append(programme_row(item, plan, programme_id, parties, state, now))
        event = partial(self.ctx.event_row, now, programme_id)
        data = {"version": item.base.version, "extensions": [e.key for e in item.extensions]}
        rows.events.append(event("create", None, planned_state.value, data=data))
        created = MilestoneState.PLANNED.value
        rows.events += [event("create", None, created, milestone=m) for m in milestones]
        memo = shared.memo
        until = horizon_end(now, self.ctx.settings.mail.queue_ahead_days)
        for milestone in milestones:
            planned, definition = milestone.planned, milestone.definition
            if milestone.is_future_meeting(now):
                self._add_first_invites(rows, facts, milestone, programme_id, now, shared)
                milestone.state = MILESTONE.fire(MilestoneState.PLANNED, "schedule").value
                rows.events.append(event("schedule", created, milestone.state, milestone=milestone))
            times = None
            if memo is not None:
                times, first = memo.due_times(planned, definition, partial(self._due_times, now))
                if first is None or first >= until:  # as timed_split: none within the horizon
                    milestone.timed_from = first
                    continue
            timed = self.mailings.timed_split(
                facts, milestone.id, planned, definition, 0, now, now, times
            )
            rows.outbox += timed.queue
            milestone.timed_from = timed.mark
        checkins = self.ctx.checkins
        dues = None if memo is None else memo.checkin_dues(base, plan.end, checkins.dues)
        split = checkins.split(facts, base, plan.end, now, now, dues=dues)
        rows.outbox += split.queue
        rows.programmes[-1]["checkins_from"] = split.mark
        pairs = [(m.planned, m.definition) for m in milestones]
        workflows = [definitions[d.key] for d in item.workflows]
        link = ""
        if self.ctx.settings.http.public_url:  # a mail needs the full URL of the page
            token = new_token()
            rows.page_tokens.append(
                token_row(programme_id, parties.tovholder.id, token, "summary", now)
            )
            link = page_url(self.ctx.settings, token)
        contexts = None if memo is None else [memo.context(p, d) for p, d in pairs]
        rows.outbox.append(
            self.mailings.summary(facts, workflows, pairs, now, page_url=link, contexts=contexts)
        )
        if starts:
            rows.events.append(event("start", planned_state.value, state.value))
        rows.milestones += [
            m.row(programme_id, position, now) for position, m in enumerate(milestones)
        ]

    def _due_times(
        self, now: datetime, planned: PlannedMilestone, definition: MilestoneDef
    ) -> list[datetime]:
        return self.mailings.due_times(planned, definition, now)

    def _add_first_invites(
        self,
        rows: NewRows,
        facts: ProgrammeFacts,
        milestone: NewMilestone,
        programme_id: int,
        now: datetime,
        shared: Shared,
    ) -> None:
        planned, definition = milestone.planned, milestone.definition
        recipients = self.mailings.attendees(facts, definition)
        meeting = MeetingFacts(milestone.id, planned, definition, 0)
        uid = compose.uid_for(facts, planned)
        memo = shared.memo
        rows.outbox += compose.invite_drafts(
            facts,
            meeting,
            method=REQUEST,
            recipients=recipients,
            now=now,
            is_update=False,
            meeting_context=None if memo is None else memo.context(planned, definition),
            uid=uid,
        )
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


def _new_facts(
    item: Item,
    base: WorkflowDefinition,
    programme_id: int,
    parties: Parties,
    shared: Shared,
    installation: str,
) -> ProgrammeFacts:
    """What the mails of a new programme may mention (as the services read it back)."""
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
        installation=installation,
        part_titles=tuple((d.key, d.title) for d in item.workflows),
    )
