"""The outbox: every SQL statement about queued mail.

Mail is queued in the transaction of the command that caused it (:class:`OutboxQueue`) and
delivered by workers that claim due rows (:class:`OutboxDelivery`). Every state change is a
conditional UPDATE, so two workers racing on the same row cannot both win; how a worker picks
rows without colliding is the backend's claim strategy (:mod:`engine.backends`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, Update, bindparam, func, update
from sqlalchemy import select as columns  # many columns: sqlmodel's select types up to four
from sqlmodel import col, select

from engine.backends.abc import Backend, slices
from engine.domain.identity import salted_message_id
from engine.domain.model import OutboxDraft, OutboxState
from engine.store.abc import Claimed
from engine.store.base import Repository, table_of
from engine.store.events import Events
from engine.store.outbox_admin import OutboxAdmin
from engine.store.outbox_lease import OutboxLease, _claimed_by
from engine.store.outbox_render import DROP_RENDERED, OutboxRendering
from engine.store.tables import OutboxMessage

_DEDUPE_KEY = ("dedupe_key",)
_CLAIMED = Claimed._fields[:-1]  # in the order of the tuple; the payload only when needed


@dataclass(frozen=True)
class LateRow:
    """A late pending row as the catch-up sees it: ``payload`` holds only the parts asked for
    (the ones that say when the message stops making sense), read in SQL."""

    id: int
    kind: str
    recipient: str
    due_at: datetime
    programme_id: int | None
    milestone_id: int | None
    payload: dict[str, Any]


class OutboxQueue(Repository):
    """Queueing, cancelling and reading mail."""

    def enqueue(
        self,
        drafts: Iterable[OutboxDraft],
        now: datetime,
        *,
        rendered: Sequence[bytes | None] | None = None,
        rendered_with: str | None = None,
    ) -> int:
        """Queue messages; a dedupe key already queued is skipped. Returns how many were new.
        With ``rendered`` (one entry per draft: its wire bytes, or None when rendering
        failed), new rows are queued with those bytes, rendered with the fingerprint
        ``rendered_with`` (a digest rendered as it is queued, notifications/prerender.py)."""
        rows = [_outbox_row(d, now, self.unit.installation) for d in drafts]
        if not rows:
            return 0
        if rendered is not None:
            for row, data in zip(rows, rendered, strict=True):
                row["rendered"], row["rendered_with"] = data, rendered_with
        statement = self.backend.insert_ignoring(OutboxMessage, key=_DEDUPE_KEY).returning(
            col(OutboxMessage.id)
        )
        connection = self.session.connection()
        inserted = 0
        for part in slices(rows):
            inserted += len(connection.execute(statement, part).all())
        if inserted:
            self.unit.touch()
        return inserted

    def enqueue_many(self, drafts: Iterable[OutboxDraft], now: datetime) -> None:
        """:meth:`enqueue` without counting what was new (no RETURNING): for bulk writes."""
        statement = self.backend.insert_ignoring(OutboxMessage, key=_DEDUPE_KEY)
        rows = [_outbox_row(d, now, self.unit.installation) for d in drafts]
        self.unit.insert_many(table_of(OutboxMessage), rows, statement=statement)

    def cancel_pending(
        self,
        programme_id: int,
        *,
        kinds: Sequence[str] | None = None,
        milestone_id: int | None = None,
        keep: Sequence[str] = (),
    ) -> int:
        """Cancel queued, unsent messages of a programme (optionally of one milestone/kind),
        except those whose dedupe key is in ``keep``."""
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.programme_id) == programme_id,
                col(OutboxMessage.state) == OutboxState.PENDING.value,
            )
            .values(state=OutboxState.CANCELLED.value, **DROP_RENDERED)
        )
        if kinds:
            statement = statement.where(col(OutboxMessage.kind).in_(kinds))
        if milestone_id is not None:
            statement = statement.where(col(OutboxMessage.milestone_id) == milestone_id)
        if keep:
            statement = statement.where(col(OutboxMessage.dedupe_key).not_in(list(keep)))
        self.unit.touch()
        result = self.session.execute(statement)
        return max(result.rowcount, 0)  # type: ignore[attr-defined]

    def pending_payload(self, dedupe_key: str) -> dict[str, Any] | None:
        """The payload of the message with this key while it is still pending."""
        statement = select(OutboxMessage.payload).where(
            col(OutboxMessage.dedupe_key) == dedupe_key,
            col(OutboxMessage.state) == OutboxState.PENDING.value,
        )
        found = self.session.exec(statement).first()
        return dict(found) if isinstance(found, dict) else None

    def replace_pending_payload(self, dedupe_key: str, payload: dict[str, Any]) -> bool:
        """Give a message that is still pending a new payload (e.g. a summary whose dates
        changed); a message being sent or sent keeps the one it went out with."""
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.dedupe_key) == dedupe_key,
                col(OutboxMessage.state) == OutboxState.PENDING.value,
            )
            .values(payload=payload, **DROP_RENDERED)
        )
        changed = self.session.execute(statement).rowcount > 0  # type: ignore[attr-defined]
        if changed:
            self.unit.touch()
        return bool(changed)

    def upsert_pending(self, draft: OutboxDraft, now: datetime) -> None:
        """Queue ``draft``, or give its still pending or cancelled row (same dedupe key) the
        draft's payload and due time, pending again; a row sent or being sent is left as is.
        For mail whose content follows a changing fact (a course's roster)."""
        if self.enqueue([draft], now):
            return
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.dedupe_key) == draft.dedupe_key,
                col(OutboxMessage.state).in_(
                    (OutboxState.PENDING.value, OutboxState.CANCELLED.value)
                ),
            )
            .values(
                payload=draft.payload,
                due_at=draft.due_at,
                next_attempt_at=draft.due_at,
                state=OutboxState.PENDING.value,
                attempts=0,
                **DROP_RENDERED,
            )
        )
        self.unit.touch()
        self.session.execute(statement)

    def cancel_by_prefix(self, prefix: str) -> int:
        """Cancel pending rows whose dedupe key starts with ``prefix``."""
        statement = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.state) == OutboxState.PENDING.value,
                col(OutboxMessage.dedupe_key).startswith(prefix, autoescape=True),
            )
            .values(state=OutboxState.CANCELLED.value, **DROP_RENDERED)
        )
        self.unit.touch()
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]

    def find(
        self,
        *,
        states: Sequence[str] | None = None,
        programme_id: int | None = None,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[OutboxMessage]:
        """The messages in id order; with ``limit``, only the newest ``limit`` of them."""
        statement = select(OutboxMessage).order_by(col(OutboxMessage.id).desc())
        if states:
            statement = statement.where(col(OutboxMessage.state).in_(states))
        if kinds:
            statement = statement.where(col(OutboxMessage.kind).in_(kinds))
        if programme_id is not None:
            statement = statement.where(OutboxMessage.programme_id == programme_id)
        if limit is not None:
            statement = statement.limit(limit)
        return list(reversed(self.session.exec(statement).all()))

    def counts(self) -> dict[str, int]:
        statement = select(OutboxMessage.state, func.count()).group_by(col(OutboxMessage.state))
        return {state: count for state, count in self.session.exec(statement)}

    def next_due(self) -> datetime | None:
        statement = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.state == OutboxState.PENDING.value
        )
        return self.session.exec(statement).first()

    def next_pending(self) -> OutboxMessage | None:
        """The pending row that falls due first."""
        statement = (
            select(OutboxMessage)
            .where(col(OutboxMessage.state) == OutboxState.PENDING.value)
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(1)
        )
        return self.session.exec(statement).first()

    def delivered_invites(self, milestone_id: int) -> set[str]:
        """Recipients whose invite for the milestone left (or may have left) the outbox."""
        statement = select(OutboxMessage.recipient).where(
            OutboxMessage.milestone_id == milestone_id,
            OutboxMessage.kind == "invite",
            col(OutboxMessage.state).in_(
                [OutboxState.SENT.value, OutboxState.SENDING.value, OutboxState.FAILED.value]
            ),
        )
        return set(self.session.exec(statement))

    def late_pending(self, now: datetime, paths: Sequence[tuple[str, ...]] = ()) -> list[LateRow]:
        """Pending rows that may be sent now and fell due before ``now``, with the string values
        at ``paths`` of their payload (JSON paths, extracted by the database: a burst of due
        rows does not cost a JSON parse of every whole payload in Python)."""
        payload = col(OutboxMessage.payload)
        statement = columns(
            col(OutboxMessage.id),
            col(OutboxMessage.kind),
            col(OutboxMessage.recipient),
            col(OutboxMessage.due_at),
            col(OutboxMessage.programme_id),
            col(OutboxMessage.milestone_id),
            *(payload[path].as_string() for path in paths),
        ).where(
            col(OutboxMessage.state) == OutboxState.PENDING.value,
            col(OutboxMessage.next_attempt_at) <= now,
            col(OutboxMessage.due_at) < now,
        )
        rows = []
        for (
            ident,
            kind,
            recipient,
            due_at,
            programme_id,
            milestone_id,
            *values,
        ) in self.session.execute(statement.order_by(col(OutboxMessage.id))):
            part: dict[str, Any] = {}
            for path, value in zip(paths, values, strict=True):
                if value is None:
                    continue
                node = part
                for key in path[:-1]:
                    node = node.setdefault(key, {})
                node[path[-1]] = value
            rows.append(LateRow(ident, kind, recipient, due_at, programme_id, milestone_id, part))
        return rows

    def mark_missed(
        self, row: OutboxMessage | LateRow, now: datetime, *, actor: str, reason: str
    ) -> bool:
        """Record a late row as ``missed`` instead of sending it, with a ``missed`` event.

        False when the row was not pending any more (another daemon claimed it meanwhile).
        """
        result = self.session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == row.id,
                col(OutboxMessage.state) == OutboxState.PENDING.value,
            )
            .values(state=OutboxState.MISSED.value, last_error=f"missed: {reason}", **DROP_RENDERED)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        Events(self.unit).add(
            at=now,
            actor=actor,
            entity="outbox",
            entity_id=row.id,
            programme_id=row.programme_id,
            event="missed",
            from_state=OutboxState.PENDING.value,
            to_state=OutboxState.MISSED.value,
            data={
                "kind": row.kind,
                "recipient": row.recipient,
                "due_at": row.due_at.isoformat(),
                "milestone_id": row.milestone_id,
                "reason": reason,
            },
        )
        return True


class OutboxDelivery(Repository):
    """Claiming due rows, recording outcomes, and taking back claims whose worker stopped."""

    def claim_due(
        self, now: datetime, worker: str, limit: int, *, current: str | None = None
    ) -> list[Claimed]:
        """Atomically move up to ``limit`` due pending rows to ``sending`` for ``worker``.

        The conditional UPDATE is the fence: a row another worker claimed first is not
        ``pending`` any more and cannot be claimed twice. With ``current`` (the fingerprint
        of current rendered bytes, notifications/rendered.py), a row whose bytes are current
        comes without its payload (not read, not decoded: its bytes are all that is sent).
        """
        due, claim, read_back = _claim_statements(self.backend, with_payload=current is None)
        connection = self.session.connection()
        ids = list(connection.execute(due, {"due_by": now, "due_limit": limit}).scalars())
        if not ids:
            return []
        # Core, not the ORM: plain tuples, no session objects to build or synchronise.
        parameters = {"ids": ids, "claim_at": now, "claimer": worker}
        rows = connection.execute(claim, parameters)
        if read_back is not None:
            # The transaction holds the write lock (SQLite): the ids now in ``sending`` under
            # this worker's name are the ones this UPDATE claimed.
            rows = connection.execute(read_back, parameters)
        claimed = sorted((Claimed(*row) for row in rows), key=lambda row: row.id)
        if current is not None:
            stale = [r.id for r in claimed if r.rendered_with != current or not r.rendered]
            if stale:
                payloads = self._payloads(stale)
                claimed = [
                    r._replace(payload=payloads[r.id]) if r.id in payloads else r for r in claimed
                ]
        return claimed

    def _payloads(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The payloads of the rows ``ids`` (claimed without them)."""
        found: dict[int, dict[str, Any]] = {}
        for chunk in slices(list(ids)):
            statement = columns(col(OutboxMessage.id), col(OutboxMessage.payload)).where(
                col(OutboxMessage.id).in_(chunk)
            )
            found.update((ident, payload) for ident, payload in self.session.execute(statement))
        return found

    def finish_claim(
        self,
        message_id: int,
        worker: str,
        *,
        state: OutboxState,
        now: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record the outcome of a claimed send; False if the claim was lost meanwhile."""
        values: dict[str, Any] = {"state": state.value, "last_error": error}
        if state is OutboxState.SENT:
            values["sent_at"] = now
        if state is not OutboxState.PENDING:  # sent or failed: the bytes are not needed again
            values |= DROP_RENDERED
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        statement = (
            update(OutboxMessage)
            .where(*_claimed_by(worker), col(OutboxMessage.id) == message_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def finish_sent(self, message_ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Record many claimed sends as ``sent`` at once (one statement per 500 rows, where
        :meth:`finish_claim` takes one per row); returns the ids whose claim was still
        ``worker``'s. The others were lost meanwhile and are left alone."""
        kept: set[int] = set()
        connection = self.session.connection()
        for chunk in slices(list(message_ids)):
            found = connection.execute(_FINISH_SENT, {"ids": chunk, "sent": now, "claimer": worker})
            kept.update(ident for (ident,) in found if ident)
        return kept

    def unclaim(self, message_id: int, worker: str, now: datetime, note: str) -> bool:
        """Give back a claimed row that was never tried (the connection was lost before its
        turn): ``pending``, due at ``now``, and the attempt its claim counted is returned.
        False if the claim was lost meanwhile."""
        result = self.session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id, *_claimed_by(worker))
            .values(
                state=OutboxState.PENDING.value,
                next_attempt_at=now,
                attempts=OutboxMessage.attempts - 1,
                last_error=note,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class Outbox(OutboxQueue, OutboxDelivery, OutboxLease, OutboxAdmin, OutboxRendering):
    """``tx.outbox``: queueing, delivery (and claims ahead), the operator's commands, and
    rendered bytes."""


@lru_cache(maxsize=8)
def _claim_statements(
    backend: Backend, *, with_payload: bool
) -> tuple[Select[Any], Update, Select[Any] | None]:
    """The SELECT of due ids, the claiming UPDATE, and (where the UPDATE does not return the
    claimed rows, :attr:`Backend.claim_returns_rows`) the SELECT that reads them back; built
    once per backend: a claim costs per row, not a statement's construction and cache key
    (bench/claim_cost.py). Parameters: ``due_by``, ``due_limit``; ``ids``, ``claim_at``,
    ``claimer``."""
    table = table_of(OutboxMessage)
    due = backend.claim_candidates(
        columns(table.c.id)
        .where(
            table.c.state == OutboxState.PENDING.value,
            table.c.next_attempt_at <= bindparam("due_by", type_=table.c.next_attempt_at.type),
        )
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(bindparam("due_limit", type_=Integer()))
    )
    returned = [table.c[name] for name in _CLAIMED]
    if with_payload:
        returned.append(table.c.payload)
    claim = (
        update(table)
        .where(
            table.c.id.in_(bindparam("ids", expanding=True)),
            backend.claim_fence(table.c.state, OutboxState.PENDING.value),
        )
        .values(
            state=OutboxState.SENDING.value,
            claimed_at=bindparam("claim_at", type_=table.c.claimed_at.type),
            claimed_by=bindparam("claimer", type_=table.c.claimed_by.type),
            attempts=table.c.attempts + 1,
        )
    )
    if backend.claim_returns_rows:
        return due, claim.returning(*returned), None  # the claimed rows as they are now
    read_back = columns(*returned).where(
        table.c.id.in_(bindparam("ids", expanding=True)),
        backend.claim_fence(table.c.state, OutboxState.SENDING.value),  # by primary key
        table.c.claimed_by == bindparam("claimer", type_=table.c.claimed_by.type),
    )
    return due, claim, read_back


def _finish_sent() -> Update:
    table = table_of(OutboxMessage)
    return (
        update(table)
        .where(
            table.c.id.in_(bindparam("ids", expanding=True)),
            table.c.state == OutboxState.SENDING.value,
            table.c.claimed_by == bindparam("claimer", type_=table.c.claimed_by.type),
        )
        .values(
            state=OutboxState.SENT.value,
            last_error=None,
            sent_at=bindparam("sent", type_=table.c.sent_at.type),
            **DROP_RENDERED,
        )
        .returning(table.c.id)
    )


# Core, not the ORM's bulk UPDATE: no session objects to synchronise. Parameters: ``ids``,
# ``sent``, ``claimer``.
_FINISH_SENT = _finish_sent()


def _outbox_row(draft: OutboxDraft, now: datetime, installation: str = "") -> dict[str, Any]:
    return {
        "dedupe_key": draft.dedupe_key,
        "kind": draft.kind,
        "programme_id": draft.programme_id,
        "milestone_id": draft.milestone_id,
        "recipient": draft.recipient,
        "payload": draft.payload,
        "state": OutboxState.PENDING.value,
        "due_at": draft.due_at,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": draft.due_at,
        "message_id": salted_message_id(draft.message_id, installation),
    }
