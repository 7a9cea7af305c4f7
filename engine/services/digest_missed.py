"""The missed mail a weekly digest lists (docs/digests.md, "Ikke sendt, mens systemet var
nede"): outbox rows recorded as missed, and ``missed`` events, of the last digest period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.domain.digest import MissedItem
from engine.store import digests as digest_store
from engine.store.store import Event, OutboxMessage, Tx

__all__ = ["MISSED_LOOKBACK", "missed_items"]

MISSED_LOOKBACK = timedelta(days=7)  # one digest period


def missed_items(tx: Tx, now: datetime) -> tuple[MissedItem, ...]:
    """Messages recorded as missed in the last ``MISSED_LOOKBACK``: outbox rows in state
    ``missed`` and ``missed`` events (an event about a row already listed is not repeated),
    by due time."""
    since = now - MISSED_LOOKBACK
    events = digest_store.missed_events(tx, since)
    flagged = {e.entity_id for e in events if e.entity == "outbox" and e.entity_id is not None}
    rows = digest_store.missed_rows(tx, since, flagged)
    listed = {r.id for r in rows}
    events = [e for e in events if not (e.entity == "outbox" and e.entity_id in listed)]
    referred = {r.programme_id for r in rows} | {e.programme_id for e in events}
    names = digest_store.programme_organisations(tx, {i for i in referred if i is not None})
    items = [_missed_row(r, names) for r in rows] + [_missed_event(e, names) for e in events]
    return tuple(sorted(items, key=lambda i: i.due))


def _missed_row(row: OutboxMessage, names: dict[int, str]) -> MissedItem:
    context = row.payload.get("context") if isinstance(row.payload, dict) else None
    return MissedItem(
        due=row.due_at,
        kind=row.kind,
        programme_id=row.programme_id,
        organisation=_organisation(row.programme_id, context, names),
        title=_title(context),
        recipient=row.recipient,
    )


def _missed_event(event: Event, names: dict[int, str]) -> MissedItem:
    data = event.data if isinstance(event.data, dict) else {}
    due = event.at
    if isinstance(data.get("due_at"), str):
        try:
            due = datetime.fromisoformat(data["due_at"])
        except ValueError:
            due = event.at
    if due.tzinfo is None:
        due = event.at
    return MissedItem(
        due=due,
        kind=str(data.get("kind") or "reminder"),
        programme_id=event.programme_id,
        organisation=_organisation(event.programme_id, data.get("context"), names),
        title=str(data.get("title") or data.get("milestone") or ""),
        recipient=str(data.get("recipient") or ""),
    )


def _organisation(programme_id: int | None, context: Any, names: dict[int, str]) -> str:
    if programme_id is not None and programme_id in names:
        return names[programme_id]
    if isinstance(context, dict) and isinstance(context.get("programme"), dict):
        return str(context["programme"].get("organisation") or "")
    if isinstance(context, dict) and isinstance(context.get("recipient"), dict):  # a course
        return str(context["recipient"].get("organisation") or "")
    return ""


def _title(context: Any) -> str:
    if not isinstance(context, dict):
        return ""
    for key in ("milestone", "meeting", "course"):
        part = context.get(key)
        if isinstance(part, dict) and part.get("title"):
            return str(part["title"])
    return ""
