"""The mail of a meeting's participants, inside the caller's transaction: their invites and
cancellations, the reminder to those who have not answered, and the tovholder's headcount.

:meth:`ParticipantMail.refresh` is idempotent: after any change (a participant added or
removed, an answer, a meeting moved, a programme resumed) it leaves exactly the right
reminders and headcount pending, the headcount's payload rebuilt with the answers so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from engine.domain.model import (
    Contact,
    MilestoneKind,
    MilestoneState,
    OutboxDraft,
    ProgrammeState,
    Role,
)
from engine.domain.planning import reminder_times
from engine.domain.workflow import Offset, ParticipantsDef, ReminderDef, WorkflowDefinition
from engine.services.context import LoadedProgramme, ServiceContext
from engine.store.inbox import standing_answers
from engine.store.store import Milestone, Tx
from engine.store.tables import Participant
from notifications.compose import MeetingFacts
from notifications.compose_participants import (
    Attendee,
    headcount_draft,
    reminder_draft,
)

PARTICIPANT = "participant"  # the role of a participant among a meeting's attendees
MAIL_KINDS = ("participant_reminder", "headcount")
_OPEN = (MilestoneState.PLANNED.value, MilestoneState.SCHEDULED.value)


QueueInvites = Callable[..., None]  # Mailings.queue_invites (engine/services/mailings.py)


class ParticipantMail:
    """Queues the participants' mail of one meeting; invites go through ``queue_invites``,
    the one path every invite of a meeting takes."""

    def __init__(self, ctx: ServiceContext, queue_invites: QueueInvites) -> None:
        self.ctx = ctx
        self.queue_invites = queue_invites

    # ----- who ----------------------------------------------------------------------------

    @staticmethod
    def definition(loaded: LoadedProgramme, part: str) -> WorkflowDefinition:
        return loaded.definitions[part]

    def invites_participants(self, loaded: LoadedProgramme, row: Milestone) -> bool:
        if row.kind != MilestoneKind.MEETING.value:
            return False
        return Role.PARTICIPANTS in loaded.definition_of(row).attendees

    def meetings(self, loaded: LoadedProgramme, part: str) -> list[Milestone]:
        """The part's meetings that invite participants."""
        return [
            row
            for row in loaded.milestones
            if row.workflow == part and self.invites_participants(loaded, row)
        ]

    def people(
        self, tx: Tx, loaded: LoadedProgramme, row: Milestone
    ) -> list[tuple[Contact, Role | str]]:
        """The meeting's participants as invite recipients."""
        if not self.invites_participants(loaded, row):
            return []
        return [
            (Contact(p.name, p.email), PARTICIPANT)
            for p in tx.participants.of(loaded.programme.id or 0, row.workflow)
        ]

    def ical_roles(
        self, loaded: LoadedProgramme, row: Milestone, emails: Sequence[str]
    ) -> dict[str, str]:
        spec = loaded.definitions[row.workflow].participants
        role = spec.attendee_role if spec else "REQ-PARTICIPANT"
        return dict.fromkeys(emails, role)

    @staticmethod
    def upcoming(row: Milestone, now: datetime) -> bool:
        return row.state in _OPEN and row.start_at is not None and row.start_at > now

    # ----- invites ------------------------------------------------------------------------

    def invite(
        self,
        tx: Tx,
        loaded: LoadedProgramme,
        participants: Sequence[Participant],
        now: datetime,
        *,
        method: str = "REQUEST",
    ) -> None:
        """Send the part's coming meetings' invite (or, ``CANCEL``, their withdrawal) to
        ``participants``, all of one part."""
        if not participants or loaded.programme.state in (
            ProgrammeState.CANCELLED.value,
            ProgrammeState.COMPLETED.value,
        ):
            return
        recipients: list[tuple[Contact, Role | str]] = [
            (Contact(p.name, p.email), PARTICIPANT) for p in participants
        ]
        for row in self.meetings(loaded, participants[0].part):
            if not self.upcoming(row, now):
                continue
            if method == "CANCEL":
                row.sequence += 1  # a changed attendee list is a new version of the meeting
                tx.save(row)
            roles = self.ical_roles(loaded, row, [c.email for c, _ in recipients])
            self.queue_invites(
                tx,
                loaded,
                row,
                recipients,
                method,
                now,
                is_update=False,
                ical_roles=roles,
                uninvited=method == "CANCEL",
            )

    # ----- reminders and headcount --------------------------------------------------------

    def refresh_all(self, tx: Tx, loaded: LoadedProgramme, now: datetime) -> None:
        for row in loaded.milestones:
            if self.invites_participants(loaded, row):
                self.refresh(tx, loaded, row, now)

    def refresh(self, tx: Tx, loaded: LoadedProgramme, row: Milestone, now: datetime) -> None:
        """Leave exactly the meeting's current reminders and headcount pending."""
        assert row.id is not None
        spec = loaded.definitions[row.workflow].participants
        wanted: list[OutboxDraft] = []
        keep: list[str] = []
        active = (
            spec is not None
            and self.upcoming(row, now)
            and loaded.programme.state
            in (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value)
        )
        if active:
            assert spec is not None
            meeting = MeetingFacts(
                row.id, self.ctx.planned(row), loaded.definition_of(row), row.sequence
            )
            attendees = self.attendees(tx, loaded, row, spec)
            wanted = self._drafts(loaded, meeting, attendees, spec, now)
            keep = [d.dedupe_key for d in wanted]
        tx.outbox.cancel_pending(
            loaded.programme.id or 0, kinds=MAIL_KINDS, milestone_id=row.id, keep=keep
        )
        if not wanted:
            return
        tx.outbox.enqueue(wanted, now)
        for draft in wanted:
            if draft.kind == "headcount":
                tx.outbox.replace_pending_payload(draft.dedupe_key, draft.payload)

    def _drafts(
        self,
        loaded: LoadedProgramme,
        meeting: MeetingFacts,
        attendees: list[Attendee],
        spec: ParticipantsDef,
        now: datetime,
    ) -> list[OutboxDraft]:
        facts = loaded.facts
        drafts: list[OutboxDraft] = []
        if spec.reminder is not None:
            due = self._due(meeting, spec.reminder)
            if due > now:
                drafts += [
                    reminder_draft(facts, meeting, a.contact, due=due)
                    for a in attendees
                    if a.partstat == "needs-action"
                ]
        if spec.headcount is not None and attendees:
            due = self._due(meeting, spec.headcount)
            if due > now:
                drafts.append(headcount_draft(facts, meeting, attendees, due=due))
        return drafts

    def _due(self, meeting: MeetingFacts, before: Offset) -> datetime:
        reminder = ReminderDef(before=before, to=())
        return reminder_times(meeting.planned, reminder, self.ctx.calendar, self.ctx.tz)

    def attendees(
        self, tx: Tx, loaded: LoadedProgramme, row: Milestone, spec: ParticipantsDef
    ) -> list[Attendee]:
        """The meeting's participants with their standing answers."""
        answers = standing_answers(tx, row)
        labels = {k.key: k.label for k in spec.kinds}
        return [
            Attendee(
                contact=Contact(p.name, p.email),
                organisation=p.organisation,
                kind_label=labels.get(p.kind, p.kind),
                role=p.role,
                partstat=answers.get(p.email, "NEEDS-ACTION").lower(),
            )
            for p in tx.participants.of(loaded.programme.id or 0, row.workflow)
        ]
