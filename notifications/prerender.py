"""Render ahead: render pending outbox rows before they fall due and keep their bytes in the
row, so at due time the worker only claims them and writes or sends the bytes
(:func:`notifications.envelope.envelope_of`).

Two entry points, the same rendering as at send (:func:`notifications.envelope.render_envelope`):

* :func:`render_ahead`: the daemon's background pass (engine/daemon/prerender.py) over rows
  due within ``[daemon] render_ahead_seconds``, soonest first, in batches: read a batch in one
  transaction, render it with no transaction open, store it in a second one. Storing is
  conditional on the row still being pending with the payload that was rendered
  (``tx.outbox.store_rendered``), so a row changed meanwhile keeps no stale bytes and is
  picked up again by the next pass.
* :func:`render_queued`: rows queued for now (a digest, a notice), rendered in the
  transaction that queued them.

A row that cannot be rendered ahead keeps no bytes (its fingerprint is recorded, so it is not
tried again each pass) and is rendered at send, where a failure is reported as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from engine.config.settings import Settings
from engine.domain.errors import FbhError
from engine.domain.identity import salted_message_id
from engine.domain.model import OutboxDraft
from engine.store.abc import OutboxStore, OutboxTx
from engine.store.outbox_render import Rendered, ToRender
from engine.store.tables import OutboxMessage
from notifications.envelope import render_envelope
from notifications.rendered import fingerprint

__all__ = [
    "BATCH",
    "render_ahead",
    "render_batch",
    "render_drafts",
    "render_queued",
]

log = logging.getLogger(__name__)

BATCH = 100  # rows per read/render/store round of the background pass


def render_batch(rows: Sequence[ToRender], settings: Settings, now: datetime) -> list[Rendered]:
    """Render ``rows`` (no database access: the daemon runs this in a thread)."""
    results = []
    for item in rows:
        try:
            data: bytes | None = render_envelope(_row(item), settings, now).data
        except (FbhError, KeyError, ValueError, TypeError) as exc:
            log.warning("outbox row %s cannot be rendered ahead (at send then): %s", item.id, exc)
            data = None
        results.append(Rendered(item, data))
    return results


def _row(item: ToRender) -> OutboxMessage:
    """The outbox row as rendering reads it."""
    payload = json.loads(item.payload_text)
    return OutboxMessage(
        id=item.id,
        dedupe_key="",
        kind=item.kind,
        recipient=payload["to"]["email"],
        payload=payload,
        state="pending",
        message_id=item.message_id,
        created_at=item.created_at,
    )


def pending_batch(
    store: OutboxStore,
    settings: Settings,
    before: datetime,
    after: datetime | None = None,
    limit: int = BATCH,
) -> list[ToRender]:
    """The next rows :func:`render_ahead` renders: pending, due in (``after``, ``before``],
    not yet rendered with the current fingerprint."""
    with store.transaction() as tx:
        return tx.outbox.to_render(fingerprint(settings), before=before, after=after, limit=limit)


def store_batch(store: OutboxStore, settings: Settings, results: Sequence[Rendered]) -> int:
    with store.transaction() as tx:
        return tx.outbox.store_rendered(results, fingerprint(settings))


def render_ahead(
    store: OutboxStore, settings: Settings, now: datetime, horizon_seconds: float
) -> int:
    """Render every pending row due within ``horizon_seconds`` of ``now`` that has no current
    bytes (synchronously: tests, ``bench``); returns how many rows took bytes."""
    before = now + timedelta(seconds=horizon_seconds)
    stored = 0
    while rows := pending_batch(store, settings, before):
        taken = store_batch(store, settings, render_batch(rows, settings, now))
        stored += taken
        if not taken:
            break  # every row changed meanwhile: the next pass reads them again
    return stored


def render_queued(tx: OutboxTx, settings: Settings, keys: Sequence[str], now: datetime) -> int:
    """Render the pending rows with the dedupe ``keys`` inside ``tx``, the transaction that
    queued them (mail due at once); returns how many took bytes."""
    outbox = tx.outbox
    mark = fingerprint(settings)
    stored = 0
    for start in range(0, len(keys), BATCH):
        rows = outbox.to_render(mark, keys=keys[start : start + BATCH], limit=BATCH)
        stored += outbox.store_rendered(render_batch(rows, settings, now), mark)
    return stored


def render_drafts(
    drafts: Sequence[tuple[OutboxDraft, Any]], settings: Settings, now: datetime, installation: str
) -> list[bytes | None]:
    """The bytes of mail about to be queued in the database of ``installation`` (whose
    Message-IDs it salts), rendered from each draft and its context as the template values
    its payload's context was made from (the weekly digests: no JSON round trip, the mail
    rendering the stored payload gives). None for a draft that cannot be rendered (it is
    rendered at send, where a failure is reported)."""
    found: list[bytes | None] = []
    for draft, context in drafts:
        row = OutboxMessage(
            dedupe_key=draft.dedupe_key,
            kind=draft.kind,
            recipient=draft.recipient,
            payload=draft.payload,
            state="pending",
            message_id=salted_message_id(draft.message_id, installation),
            created_at=now,
        )
        try:
            found.append(render_envelope(row, settings, now, context).data)
        except (FbhError, KeyError, ValueError, TypeError) as exc:
            log.warning("%s cannot be rendered as it is queued (at send then): %s", draft.kind, exc)
            found.append(None)
    return found
