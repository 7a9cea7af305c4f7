"""The mail a programme's milestones queue: invites and their ledger, reminders and task
notices, and what changes when a milestone's dates change or it is called off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine.domain.horizon import Split, horizon_end, split_at
from engine.domain.model import Contact, MilestoneKind, OutboxDraft, ProgrammeState, Role
from engine.domain.planning import PlannedMilestone
from engine.domain.workflow import MilestoneDef, WorkflowDefinition
from engine.services.context import LoadedProgramme, ServiceContext
from engine.services.participant_mail import ParticipantMail
from engine.store.inbox import standing_answers
from engine.store.store import Milestone, Tx
from notifications import compose
from notifications.compose import MeetingFacts, ProgrammeFacts

REQUEST = "REQUEST"
CANCEL = "CANCEL"


class Mailings:
    """Queues and cancels a programme's mail inside the caller's transaction."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.participants = ParticipantMail(ctx, self.queue_invites)

    def attendees(
        self, facts: ProgrammeFacts, definition: MilestoneDef
    ) -> list[tuple[Contact, Role]]:
        """The consultant always gets the invite; then the meeting's other addressable roles."""
        return facts.recipients((Role.CONSULTANT, *definition.attendees))

    def queue_invites(
        self,
        tx: Tx,
        loaded: LoadedProgramme,
        row: Milestone,
        recipients: Sequence[tuple[Contact, Role | str]],
        method: str,
        now: datetime,
        *,
        is_update: bool,
        ical_roles: dict[str, str] | None = None,
        uninvited: bool = False,
    ) -> None:
        assert row.id is not None and loaded.programme.id is not None
        planned = self.ctx.planned(row)
        meeting = MeetingFacts(row.id, planned, loaded.definition_of(row), row.sequence)
        drafts = compose.invite_drafts(
            loaded.facts,
            meeting,
            method=method,
            recipients=recipients,
            now=now,
            is_update=is_update,
            answers=standing_answers(tx, row),
            ical_roles=ical_roles,
            uninvited=uninvited,
        )
        tx.outbox.enqueue(drafts, now)
        uid = compose.uid_for(loaded.facts, meeting.planned)
        for contact, _role in recipients:
            tx.invites.record(
                programme_id=loaded.programme.id,
                milestone_id=row.id,
                recipient=contact.email,
                uid=uid,
                sequence=row.sequence,
                method=method,
                now=now,
            )

    def queue_timed(self, tx: Tx, loaded: LoadedProgramme, row: Milestone, now: datetime) -> None:
        """Queue the milestone's reminders and task notice that still lie ahead, those due
        within the horizon now; the milestone keeps the due time of the first of the others
        (``timed_from``), from which :meth:`top_up` queues them later."""
        self.queue_timed_from(tx, loaded, row, now, now)
        if self.participants.invites_participants(loaded, row):
            self.participants.refresh(tx, loaded, row, now)

    def queue_timed_from(
        self, tx: Tx, loaded: LoadedProgramme, row: Milestone, since: datetime, now: datetime
    ) -> int:
        """Queue the milestone's timed mail due after ``since`` and within the horizon from
        ``now``; set its mark. Returns how many rows were new (a dedupe key queued already
        is skipped, so running this twice queues nothing more)."""
        assert row.id is not None
        split = self.timed_split(
            loaded.facts,
            row.id,
            self.ctx.planned(row),
            loaded.definition_of(row),
            row.sequence,
            since,
            now,
        )
        row.timed_from = split.mark
        tx.save(row)
        return tx.outbox.enqueue(split.queue, now)

    def timed_split(
        self,
        facts: ProgrammeFacts,
        milestone_id: int,
        planned: PlannedMilestone,
        definition: MilestoneDef,
        sequence: int,
        since: datetime,
        now: datetime,
        times: Sequence[datetime] | None = None,
    ) -> Split:
        """The milestone's timed mail due after ``since``, split at the horizon from ``now``.
        Only its due times are computed when none of it falls within the horizon (``times``:
        :meth:`due_times` with ``since``, when the caller has them)."""
        until = horizon_end(now, self.ctx.settings.mail.queue_ahead_days)
        if times is None:
            times = self.due_times(planned, definition, since)
        if not times or min(times) >= until:
            return Split([], min(times, default=None))
        drafts = self.timed_drafts(facts, milestone_id, planned, definition, sequence, since)
        return split_at(drafts, until)

    def due_times(
        self, planned: PlannedMilestone, definition: MilestoneDef, since: datetime
    ) -> list[datetime]:
        """When the milestone's timed mail due after ``since`` falls due."""
        return compose.timed_due_times(
            planned, definition, calendar=self.ctx.calendar, tz=self.ctx.tz, now=since
        )

    def timed_drafts(
        self,
        facts: ProgrammeFacts,
        milestone_id: int,
        planned: PlannedMilestone,
        definition: MilestoneDef,
        sequence: int,
        now: datetime,
    ) -> list[OutboxDraft]:
        """The milestone's reminders and task notice that still lie ahead."""
        tz = self.ctx.tz
        drafts = compose.reminder_drafts(
            facts,
            milestone_id,
            planned,
            definition,
            sequence=sequence,
            calendar=self.ctx.calendar,
            tz=tz,
            now=now,
        )
        drafts += compose.task_notice_drafts(
            facts, milestone_id, planned, definition, tz=tz, now=now
        )
        return drafts

    def cancel_meeting_invites(
        self, tx: Tx, loaded: LoadedProgramme, row: Milestone, now: datetime
    ) -> None:
        """Send CANCEL to everyone who may have the meeting in their calendar."""
        if row.kind != MilestoneKind.MEETING.value or row.start_at is None or row.start_at <= now:
            return
        assert row.id is not None
        tx.outbox.cancel_pending(loaded.programme.id or 0, milestone_id=row.id)
        delivered = tx.outbox.delivered_invites(row.id)
        holders = [
            i for i in tx.invites.find(row.id) if i.method == REQUEST and i.recipient in delivered
        ]
        if not holders:
            return
        row.sequence += 1
        tx.save(row)
        names: dict[str, tuple[Contact, Role | str]] = {
            c.email: (c, r) for c, r in loaded.facts.recipients(list(Role))
        }
        for contact, role in self.participants.people(tx, loaded, row):
            names.setdefault(contact.email, (contact, role))
        recipients = [
            names.get(i.recipient, (Contact(i.recipient, i.recipient), "")) for i in holders
        ]
        roles = self.participants.ical_roles(
            loaded, row, [c.email for c, r in recipients if r == "participant"]
        )
        self.queue_invites(
            tx, loaded, row, recipients, CANCEL, now, is_update=True, ical_roles=roles
        )

    def requeue_changed(
        self, tx: Tx, loaded: LoadedProgramme, row: Milestone, now: datetime
    ) -> None:
        """After a milestone's dates changed: drop its pending mail, queue updates anew."""
        assert row.id is not None
        tx.outbox.cancel_pending(loaded.programme.id or 0, milestone_id=row.id)
        tx.save(row)
        if row.kind == MilestoneKind.MEETING.value and row.end_at is not None and row.end_at > now:
            recorded = {i.recipient for i in tx.invites.find(row.id)}
            everyone: list[tuple[Contact, Role | str]] = [
                *self.attendees(loaded.facts, loaded.definition_of(row)),
                *self.participants.people(tx, loaded, row),
            ]
            recipients = [pair for pair in everyone if not recorded or pair[0].email in recorded]
            roles = self.participants.ical_roles(
                loaded, row, [c.email for c, r in recipients if r == "participant"]
            )
            self.queue_invites(
                tx,
                loaded,
                row,
                recipients,
                REQUEST,
                now,
                is_update=bool(recorded),
                ical_roles=roles,
            )
        if loaded.programme.state != ProgrammeState.PAUSED.value:
            self.queue_timed(tx, loaded, row, now)

    def summary(
        self,
        facts: ProgrammeFacts,
        workflows: Sequence[WorkflowDefinition],
        milestones: Sequence[tuple[PlannedMilestone, MilestoneDef]],
        now: datetime,
        page_url: str = "",
        contexts: Sequence[dict[str, Any]] | None = None,
    ) -> OutboxDraft:
        """The tovholder's overview of the programme as it stands, every part's budget in it,
        and the link to the tovholder's page (``page_url``; ``contexts``: see
        :func:`compose.summary_draft`)."""
        budgets = []
        for definition in workflows:
            budget = self.budget_context(definition)
            if budget is not None:
                budgets.append(budget | {"title": definition.title})
        base = self.budget_context(workflows[0])
        return compose.summary_draft(
            facts,
            milestones,
            budget=base,
            budgets=budgets,
            now=now,
            page_url=page_url,
            contexts=contexts,
        )

    def refresh_summary(self, tx: Tx, loaded: LoadedProgramme, now: datetime) -> None:
        """A summary not sent yet shows the programme as it is when it goes out: its queued
        context is rebuilt after every change of dates."""
        pairs = [(self.ctx.planned(row), loaded.definition_of(row)) for row in loaded.milestones]
        draft = self.summary(loaded.facts, (loaded.base, *loaded.extensions), pairs, now)
        queued = tx.outbox.pending_payload(draft.dedupe_key) or {}
        link = queued.get("context", {}).get("page_url", "")  # its token is not stored
        draft.payload["context"]["page_url"] = link
        tx.outbox.replace_pending_payload(draft.dedupe_key, draft.payload)

    def budget_context(self, definition: WorkflowDefinition) -> dict[str, Any] | None:
        """The time budget as the summary mail shows it (None: the workflow has none)."""
        if definition.budget is None:
            return None
        per_day = self.ctx.settings.engine.hours_per_workday
        low = definition.budget.minimum.to_hours(per_day)
        high = definition.budget.maximum.to_hours(per_day)
        return {
            "role": definition.budget.role.value,
            "min_hours": low,
            "max_hours": high,
            "text": budget_text(definition.budget.minimum, definition.budget.maximum, low, high),
        }


def budget_text(minimum: Any, maximum: Any, low: float, high: float) -> str:
    """``2–3 arbejdsdage (14,8–22,2 timer)`` or ``5–10 timer``."""

    def num(value: float) -> str:
        return f"{value:g}".replace(".", ",")

    hours = f"{num(low)}–{num(high)} timer"
    if minimum.workdays and maximum.workdays and not minimum.hours and not maximum.hours:
        return f"{num(minimum.workdays)}–{num(maximum.workdays)} arbejdsdage ({hours})"
    return hours
