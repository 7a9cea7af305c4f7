"""Organisations and people (consultants, tovholdere): get or create them by name or address."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from engine.backends.abc import slices
from engine.domain.model import Contact
from engine.store.base import Repository, table_of
from engine.store.tables import Organisation, Person


@dataclass(frozen=True)
class OrganisationRef:
    """An organisation's id and stored name, without the cost of an ORM object."""

    id: int
    name: str


@dataclass(frozen=True)
class PersonRef:
    """A person's id, stored name and address, without the cost of an ORM object."""

    id: int
    name: str
    email: str


class People(Repository):
    """``tx.people``: organisations and people."""

    def find_organisation(self, name: str) -> Organisation | None:
        return self.session.exec(select(Organisation).where(Organisation.name == name)).first()

    def get_organisation(self, organisation_id: int) -> Organisation:
        found: Organisation = self.unit.get(Organisation, organisation_id, "organisation")
        return found

    def person(self, contact: Contact, now: datetime) -> Person:
        """The person with the contact's address, added the first time."""
        found = self.by_email(contact.email)
        if found is not None:
            return found
        added: Person = self.unit.save(
            Person(name=contact.name, email=contact.email, created_at=now)
        )
        return added

    def by_email(self, email: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.email == email.lower())).first()

    def get(self, person_id: int) -> Person:
        found: Person = self.unit.get(Person, person_id, "person")
        return found

    def lock(self, person_id: int) -> None:
        """Serialise planning for one consultant (a row lock where the database has them)."""
        self.backend.lock(self.session, select(Person.id).where(Person.id == person_id))

    def lock_many(self, person_ids: Iterable[int]) -> None:
        """:meth:`lock` for many, in id order (so two batches cannot deadlock)."""
        for part in slices(sorted(set(person_ids))):
            statement = select(Person.id).where(col(Person.id).in_(part)).order_by(col(Person.id))
            self.backend.lock(self.session, statement)

    # ----- bulk (creating many programmes at once) ----------------------------------------

    def organisations_named(
        self, names: Sequence[str], now: datetime
    ) -> dict[str, OrganisationRef]:
        """Get or create the organisations ``names``; new ones are added in the order given."""
        table = table_of(Organisation)
        wanted = list(dict.fromkeys(names))
        found: dict[str, OrganisationRef] = {}
        for part in slices(wanted):
            statement = select(table.c.id, table.c.name).where(table.c.name.in_(part))
            for ident, name in self.session.connection().execute(statement):
                found[name] = OrganisationRef(ident, name)
        missing = [name for name in wanted if name not in found]
        ids = self.backend.new_ids(self.session.connection(), table, len(missing))
        created = [OrganisationRef(i, name) for i, name in zip(ids, missing, strict=True)]
        rows = [{"id": o.id, "name": o.name, "created_at": now} for o in created]
        self.unit.insert_many(table, rows)
        found.update((o.name, o) for o in created)
        return found

    def for_contacts(self, contacts: Sequence[Contact], now: datetime) -> dict[str, PersonRef]:
        """Get or create the people ``contacts``, keyed by lower-case address (as
        :meth:`person`): an existing person keeps their stored name."""
        table = table_of(Person)
        wanted: dict[str, Contact] = {}
        for contact in contacts:
            wanted.setdefault(contact.email.lower(), contact)
        found: dict[str, PersonRef] = {}
        for part in slices(list(wanted)):
            statement = select(table.c.id, table.c.name, table.c.email).where(
                table.c.email.in_(part)
            )
            for ident, name, email in self.session.connection().execute(statement):
                found[email] = PersonRef(ident, name, email)
        missing = [(key, contact) for key, contact in wanted.items() if key not in found]
        ids = self.backend.new_ids(self.session.connection(), table, len(missing))
        rows = []
        for ident, (key, contact) in zip(ids, missing, strict=True):
            found[key] = PersonRef(ident, contact.name, contact.email)
            rows.append(
                {"id": ident, "name": contact.name, "email": contact.email, "created_at": now}
            )
        self.unit.insert_many(table, rows)
        return found
