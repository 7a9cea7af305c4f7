"""``Fbh``: every command fbh runs, behind one object (the CLI, the daemon and the tests use it).

The work is done by one module per group of use cases; this class only wires them to one
:class:`~engine.services.context.ServiceContext` (which it is) and forwards to them:

* :mod:`engine.services.programmes`: create one or many programmes;
* :mod:`engine.services.queries`: show, list, events;
* :mod:`engine.services.lifecycle`: cancel, pause, resume, move;
* :mod:`engine.services.milestones`: done, skip, reschedule;
* :mod:`engine.services.requests`: requests (``fbh.requests`` has all of them);
* :mod:`engine.services.transitions`: the time-driven transitions;
* :mod:`engine.services.horizon`: the top-up of reminders and task notices;
* :mod:`engine.services.courses`: the BASIS course calendar (``fbh.courses``);
* :mod:`engine.services.participants`: participants (``fbh.participants`` has all of them).

The tovholder's hours (:mod:`engine.services.timelog`), the digests and the status take the
``Fbh`` as their context.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engine.config.settings import Settings
from engine.domain.definitions import WorkflowRegistry, load_registry
from engine.domain.model import Contact
from engine.domain.views import ProgrammeView, RequestView
from engine.services.context import Planner, ServiceContext
from engine.services.horizon import TimedMail
from engine.services.mailings import Mailings
from engine.services.queries import ProgrammeQueries
from engine.services.transitions import Transitions
from engine.store.database import UPGRADE, SchemaMode
from engine.store.store import Store, Tx

# The services the daemon does not need to start (creation, life cycle, milestones, requests,
# courses, hand-over, participants) are imported with their first use: `fbh serve` reaches
# `ready` without them (tests/acceptance/test_serve_lean_imports.py). They keep no state of
# their own, so two threads using one first at the same time at worst build it twice.
if TYPE_CHECKING:
    from engine.services.batch import BatchItemError, NewProgramme
    from engine.services.courses import CourseDesk
    from engine.services.handover import Handover, RoleChange
    from engine.services.lifecycle import Lifecycle, MoveResult
    from engine.services.milestones import Milestones
    from engine.services.participants import ParticipantService
    from engine.services.programmes import CHUNK_SIZE, ProgrammeCreation
    from engine.services.requests import RequestDesk

__all__ = ["CHUNK_SIZE", "BatchItemError", "Fbh", "MoveResult", "NewProgramme", "Planner"]

_LAZY = {
    "CHUNK_SIZE": "engine.services.programmes",
    "BatchItemError": "engine.services.batch",
    "NewProgramme": "engine.services.batch",
    "MoveResult": "engine.services.lifecycle",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Fbh(ServiceContext):
    """fbh's commands over one store, one set of definitions and one calendar."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: WorkflowRegistry,
        *,
        actor: str = "cli",
    ) -> None:
        super().__init__(settings, store, registry, actor=actor)
        self.mailings = Mailings(self)
        self.queries = ProgrammeQueries(self)
        self.transitions = Transitions(self)
        self.timed_mail = TimedMail(self, self.mailings)

    @cached_property
    def creation(self) -> ProgrammeCreation:
        from engine.services.programmes import ProgrammeCreation

        return ProgrammeCreation(self, self.mailings)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        from engine.services.lifecycle import Lifecycle

        return Lifecycle(self, self.mailings)

    @cached_property
    def milestones(self) -> Milestones:
        from engine.services.milestones import Milestones

        return Milestones(self, self.mailings)

    @cached_property
    def requests(self) -> RequestDesk:
        from engine.services.requests import RequestDesk

        return RequestDesk(self, self.creation)

    @cached_property
    def courses(self) -> CourseDesk:
        from engine.services.courses import CourseDesk

        return CourseDesk(self)

    @cached_property
    def handover(self) -> Handover:
        from engine.services.handover import Handover

        return Handover(self, self.mailings, self.checkins)

    @cached_property
    def participants(self) -> ParticipantService:
        from engine.services.participants import ParticipantService

        return ParticipantService(self, self.mailings)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        actor: str = "cli",
        schema: SchemaMode = UPGRADE,
        read_only: bool = False,
    ) -> Fbh:
        """fbh on the configured database; ``schema`` and ``read_only`` as in
        :meth:`engine.store.store.Store.open` (the default creates or migrates it)."""
        registry = load_registry(settings.workflows_dir)
        store = Store.open(settings.database_url, schema=schema, read_only=read_only)
        return cls(settings, store, registry, actor=actor)

    # ----- programmes ---------------------------------------------------------------------

    def create_programme(
        self,
        new: NewProgramme,
        now: datetime,
        *,
        on_created: Callable[[Tx, int], None] | None = None,
    ) -> ProgrammeView:
        return self.creation.create_programme(new, now, on_created=on_created)

    def create_programmes(
        self, batch: Sequence[NewProgramme], now: datetime, *, chunk_size: int | None = None
    ) -> list[int]:
        """``chunk_size``: programmes per transaction, by default ``CHUNK_SIZE``."""
        if chunk_size is None:
            return self.creation.create_programmes(batch, now)
        return self.creation.create_programmes(batch, now, chunk_size=chunk_size)

    def list_programmes(self, *, states: Sequence[str] | None = None) -> list[ProgrammeView]:
        return self.queries.list_programmes(states=states)

    def events(self, programme_id: int) -> list[dict[str, Any]]:
        return self.queries.events(programme_id)

    # ----- life cycle and milestones ------------------------------------------------------

    def cancel(self, programme_id: int, now: datetime, *, reason: str = "") -> ProgrammeView:
        return self.lifecycle.cancel(programme_id, now, reason=reason)

    def edit_programme(
        self,
        programme_id: int,
        now: datetime,
        *,
        tovholder: Contact | None = None,
        consultant: Contact | None = None,
    ) -> tuple[ProgrammeView, list[RoleChange]]:
        """Hand the tovholder or consultant role over (engine/services/handover.py)."""
        return self.handover.edit(programme_id, now, tovholder=tovholder, consultant=consultant)

    def pause(self, programme_id: int, now: datetime) -> ProgrammeView:
        return self.lifecycle.pause(programme_id, now)

    def resume(self, programme_id: int, now: datetime) -> ProgrammeView:
        return self.lifecycle.resume(programme_id, now)

    def move(
        self, programme_id: int, new_start: date, now: datetime, *, dry_run: bool = False
    ) -> MoveResult:
        return self.lifecycle.move(programme_id, new_start, now, dry_run=dry_run)

    def milestone_done(
        self, programme_id: int, key: str, now: datetime, *, force: bool = False
    ) -> ProgrammeView:
        return self.milestones.milestone_done(programme_id, key, now, force=force)

    def milestone_skip(self, programme_id: int, key: str, now: datetime) -> ProgrammeView:
        return self.milestones.milestone_skip(programme_id, key, now)

    def reschedule(
        self,
        programme_id: int,
        key: str,
        new_start: datetime | date,
        now: datetime,
        *,
        force: bool = False,
    ) -> ProgrammeView:
        return self.milestones.reschedule(programme_id, key, new_start, now, force=force)

    # ----- requests -----------------------------------------------------------------------

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
        return self.requests.add_request(
            organisation=organisation,
            contact=contact,
            wished_start=wished_start,
            received=received,
            now=now,
            workflow=workflow,
        )

    def list_requests(
        self, now: datetime, *, states: Sequence[str] | None = None
    ) -> list[RequestView]:
        return self.requests.list_requests(now, states=states)

    def request_view(self, request_id: int, now: datetime) -> RequestView:
        return self.requests.request_view(request_id, now)

    # ----- time-driven transitions --------------------------------------------------------

    def advance(self, now: datetime) -> list[str]:
        """Queue the reminders, task notices and check-ins that have come within the horizon,
        then fire the transitions that are due (both as the daemon's leader does)."""
        self.top_up(now)
        return self.transitions.advance(now)

    def top_up(self, now: datetime) -> int:
        """Queue the timed mail that has come within ``mail.queue_ahead_days``."""
        return self.timed_mail.top_up(now)

    def next_transition(self, now: datetime) -> datetime | None:
        return self.transitions.next_transition(now)
