"""The queueing horizon of timed mail (engine/domain/horizon.py): which drafts are queued now,
and the mark the rest are queued from later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from engine.domain.horizon import horizon_end, split_at
from engine.domain.model import OutboxDraft

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def draft(due: datetime, key: str = "reminder:1") -> OutboxDraft:
    return OutboxDraft(
        dedupe_key=key, kind="reminder", recipient="a@b.dk", due_at=due, payload={}, message_id=""
    )


def test_the_horizon_ends_the_configured_days_after_now() -> None:
    assert horizon_end(NOW, 14) == datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


def test_drafts_before_the_end_are_queued_and_the_first_of_the_rest_is_the_mark() -> None:
    until = horizon_end(NOW, 14)
    soon, edge, later, last = (
        draft(NOW + timedelta(days=1), "a"),
        draft(until, "b"),  # due at the end itself: not yet
        draft(until + timedelta(days=3), "c"),
        draft(until + timedelta(days=30), "d"),
    )
    split = split_at([last, soon, later, edge], until)
    assert [d.dedupe_key for d in split.queue] == ["a"]
    assert split.mark == until


def test_nothing_left_for_later_leaves_no_mark() -> None:
    split = split_at([draft(NOW)], horizon_end(NOW, 1))
    assert [d.due_at for d in split.queue] == [NOW] and split.mark is None
    assert split_at([], NOW).mark is None


moments = st.integers(min_value=0, max_value=400 * 24).map(lambda h: NOW + timedelta(hours=h))


@given(st.lists(moments, max_size=30), st.integers(min_value=1, max_value=60))
def test_every_draft_is_queued_now_or_at_or_after_the_mark(dues: list[datetime], days: int) -> None:
    until = horizon_end(NOW, days)
    drafts = [draft(due, str(n)) for n, due in enumerate(dues)]
    split = split_at(drafts, until)
    rest = [d for d in drafts if d not in split.queue]
    assert all(d.due_at < until for d in split.queue)
    assert all(split.mark is not None and split.mark <= d.due_at for d in rest)
    assert split.mark is None if not rest else split.mark in [d.due_at for d in rest]
    assert len(split.queue) + len(rest) == len(drafts)
