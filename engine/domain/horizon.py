"""The queueing horizon of timed mail: reminders and task notices are queued only when they
fall due within ``mail.queue_ahead_days``; a milestone keeps the due time of its first one not
queued yet (``milestones.timed_from``), from which the top-up (engine/services/horizon.py)
queues the rest as they come within the horizon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.domain.model import OutboxDraft

# compose's timed drafts keep what is due strictly after the ``now`` they are given; the top-up
# gives this much before the mark, so a draft due exactly at the mark is kept.
BEFORE_MARK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Split:
    """Timed drafts split at the horizon: those to queue now, and the due time of the first
    of the others (None: nothing is left for later)."""

    queue: list[OutboxDraft]
    mark: datetime | None


def horizon_end(now: datetime, days: int) -> datetime:
    """The end of the horizon: drafts due before it are queued now."""
    return now + timedelta(days=days)


def split_at(drafts: Sequence[OutboxDraft], until: datetime) -> Split:
    """The drafts due before ``until`` to queue, and the earliest due time among the rest."""
    queue = [d for d in drafts if d.due_at < until]
    later = [d.due_at for d in drafts if d.due_at >= until]
    return Split(queue, min(later) if later else None)
