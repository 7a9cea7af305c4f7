"""Handing a programme's role over (``fbh programme edit ID --tovholder … | --consultant …``).

:meth:`Handover.hand_over` is the one place a role changes hands: it changes the programme,
moves the invites of the future meetings (RFC 5546 §3.2.2: the removed attendee gets a
``CANCEL`` naming them, the new attendee and the others an updated ``REQUEST`` with the new
attendee list), moves the queued reminders, task notices and check-ins to the new person, and
writes one ``handover`` event. Whatever else must follow a handover belongs in
:meth:`Handover._after`, inside the same transaction: today, revoking the old tovholder's page
links.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from engine.domain.errors import ConflictError, InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import Contact, MilestoneKind, MilestoneState, ProgrammeState, Role
from engine.domain.states import MILESTONE, PROGRAMME
from engine.domain.views import ProgrammeView
from engine.services.checkins import CheckinDesk
from engine.services.context import LoadedProgramme, ServiceContext
from engine.services.mailings import CANCEL, REQUEST, Mailings
from engine.services.pages import revoke_page_tokens
from engine.store.store import Milestone, Programme, Tx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoleChange:
    role: Role  # consultant | tovholder
    old: Contact
    new: Contact
    meetings: int  # future meetings whose invites moved


class Handover:
    """Hands the tovholder or consultant role of a programme to someone else."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings, checkins: CheckinDesk) -> None:
        self.ctx = ctx
        self.mailings = mailings
        self.checkins = checkins

    def edit(
        self,
        programme_id: int,
        now: datetime,
        *,
        tovholder: Contact | None = None,
        consultant: Contact | None = None,
    ) -> tuple[ProgrammeView, list[RoleChange]]:
        """Hand over the roles given, in one transaction."""
        if tovholder is None and consultant is None:
            raise InvalidInputError(_("give --tovholder or --consultant (or both)"))
        changes: list[RoleChange] = []
        with self.ctx.store.transaction() as tx:
            programme = tx.programmes.get(programme_id, for_update=True)
            for role, contact in ((Role.CONSULTANT, consultant), (Role.TOVHOLDER, tovholder)):
                if contact is not None:
                    change = self.hand_over(tx, programme, role, contact, now)
                    if change is not None:
                        changes.append(change)
        return self.ctx.show(programme_id), changes

    def hand_over(
        self, tx: Tx, programme: Programme, role: Role, new: Contact, now: datetime
    ) -> RoleChange | None:
        """Give ``role`` to ``new`` inside ``tx``; None when they already have it."""
        assert programme.id is not None
        completed = programme.state == ProgrammeState.COMPLETED.value
        if not (completed and role == Role.TOVHOLDER):  # the continuing tovholder: after the end
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
        before = self.ctx.load(tx, programme)
        old = before.facts.contact_for(role)
        assert old is not None
        if old.email == new.email:
            return None
        other = before.facts.consultant if role == Role.TOVHOLDER else before.facts.tovholder
        if new.email == other.email:
            raise ConflictError(
                _("{email} is already this programme's {other}").format(
                    email=new.email, other="consultant" if role == Role.TOVHOLDER else "tovholder"
                )
            )
        person = tx.people.person(new, now)
        assert person.id is not None
        meetings = self._future_meetings(before, role, now)
        if role == Role.CONSULTANT:
            self._check_free(tx, person.id, meetings)
            tx.people.lock(person.id)
            programme.consultant_id = person.id
        else:
            programme.tovholder_id = person.id
        programme.updated_at = now
        tx.save(programme)
        after = self.ctx.load(tx, programme)
        contact = Contact(person.name, person.email)
        for row in meetings:
            self._move_invites(tx, before, after, row, old, now)
        for row in after.milestones:  # tasks owned by the role: their notices
            if row.kind == MilestoneKind.TASK.value and not _closed(row):
                tx.outbox.cancel_pending(programme.id, milestone_id=row.id)
                if programme.state != ProgrammeState.PAUSED.value:
                    self.mailings.queue_timed(tx, after, row, now)
        if role == Role.TOVHOLDER:
            self.checkins.requeue(tx, after, now)
        self.ctx.event(
            tx,
            now,
            programme,
            "handover",
            programme.state,
            programme.state,
            data={
                "role": role.value,
                "from": str(old),
                "to": str(contact),
                "meetings": len(meetings),
            },
        )
        self._after(tx, programme, role, old, contact, now)
        return RoleChange(role, old, contact, len(meetings))

    def _after(
        self, tx: Tx, programme: Programme, role: Role, old: Contact, new: Contact, now: datetime
    ) -> None:
        """What else follows a handover, in its transaction: the old tovholder's page links
        stop working (docs/tovholder-page.md)."""
        if role == Role.TOVHOLDER and programme.id is not None:
            revoke_page_tokens(tx, programme.id, now, actor=self.ctx.actor)
        log.info("programme %s: %s handed over from %s to %s", programme.id, role, old, new)

    def _future_meetings(
        self, loaded: LoadedProgramme, role: Role, now: datetime
    ) -> list[Milestone]:
        """The meetings ahead that ``role`` attends."""
        found = []
        for row in loaded.milestones:
            if row.kind != MilestoneKind.MEETING.value or _closed(row):
                continue
            if row.start_at is None or row.start_at <= now:
                continue
            if role == Role.CONSULTANT or role in loaded.definition_of(row).attendees:
                found.append(row)
        return found

    def _check_free(self, tx: Tx, person_id: int, meetings: list[Milestone]) -> None:
        """The new consultant must not have another meeting at the same time."""
        busy = tx.programmes.consultant_busy(person_id)
        for row in meetings:
            assert row.start_at is not None and row.end_at is not None
            for slot in busy:
                if slot.start < row.end_at and row.start_at < slot.end:
                    when = row.start_at.astimezone(self.ctx.tz)
                    raise ConflictError(
                        _(
                            "the new consultant has another meeting at the time of {key} "
                            "({when}); move one of them first"
                        ).format(key=row.key, when=f"{when:%Y-%m-%d %H:%M}")
                    )

    def _move_invites(
        self,
        tx: Tx,
        before: LoadedProgramme,
        after: LoadedProgramme,
        row: Milestone,
        old: Contact,
        now: datetime,
    ) -> None:
        """CANCEL to the old person (if their invite went out), an updated REQUEST to the
        new attendee list; reminders re-queued for the people who attend now."""
        assert row.id is not None and after.programme.id is not None
        delivered = tx.outbox.delivered_invites(row.id)
        tx.outbox.cancel_pending(after.programme.id, milestone_id=row.id)
        row.sequence += 1
        row.updated_at = now
        tx.save(row)
        if old.email in delivered:
            old_role = next(
                r for c, r in before.facts.recipients(list(Role)) if c.email == old.email
            )
            self.mailings.queue_invites(
                tx, before, row, [(old, old_role)], CANCEL, now, is_update=True
            )
        recorded = {i.recipient for i in tx.invites.find(row.id) if i.method == REQUEST}
        everyone: list[tuple[Contact, Role | str]] = [
            *self.mailings.attendees(after.facts, after.definition_of(row)),
            *self.mailings.participants.people(tx, after, row),
        ]
        new = after.facts.contact_for(role_of(before, old))
        recipients = [
            pair
            for pair in everyone
            if not recorded or pair[0].email in recorded or (new and pair[0].email == new.email)
        ]
        roles = self.mailings.participants.ical_roles(
            after, row, [c.email for c, r in recipients if r == "participant"]
        )
        self.mailings.queue_invites(
            tx, after, row, recipients, REQUEST, now, is_update=True, ical_roles=roles
        )
        if after.programme.state != ProgrammeState.PAUSED.value:
            self.mailings.queue_timed(tx, after, row, now)


def role_of(loaded: LoadedProgramme, person: Contact) -> Role:
    """The role ``person`` had in ``loaded`` (the consultant or the tovholder)."""
    return Role.CONSULTANT if loaded.facts.consultant.email == person.email else Role.TOVHOLDER


def _closed(row: Milestone) -> bool:
    return MILESTONE.is_terminal(MilestoneState(row.state))


__all__ = ["Handover", "RoleChange"]
