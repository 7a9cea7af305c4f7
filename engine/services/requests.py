"""Requests: register and read them, propose start dates, accept (creates the programme),
decline, assign, and the daemon's SLA check.

Every command runs in one transaction, moves the request through ``engine.domain.states.REQUEST``,
writes the event log, and queues or cancels mail in the outbox: answering a request cancels
its pending SLA reminders and escalation; assigning one sends the reminders to the consultant
instead of the lead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.domain.errors import ConflictError, InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import MAX_NAME, MAX_REASON, Contact, RequestState, check_text
from engine.domain.states import REQUEST
from engine.domain.views import ProgrammeView, RequestView
from engine.services.batch import NewProgramme
from engine.services.context import ServiceContext
from engine.services.programmes import ProgrammeCreation
from engine.services.request_sla import cancel_sla, queue_sla, request_facts
from engine.store.store import Request, Tx
from notifications.compose_requests import Proposal, main_meeting, proposal_draft

log = logging.getLogger(__name__)

MAX_PROPOSALS = 6
DEFAULT_ANSWER_DAYS = 14


@dataclass(frozen=True)
class Acceptance:
    """What ``accept`` needs besides the request: the programme's people and place."""

    start: date
    consultant: Contact
    tovholder: Contact
    municipality: str
    extensions: tuple[str, ...] = ()


class RequestDesk:
    """The request commands (``fbh.requests``)."""

    def __init__(self, ctx: ServiceContext, creation: ProgrammeCreation) -> None:
        self.ctx = ctx
        self.creation = creation
        self.settings = ctx.settings

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
        organisation = check_text(organisation, "organisation", MAX_NAME)
        definition = self.ctx.registry.get(workflow)
        received_on = received or self.ctx.today(now)
        if received_on > self.ctx.today(now):
            raise InvalidInputError(
                _("--received {day} lies in the future").format(day=received_on)
            )
        days = definition.request_answer_days or DEFAULT_ANSWER_DAYS
        with self.ctx.store.transaction() as tx:
            row = tx.requests.add(
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
            tx.events.add(
                at=now,
                actor=self.ctx.actor,
                entity="request",
                entity_id=row.id,
                event="create",
                to_state=row.state,
                data={"organisation": organisation},
            )
            queue_sla(tx, row, self.ctx.settings, self.ctx.registry, now)
            return self._request_view(row, now)

    def list_requests(
        self, now: datetime, *, states: Sequence[str] | None = None
    ) -> list[RequestView]:
        with self.ctx.store.transaction() as tx:
            return [self._request_view(r, now) for r in tx.requests.find(states=states)]

    def request_view(self, request_id: int, now: datetime) -> RequestView:
        with self.ctx.store.transaction() as tx:
            return self._request_view(tx.requests.get(request_id), now)

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
            days_left=(row.deadline - self.ctx.today(now)).days,
            programme_id=row.programme_id,
        )

    def propose(self, request_id: int, starts: Sequence[date], now: datetime) -> RequestView:
        """Mail the contact the proposed starts, each with the planner's expected workshop
        window; the SLA is met, so the pending reminders are cancelled."""
        chosen = sorted(set(starts))
        if not chosen:
            raise InvalidInputError(_("give at least one --start date"))
        if len(chosen) > MAX_PROPOSALS:
            raise InvalidInputError(_("propose at most {n} start dates").format(n=MAX_PROPOSALS))
        today = self.ctx.today(now)
        if chosen[0] < today:
            raise InvalidInputError(_("--start {day} lies in the past").format(day=chosen[0]))
        with self.ctx.store.transaction() as tx:
            row = tx.requests.get(request_id, for_update=True)
            proposals = [self._proposal(row.workflow, start) for start in chosen]
            self._fire(tx, row, "propose", now, {"starts": [d.isoformat() for d in chosen]})
            row.proposed_starts = [d.isoformat() for d in chosen]
            tx.save(row)
            cancel_sla(tx, request_id)
            facts = request_facts(tx, row, self.settings, self.ctx.registry)
            revision = tx.events.count(entity="request", entity_id=request_id, event="propose")
            draft = proposal_draft(
                facts,
                proposals,
                revision=revision,
                contact_person=facts.consultant or self.settings.lead,
                tz=self.settings.tz,
                now=now,
            )
            tx.outbox.enqueue([draft], now)
        return self.request_view(request_id, now)

    def _proposal(self, workflow: str, start: date) -> Proposal:
        plan = self.ctx.planner.plan(workflow, start)
        return Proposal(start=plan.start, end=plan.end, main=main_meeting(plan.milestones))

    def accept(
        self, request_id: int, acceptance: Acceptance, now: datetime
    ) -> tuple[RequestView, ProgrammeView]:
        """Create the programme and link it to the request, in one transaction."""
        with self.ctx.store.transaction() as tx:
            row = tx.requests.get(request_id)
            REQUEST.fire(RequestState(row.state), "accept")  # fail early, before planning
            workflow, organisation = row.workflow, row.organisation
        new = NewProgramme(
            workflow=workflow,
            organisation=organisation,
            municipality=check_text(acceptance.municipality, "municipality", MAX_NAME),
            consultant=acceptance.consultant,
            tovholder=acceptance.tovholder,
            start=acceptance.start,
            extensions=acceptance.extensions,
        )

        def link(tx: Tx, programme_id: int) -> None:
            row = tx.requests.get(request_id, for_update=True)
            data = {"programme_id": programme_id, "start": acceptance.start.isoformat()}
            self._fire(tx, row, "accept", now, data)
            row.programme_id = programme_id
            row.consultant_id = tx.people.person(acceptance.consultant, now).id
            tx.save(row)
            cancel_sla(tx, request_id)

        programme = self.creation.create_programme(new, now, on_created=link)
        return self.request_view(request_id, now), programme

    def decline(self, request_id: int, reason: str, now: datetime) -> RequestView:
        reason = check_text(reason, "reason", MAX_REASON, required=False, multiline=True)
        with self.ctx.store.transaction() as tx:
            row = tx.requests.get(request_id, for_update=True)
            self._fire(tx, row, "decline", now, {"reason": reason})
            cancel_sla(tx, request_id)
        return self.request_view(request_id, now)

    def assign(self, request_id: int, consultant: Contact, now: datetime) -> RequestView:
        """Give the request to a consultant: the reminders still ahead go to them."""
        with self.ctx.store.transaction() as tx:
            row = tx.requests.get(request_id, for_update=True)
            person = tx.people.person(consultant, now)
            if row.consultant_id == person.id:
                raise ConflictError(
                    _("request {id} is already assigned to {who}").format(
                        id=request_id, who=consultant
                    )
                )
            self._fire(tx, row, "assign", now, {"consultant": str(consultant)})
            row.consultant_id = person.id
            tx.save(row)
            cancel_sla(tx, request_id, reminders_only=True)
            queue_sla(tx, row, self.settings, self.ctx.registry, now)
        return self.request_view(request_id, now)

    def check_sla(self, now: datetime) -> int:
        """Queue every missing SLA notice of the open requests (the daemon's periodic check);
        returns how many were queued."""
        queued = 0
        with self.ctx.store.transaction() as tx:
            for row in tx.requests.find(states=[RequestState.RECEIVED.value]):
                queued += queue_sla(tx, row, self.settings, self.ctx.registry, now)
        if queued:
            log.info("SLA check queued %d request notice(s)", queued)
        return queued

    def _fire(self, tx: Tx, row: Request, event: str, now: datetime, data: dict[str, Any]) -> None:
        before = row.state
        row.state = REQUEST.fire(RequestState(before), event).value
        row.updated_at = now
        tx.save(row)
        tx.events.add(
            at=now,
            actor=self.ctx.actor,
            entity="request",
            entity_id=row.id,
            event=event,
            from_state=before,
            to_state=row.state,
            data=data,
        )
