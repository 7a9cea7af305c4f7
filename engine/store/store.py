"""The store: every SQL query fbh makes, behind transactions.

``Store.transaction()`` yields a :class:`Tx` whose repositories, one per aggregate, read and
write rows (``tx.programmes``, ``tx.people``, ``tx.invites``, ``tx.events``, ``tx.outbox``,
``tx.requests``, ``tx.time``, ``tx.schedule``, ``tx.daemons``, ``tx.feeds``,
``tx.participants``, ``tx.courses``, ``tx.checkins``; the digests' reads are in
:mod:`engine.store.digests`). It commits when the block ends and rolls back on any error, so
a failed command leaves nothing half-written. Driver errors are translated into
``StoreError`` here, with the cause attached. What differs between databases is in the
backend (:mod:`engine.backends`), chosen from the URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session

from engine.backends import backend_for
from engine.backends.abc import Backend, redact
from engine.domain.errors import DatabaseUnavailableError, NoDatabaseError, StoreError
from engine.domain.i18n import _
from engine.store.base import Unit
from engine.store.checkins import Checkins
from engine.store.courses import Courses
from engine.store.daemons import Daemons
from engine.store.database import (
    CREATE,
    NONE,
    REQUIRE,
    UPGRADE,
    Migration,
    SchemaMode,
    check_schema,
    current_revision,
    migrate,
)
from engine.store.events import Events
from engine.store.feeds import FeedTokens
from engine.store.installation import InstallationInfo, read_installation
from engine.store.invites import Invites
from engine.store.outbox import Outbox
from engine.store.pages import PageTokens
from engine.store.participants import Participants
from engine.store.people import OrganisationRef, People, PersonRef
from engine.store.programmes import Busy, Programmes
from engine.store.requests import Requests
from engine.store.schedule import Schedule
from engine.store.tables import (
    Event,
    Invite,
    Milestone,
    Organisation,
    OutboxMessage,
    Person,
    Programme,
    Request,
    TimeEntry,
)
from engine.store.timelog import TimeLog

log = logging.getLogger(__name__)

__all__ = [
    "Busy",
    "Event",
    "Invite",
    "Milestone",
    "Organisation",
    "OrganisationRef",
    "OutboxMessage",
    "Person",
    "PersonRef",
    "Programme",
    "Request",
    "Store",
    "TimeEntry",
    "Tx",
]


class Store:
    """Owns the database engine. Open with ``Store.open(url)``."""

    def __init__(self, engine: Engine, backend: Backend) -> None:
        self.engine = engine
        self.backend = backend
        self._installation: InstallationInfo | None = None  # read at the first transaction
        self.migration: Migration | None = None  # what open() did to the schema, if anything

    @classmethod
    def open(
        cls,
        url: str,
        *,
        run_migrations: bool = True,
        schema: SchemaMode | None = None,
        read_only: bool = False,
        **engine_kwargs: Any,
    ) -> Store:
        """Open the database at ``url``.

        ``schema`` says what may happen to its schema (:mod:`engine.store.database`):
        ``upgrade`` (the default; ``run_migrations=False`` means ``none``) creates or migrates
        it, ``create`` creates a missing one, ``require`` changes nothing and refuses a
        missing, older or newer one. ``read_only``: transactions only read, and on SQLite
        take no write lock (a read command answers while another process writes).
        """
        mode: SchemaMode = schema or (UPGRADE if run_migrations else NONE)
        backend = backend_for(url)
        if mode == REQUIRE and not backend.exists():
            raise NoDatabaseError(
                _("no database at {where}; create it with 'fbh migrate'").format(
                    where=backend.location()
                )
            )
        # JSON columns (outbox payloads, snapshots) decoded by orjson: the claim decodes every
        # claimed payload, several times faster than the stdlib's json.loads
        engine_kwargs.setdefault("json_deserializer", orjson.loads)
        engine = backend.create_engine(read_only=read_only, **engine_kwargs)
        try:
            try:
                with engine.connect():
                    pass
            except SQLAlchemyError as exc:  # not the user's mistake: exit 3
                raise DatabaseUnavailableError(
                    _("cannot connect to database {url}: {reason}").format(
                        url=redact(url), reason=_reason(exc)
                    )
                ) from exc
            migration = None
            if mode == UPGRADE:
                migration = migrate(engine, backend)
            elif mode in (CREATE, REQUIRE):
                revision = current_revision(engine)
                if revision is None and mode == CREATE:
                    migration = migrate(engine, backend)
                else:
                    check_schema(engine, revision)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(
                _("cannot connect to database {url}: {reason}").format(
                    url=redact(url), reason=_reason(exc)
                )
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        store = cls(engine, backend)
        store.migration = migration
        return store

    @property
    def dialect(self) -> str:
        return self.backend.name

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        session = Session(self.engine, expire_on_commit=False)
        try:
            tx = Tx(session, self.backend)
            tx.installation = self.installation(session).installation_id
            yield tx
            if tx.changed:
                self.backend.announce_change(session)  # wakes every ``fbh serve``
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
            error = DatabaseUnavailableError if lost else StoreError  # exit 3 or 2
            raise error(_("database error: {reason}").format(reason=_reason(exc))) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

    def installation(self, session: Session | None = None) -> InstallationInfo:
        """This database's installation id and legacy bound, read once at the first
        transaction (engine/store/installation.py)."""
        if self._installation is None:
            if session is None:
                return InstallationInfo("", 0)
            self._installation = read_installation(session)
        return self._installation


class Tx(Unit):
    """One unit of work on the database, with a repository per aggregate."""

    def __init__(self, session: Session, backend: Backend) -> None:
        super().__init__(session, backend)
        self.programmes = Programmes(self)
        self.people = People(self)
        self.invites = Invites(self)
        self.events = Events(self)
        self.outbox = Outbox(self)
        self.requests = Requests(self)
        self.time = TimeLog(self)
        self.schedule = Schedule(self)
        self.daemons = Daemons(self)
        self.feeds = FeedTokens(self)
        self.courses = Courses(self)
        self.checkins = Checkins(self)
        self.pages = PageTokens(self)
        self.participants = Participants(self)


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    message = str(original if original is not None else exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
