"""The store as the outbox worker (:mod:`notifications.outbox`) sees it: claim due rows,
record outcomes, give claims back, and log failures. :class:`engine.store.store.Store` is one;
the worker depends on these protocols only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from engine.domain.model import OutboxState
from engine.store.outbox_render import Rendered, ToRender
from engine.store.tables import OutboxMessage


class MailRow(Protocol):
    """What turns an outbox row into a message (notifications/envelope.py): an
    :class:`~engine.store.tables.OutboxMessage` or a :class:`Claimed` row."""

    @property
    def kind(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def rendered(self) -> bytes | None: ...
    @property
    def rendered_with(self) -> str | None: ...


class Claimed(NamedTuple):
    """A row as ``claim_due`` returns it: the columns sending needs, read by the claiming
    UPDATE's RETURNING (a tuple, not an ORM object: less work per row; bench/claim_cost.py
    measures a claim). ``payload`` is empty when the claim was told its bytes are current
    and they were (they are all that is sent); the whole row is :meth:`OutboxRecords.message`."""

    id: int
    kind: str
    recipient: str
    message_id: str
    programme_id: int | None
    state: str
    attempts: int
    claimed_by: str | None
    created_at: datetime
    rendered: bytes | None
    rendered_with: str | None
    payload: dict[str, Any] = {}  # noqa: RUF012 (never written: a tuple's field)


class OutboxRecords(Protocol):
    def claim_due(
        self, now: datetime, worker: str, limit: int, *, current: str | None = None
    ) -> list[Claimed]: ...

    def message(self, message_id: int) -> OutboxMessage: ...

    def finish_claim(
        self,
        message_id: int,
        worker: str,
        *,
        state: OutboxState,
        now: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool: ...

    def finish_sent(self, message_ids: Sequence[int], worker: str, now: datetime) -> set[int]: ...

    def unclaim(self, message_id: int, worker: str, now: datetime, note: str) -> bool: ...

    def release_claims(self, worker: str, now: datetime) -> int: ...

    def still_claimed(self, message_ids: Sequence[int], worker: str) -> set[int]: ...

    def give_back(self, message_ids: Sequence[int], worker: str) -> int: ...

    def release_stuck(
        self, now: datetime, older_than: timedelta
    ) -> list[tuple[int, str | None]]: ...

    def to_render(
        self,
        fingerprint: str,
        *,
        before: datetime | None = None,
        after: datetime | None = None,
        keys: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[ToRender]: ...

    def store_rendered(self, results: Sequence[Rendered], fingerprint: str) -> int: ...


class EventLog(Protocol):
    def add(
        self,
        *,
        at: datetime,
        actor: str,
        entity: str,
        event: str,
        entity_id: int | None = None,
        programme_id: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Any: ...

    def latest(self, entity: str, events: Sequence[str]) -> Any: ...


class OutboxTx(Protocol):
    """One transaction: the outbox and the event log."""

    @property
    def outbox(self) -> OutboxRecords: ...

    @property
    def events(self) -> EventLog: ...


# Called in the transaction that records a message as failed for good (an outbox row, its
# last error, now): engine/services/delivery_failures.py tells the consultant.
FailureHook = Callable[[OutboxTx, OutboxMessage, str, datetime], None]


class OutboxStore(Protocol):
    def transaction(self) -> AbstractContextManager[OutboxTx]: ...
