"""Attendees and their answers, for ``programme show`` (text and ``--json``) and the digests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from engine.domain.model import Contact
from engine.domain.planning import PlannedMilestone
from engine.domain.views import AttendeeView, MilestoneView
from engine.store import inbox as inbox_store
from engine.store.inbox import meeting_attendees
from engine.store.store import Milestone, Programme, Tx

__all__ = ["milestone_views", "roles_of", "with_inbound"]

_Digest = TypeVar("_Digest")


def roles_of(tx: Tx, programme: Programme) -> dict[str, tuple[str, str]]:
    """email → (name, role) of the programme's people: its participants, then the
    tovholder and the consultant."""
    consultant = tx.people.get(programme.consultant_id)
    tovholder = tx.people.get(programme.tovholder_id)
    found = {p.email: (p.name, "participant") for p in tx.participants.of(programme.id or 0)}
    return found | {
        tovholder.email: (tovholder.name, "tovholder"),
        consultant.email: (consultant.name, "consultant"),
    }


def milestone_views(
    tx: Tx,
    rows: Sequence[Milestone],
    planned: Callable[[Milestone], PlannedMilestone],
    *,
    attendees: bool,
) -> tuple[MilestoneView, ...]:
    found = meeting_attendees(tx, rows) if attendees and rows else {}
    people: dict[str, tuple[str, str]] = {}
    if found:
        people = roles_of(tx, tx.programmes.get(rows[0].programme_id))
    views = []
    for row in rows:
        invited = tuple(
            AttendeeView(
                name=people.get(email, (email, ""))[0],
                email=email,
                role=people.get(email, ("", "participant"))[1],
                partstat=partstat,
            )
            for email, partstat in found.get(row.id or 0, [])
        )
        views.append(MilestoneView(row.id or 0, planned(row), row.state, row.sequence, invited))
    return tuple(views)


def with_inbound(
    tx: Tx, built: dict[int, _Digest], people: dict[int, Contact], now: datetime
) -> dict[int, _Digest]:
    """Digests (engine/services/digests.py) with the answers to coming meetings that still
    hold, and the addresses that bounced, per programme."""
    if not built:
        return built
    ids = list(built)
    names = {c.email: c.name for c in people.values()}
    found = inbox_store.coming_answers(tx, ids, now)
    if any(email not in names for _, _, email, _ in found):  # participants: one more query
        names = tx.participants.names(sorted({p for p, _, _, _ in found})) | names
    answers: dict[int, list[tuple[str, str, str]]] = {}
    for programme_id, title, email, partstat in found:
        answers.setdefault(programme_id, []).append((title, names.get(email, email), partstat))
    bouncing: dict[int, list[str]] = {}
    for bounce in inbox_store.bouncing(tx, programme_ids=ids):
        if bounce.programme_id is not None:
            bouncing.setdefault(bounce.programme_id, []).append(bounce.email)
    result: dict[int, Any] = {}
    for ident, digest in built.items():
        if ident in answers or ident in bouncing:
            digest = replace(  # type: ignore[type-var]
                digest,
                answers=tuple(answers.get(ident, ())),
                bouncing=tuple(bouncing.get(ident, ())),
            )
        result[ident] = digest
    return result
