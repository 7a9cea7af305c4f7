"""Participants of a programme's workshop and course days (issue 11): add, list, remove,
answer, import and export (CSV), and forget a person everywhere.

Service functions over plain values, for the CLI and the tovholder's web page alike. Every
command is one transaction: an import with one bad row imports nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.errors import ConflictError, InvalidInputError, NotFoundError
from engine.domain.i18n import _
from engine.domain.milestone_ref import find_milestone
from engine.domain.model import Contact, ProgrammeState
from engine.domain.participants_csv import ROLES_DA, CsvProblem, format_csv, parse_csv
from engine.domain.states import PROGRAMME
from engine.domain.workflow import ParticipantsDef
from engine.services.answering import ANSWERS, AnswerGiven, record_answer
from engine.services.context import LoadedProgramme, ServiceContext
from engine.services.mailings import Mailings
from engine.services.privacy import forget_person
from engine.store.inbox import answers_for
from engine.store.store import Tx
from engine.store.tables import Participant
from notifications.compose_participants import Headcount, headcount

ROLES = ("employee", "leader")
_ROLE_WORDS = {"employee": "employee", "leader": "leader"} | {v: k for k, v in ROLES_DA.items()}


@dataclass(frozen=True)
class NewParticipant:
    """A participant as the user gives it; ``kind`` is a kind's key or label."""

    name: str
    email: str
    organisation: str
    kind: str
    role: str = "employee"


@dataclass(frozen=True)
class ParticipantView:
    part: str
    name: str
    email: str
    org: str
    kind: str
    kind_label: str
    role: str
    answers: dict[str, str] = field(default_factory=dict)  # meeting key → partstat

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "org": self.org,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "role": self.role,
            "part": self.part,
            "answers": dict(self.answers),
        }


@dataclass(frozen=True)
class MeetingHeadcount:
    part: str
    meeting: str  # the meeting's key
    title: str
    start: datetime | None
    counts: Headcount

    def to_json(self) -> dict[str, Any]:
        start = self.start.isoformat() if self.start else None
        return {
            "part": self.part,
            "meeting": self.meeting,
            "title": self.title,
            "start": start,
            **self.counts.to_json(),
        }


def _text(value: str, what: str, limit: int = 200) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInputError(_("{what} must not be empty").format(what=what))
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise InvalidInputError(_("{what}: control characters are not allowed").format(what=what))
    if len(cleaned) > limit:
        raise InvalidInputError(
            _("{what} is longer than {limit} characters").format(what=what, limit=limit)
        )
    return cleaned


class ParticipantService:
    """``fbh participant …`` over one store."""

    def __init__(self, ctx: ServiceContext, mailings: Mailings) -> None:
        self.ctx = ctx
        self.mailings = mailings
        self.mail = mailings.participants

    # ----- reading ------------------------------------------------------------------------

    def list_participants(
        self, programme_id: int, part: str | None = None
    ) -> list[ParticipantView]:
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id)
            return self._views(tx, loaded, part)

    def headcounts(self, programme_id: int) -> list[MeetingHeadcount]:
        """The counts of every meeting with participants (what the headcount mail says)."""
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id)
            found = []
            for row in loaded.milestones:
                spec = loaded.definitions[row.workflow].participants
                if spec is None or not self.mail.invites_participants(loaded, row):
                    continue
                counts = headcount(self.mail.attendees(tx, loaded, row, spec))
                found.append(
                    MeetingHeadcount(
                        row.workflow,
                        row.key,
                        row.title,
                        row.start_at.astimezone(self.ctx.tz) if row.start_at else None,
                        counts,
                    )
                )
            return found

    def export_csv(self, programme_id: int, part: str | None = None) -> bytes:
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id)
            key, spec = self._part(loaded, part)
            labels = {k.key: k.label for k in spec.kinds}
            return format_csv(
                (p.name, p.email, p.organisation, labels.get(p.kind, p.kind), ROLES_DA[p.role])
                for p in tx.participants.of(programme_id, key)
            )

    # ----- changing -----------------------------------------------------------------------

    def add(
        self, programme_id: int, new: NewParticipant, now: datetime, part: str | None = None
    ) -> ParticipantView:
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id, editing=True)
            key, spec = self._part(loaded, part)
            row = checked_participant(programme_id, key, spec, new, now)
            if tx.participants.find(programme_id, row.email, key):
                raise ConflictError(
                    _("{email} is already a participant of programme {id}").format(
                        email=row.email, id=programme_id
                    )
                )
            tx.participants.add(row)
            self._added(tx, loaded, [row], now)
            return self._view(tx, loaded, row)

    def import_csv(
        self, programme_id: int, data: bytes, now: datetime, part: str | None = None
    ) -> tuple[int, int]:
        """Add the file's participants, or update those already there (by address).
        Returns (added, updated). One bad row: nothing is imported, and every bad row is
        named."""
        rows, problems = parse_csv(data)
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id, editing=True)
            key, spec = self._part(loaded, part)
            existing = {p.email: p for p in tx.participants.of(programme_id, key)}
            seen: dict[str, int] = {}
            checked: list[Participant] = []
            for item in rows:
                new = NewParticipant(item.name, item.email, item.organisation, item.kind)
                try:
                    row = checked_participant(programme_id, key, spec, new, now, role=item.role)
                except InvalidInputError as exc:
                    problems.append(CsvProblem(item.row, str(exc)))
                    continue
                if row.email in seen:
                    problems.append(
                        CsvProblem(
                            item.row,
                            _("{email} is also in row {other}").format(
                                email=row.email, other=seen[row.email]
                            ),
                        )
                    )
                    continue
                seen[row.email] = item.row
                checked.append(row)
            if problems:
                problems.sort(key=lambda p: p.row)
                raise InvalidInputError(
                    _("nothing imported: {problems}").format(
                        problems="; ".join(str(p) for p in problems)
                    )
                )
            added = [row for row in checked if row.email not in existing]
            updated = 0
            for row in checked:
                old = existing.get(row.email)
                if old is None:
                    continue
                old.name, old.organisation, old.kind, old.role = (
                    row.name,
                    row.organisation,
                    row.kind,
                    row.role,
                )
                tx.save(old)
                updated += 1
            tx.participants.add_many(added)
            self._added(tx, loaded, added, now, imported=True)
            return len(added), updated

    def remove(self, programme_id: int, email: str, now: datetime, part: str | None = None) -> int:
        """Take the person off the list; their coming meetings get a CANCEL."""
        address = _address(email)
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id, editing=True)
            key = part if part is None else self._part(loaded, part)[0]
            found = tx.participants.find(programme_id, address, key)
            if not found:
                raise NotFoundError("participant", f"{programme_id}/{address}")
            for row in found:
                tx.participants.remove(row)
                self.mail.invite(tx, loaded, [row], now, method="CANCEL")
                self.ctx.event(
                    tx,
                    now,
                    loaded.programme,
                    "participant_removed",
                    None,
                    None,
                    data={"email": row.email, "part": row.part},
                )
            self.mail.refresh_all(tx, loaded, now)
            return len(found)

    def answer(
        self, programme_id: int, email: str, meeting: str, answer: str, now: datetime
    ) -> ParticipantView | None:
        """Record an answer by hand, as if it had come by mail."""
        address = _address(email)
        partstat = answer.strip().lower()
        if partstat not in ANSWERS:
            raise InvalidInputError(
                _("invalid answer {answer!r}: expected one of {allowed}").format(
                    answer=answer, allowed=", ".join(ANSWERS)
                )
            )
        with self.ctx.store.transaction() as tx:
            loaded = self._load(tx, programme_id, editing=True)
            row = find_milestone(loaded.milestones, meeting, programme_id)
            invited = {i.recipient for i in tx.invites.find(row.id or 0) if i.method == "REQUEST"}
            listed = {p.email for p in tx.participants.of(programme_id, row.workflow)}
            if row.kind != "meeting" or address not in invited | listed:
                raise ConflictError(
                    _("{email} is not invited to {meeting} of programme {id}").format(
                        email=address, meeting=row.key, id=programme_id
                    )
                )
            given = AnswerGiven(address, partstat, now, row.sequence, "MANUAL")
            record_answer(self.ctx, tx, row, given, now)
            mine = [p for p in tx.participants.find(programme_id, address, row.workflow)]
            return self._view(tx, loaded, mine[0]) if mine else None

    def forget(self, email: str, now: datetime) -> dict[str, int]:
        """Erase the person everywhere (GDPR article 17); the audit log keeps a pseudonym."""
        return forget_person(self.ctx, self.mail, _address(email), now)

    # ----- helpers ------------------------------------------------------------------------

    def _load(self, tx: Tx, programme_id: int, *, editing: bool = False) -> LoadedProgramme:
        programme = tx.programmes.get(programme_id, for_update=editing)
        if editing:
            PROGRAMME.fire(ProgrammeState(programme.state), "edit")
        return self.ctx.load(tx, programme)

    def _part(self, loaded: LoadedProgramme, part: str | None) -> tuple[str, ParticipantsDef]:
        """The part (workflow key) the participants belong to: the base by default."""
        parts = [
            key
            for key in (loaded.programme.workflow, *loaded.programme.extensions)
            if loaded.definitions[key].participants is not None
        ]
        key = part or loaded.programme.workflow
        spec = loaded.definitions[key].participants if key in loaded.definitions else None
        if spec is None:
            raise InvalidInputError(
                _(
                    "programme {id} has no participants in {part!r}; parts with participants: "
                    "{parts}"
                ).format(id=loaded.programme.id, part=key, parts=", ".join(parts) or "-")
            )
        return key, spec

    def _added(
        self,
        tx: Tx,
        loaded: LoadedProgramme,
        rows: Sequence[Participant],
        now: datetime,
        *,
        imported: bool = False,
    ) -> None:
        if not rows:
            return
        self.mail.invite(tx, loaded, rows, now)
        self.mail.refresh_all(tx, loaded, now)
        for row in rows:
            self.ctx.event(
                tx,
                now,
                loaded.programme,
                "participant_added",
                None,
                None,
                data={"email": row.email, "part": row.part, "imported": imported},
            )

    def _views(self, tx: Tx, loaded: LoadedProgramme, part: str | None) -> list[ParticipantView]:
        programme_id = loaded.programme.id or 0
        key = None if part is None else self._part(loaded, part)[0]
        meetings = {r.id: r for r in loaded.milestones}
        answers: dict[tuple[str, int], str] = {}
        for a in answers_for(tx, programme_id=programme_id):
            row = meetings.get(a.milestone_id)
            if row is not None and a.start_at == row.start_at:
                answers[(a.email, a.milestone_id)] = a.partstat
        views = []
        for p in tx.participants.of(programme_id, key):
            views.append(self._view(tx, loaded, p, answers))
        return views

    def _view(
        self,
        tx: Tx,
        loaded: LoadedProgramme,
        p: Participant,
        answers: dict[tuple[str, int], str] | None = None,
    ) -> ParticipantView:
        if answers is None:
            answers = {
                (a.email, a.milestone_id): a.partstat
                for a in answers_for(tx, programme_id=loaded.programme.id)
                if a.email == p.email
                and a.start_at
                == next((r.start_at for r in loaded.milestones if r.id == a.milestone_id), None)
            }
        spec = loaded.definitions[p.part].participants
        label = next((k.label for k in spec.kinds if k.key == p.kind), p.kind) if spec else p.kind
        return ParticipantView(
            part=p.part,
            name=p.name,
            email=p.email,
            org=p.organisation,
            kind=p.kind,
            kind_label=label,
            role=p.role,
            answers={
                row.key: answers.get((p.email, row.id or 0), "needs-action")
                for row in self.mail.meetings(loaded, p.part)
            },
        )


def _address(text: str) -> str:
    if "<" in text or ">" in text:
        raise InvalidInputError(
            _("invalid e-mail address {email!r}: give the address alone").format(email=text)
        )
    return Contact.parse(text.strip()).email


def checked_participant(
    programme_id: int,
    part: str,
    spec: ParticipantsDef,
    new: NewParticipant,
    now: datetime,
    *,
    role: str | None = None,
) -> Participant:
    """The participant as stored, or InvalidInputError saying what is wrong."""
    kind = spec.kind(new.kind)
    if kind is None:
        allowed = ", ".join(f"{k.key} ({k.label})" for k in spec.kinds)
        raise InvalidInputError(
            _("unknown type {kind!r}; the types are: {allowed}").format(
                kind=new.kind, allowed=allowed
            )
        )
    given = (role if role is not None else new.role).strip().lower()
    if given not in _ROLE_WORDS:
        raise InvalidInputError(
            _("invalid role {role!r}: expected employee or leader (medarbejder, leder)").format(
                role=role if role is not None else new.role
            )
        )
    return Participant(
        programme_id=programme_id,
        part=part,
        name=_text(new.name, _("name")),
        email=_address(new.email),
        organisation=_text(new.organisation, _("organisation")),
        kind=kind.key,
        role=_ROLE_WORDS[given],
        created_at=now,
    )
