"""The participants section of the tovholder's page: the list with each person's answers, a
form to add a person, the CSV upload and download (the Danish Excel format of
``fbh participant import|export``) and the lunch headcount.

The changes call :class:`~engine.services.participants.ParticipantService` (the CLI's use
cases) with the actor ``tovholder:{email}``. The form's fields are bounded and checked here
first, with a Danish message beside the field; a CSV file is refused over ``CSV_LIMIT``.
The participants are those of the programme's base workflow (the workshop's).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.errors import ConflictError, FieldError, InvalidInputError
from engine.domain.i18n import N_
from engine.domain.model import Contact
from engine.services.context import ServiceContext
from engine.services.facade import Fbh
from engine.services.mailings import Mailings
from engine.services.pages import PageAccess
from engine.services.participants import NewParticipant, ParticipantService
from notifications.compose_inbound import PARTSTAT_DA
from notifications.render import da_datetime

LANGUAGE = "da"
CSV_LIMIT = 100_000  # bytes: a list of a workshop's participants, with room to spare
MAX_TEXT = 200
ROLES = {"employee": "medarbejder", "leader": "leder"}


@dataclass
class PersonForm:
    name: str = ""
    email: str = ""
    org: str = ""
    kind: str = ""
    role: str = "employee"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, data: Mapping[str, str]) -> PersonForm:
        def text(key: str, default: str = "") -> str:
            return str(data.get(key, default))[: MAX_TEXT * 2]

        return cls(
            name=text("name"),
            email=text("email"),
            org=text("org"),
            kind=text("kind"),
            role=text("role", "employee"),
        )

    def context(self) -> dict[str, Any]:
        names = ("", "name", "email", "org", "kind", "role", "file")
        errors = {name: "" for name in names} | self.errors
        values = {"name": self.name, "email": self.email, "org": self.org, "kind": self.kind}
        return values | {"role": self.role, "errors": errors, "failed": bool(self.errors)}


class PageParticipants:
    def __init__(self, fbh: Fbh) -> None:
        self.fbh = fbh

    def has_participants(self, access: PageAccess) -> bool:
        with self.fbh.store.transaction() as tx:
            programme = tx.programmes.get(access.programme_id)
            return self.fbh.load(tx, programme).base.participants is not None

    def context(self, access: PageAccess) -> dict[str, Any] | None:
        """The section's template context; None when the programme has no participants."""
        if not self.has_participants(access):
            return None
        service = self.fbh.participants
        people = service.list_participants(access.programme_id, self._base(access))
        counts = service.headcounts(access.programme_id)
        with self.fbh.store.transaction() as tx:
            programme = tx.programmes.get(access.programme_id)
            loaded = self.fbh.load(tx, programme)
            spec = loaded.base.participants
            titles = {m.key: m.title for m in loaded.milestones if m.workflow == programme.workflow}
        assert spec is not None
        return {
            "kinds": [{"key": k.key, "label": k.label} for k in spec.kinds],
            "people": [
                {
                    "name": p.name,
                    "email": p.email,
                    "org": p.org,
                    "kind": p.kind_label,
                    "role": ROLES.get(p.role, p.role),
                    "answers": [
                        {"title": titles.get(key, key), "answer": PARTSTAT_DA.get(value, value)}
                        for key, value in p.answers.items()
                    ],
                }
                for p in people
            ],
            "headcounts": [
                {
                    "title": c.title,
                    "when": da_datetime(c.start) if c.start else "",
                    **c.counts.to_json(),
                }
                for c in counts
                if c.part == self._base(access)
            ],
        }

    def add(self, access: PageAccess, form: PersonForm, now: datetime) -> bool:
        kinds = self._kinds(access)
        _check(form, "name", lambda: text_field(form.name, "name"))
        _check(form, "org", lambda: text_field(form.org, "org"))
        _check(form, "email", lambda: email_field(form.email))
        if form.kind not in kinds:
            form.errors["kind"] = FieldError("kind", N_("choose a type")).in_language(LANGUAGE)
        if form.role not in ROLES:
            form.errors["role"] = FieldError("role", N_("choose a role")).in_language(LANGUAGE)
        if form.errors:
            return False
        new = NewParticipant(form.name, form.email, form.org, form.kind, form.role)
        try:
            self._service(access).add(access.programme_id, new, now, self._base(access))
        except ConflictError:
            message = FieldError("email", N_("this person is on the list already"))
            form.errors["email"] = message.in_language(LANGUAGE)
            return False
        except InvalidInputError as exc:
            form.errors[""] = str(exc)
            return False
        return True

    def import_csv(self, access: PageAccess, data: bytes, now: datetime) -> tuple[int, int]:
        """(added, updated); FieldError on the ``file`` field when refused."""
        if not data:
            raise FieldError("file", N_("choose a CSV file"))
        if len(data) > CSV_LIMIT:
            raise FieldError(
                "file", N_("the file is larger than {limit} kB"), limit=CSV_LIMIT // 1000
            )
        try:
            return self._service(access).import_csv(
                access.programme_id, data, now, self._base(access)
            )
        except InvalidInputError as exc:
            raise FieldError("file", "{text}", text=str(exc)) from exc

    def export_csv(self, access: PageAccess) -> bytes:
        return self.fbh.participants.export_csv(access.programme_id, self._base(access))

    def _base(self, access: PageAccess) -> str:
        with self.fbh.store.transaction() as tx:
            return tx.programmes.get(access.programme_id).workflow

    def _kinds(self, access: PageAccess) -> set[str]:
        with self.fbh.store.transaction() as tx:
            spec = self.fbh.load(tx, tx.programmes.get(access.programme_id)).base.participants
        return {k.key for k in spec.kinds} if spec else set()

    def _service(self, access: PageAccess) -> ParticipantService:
        with self.fbh.store.transaction() as tx:
            email = tx.people.get(access.person_id).email
        ctx = ServiceContext(
            self.fbh.settings, self.fbh.store, self.fbh.registry, actor=f"tovholder:{email}"
        )
        return ParticipantService(ctx, Mailings(ctx))


def _check(form: PersonForm, name: str, check: Any) -> None:
    try:
        check()
    except FieldError as exc:
        form.errors[name] = exc.in_language(LANGUAGE)


def text_field(value: str, name: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise FieldError(name, N_("fill in this field"))
    if any(unicodedata.category(c) == "Cc" for c in value.replace("\n", " ")):
        raise FieldError(name, N_("the text contains characters that are not allowed"))
    if len(cleaned) > MAX_TEXT:
        raise FieldError(name, N_("at most {limit} characters"), limit=MAX_TEXT)
    return cleaned


def email_field(value: str) -> str:
    text = value.strip()
    if not text:
        raise FieldError("email", N_("fill in this field"))
    try:
        if len(text) > 254 or "<" in text or ">" in text:
            raise ValueError(text)
        return Contact.parse(text).email
    except (ValueError, InvalidInputError):
        raise FieldError("email", N_("enter an e-mail address such as navn@kommune.dk")) from None
