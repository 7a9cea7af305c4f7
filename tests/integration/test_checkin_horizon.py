"""Check-ins under the rolling horizon, on SQLite and PostgreSQL: creation queues only the
check-in mail due within ``mail.queue_ahead_days``, the top-up (engine/services/horizon.py)
queues the rest from the programme's mark (``programmes.checkins_from``), once, also after
the programme completed; the daemon sends each at its due time, once; a move, a handover, a
closed check-in and a cancellation are followed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from horizons import DAYS, NOW, new, widened

from engine.daemon.runner import Daemon
from engine.domain.model import Contact
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.transports.memory import InMemoryTransport


def checkins(store: Store, programme_id: int, states: tuple[str, ...] = ()) -> list[Any]:
    """The programme's check-in mail as (months, due, state, queued at, recipient)."""
    with store.transaction() as tx:
        rows = tx.outbox.find(programme_id=programme_id, kinds=("checkin",))
    return sorted(
        (r.payload["context"]["checkin"]["months"], r.due_at, r.state, r.created_at, r.recipient)
        for r in rows
        if not states or r.state in states
    )


def mark(store: Store, programme_id: int) -> datetime | None:
    with store.transaction() as tx:
        return tx.programmes.get(programme_id).checkins_from


def test_creation_and_top_ups_queue_what_queueing_at_once_did(fbh: Fbh, store: Store) -> None:
    narrow = fbh.create_programme(new("Nord"), NOW)
    wide = widened(fbh).create_programme(new("Syd", consultant="bo"), NOW).id
    assert checkins(store, narrow.id) == []  # months after the end: nothing within 14 days
    assert mark(store, narrow.id) == narrow.checkins[0].due
    assert mark(store, wide) is None

    moment = NOW
    while moment < narrow.checkins[-1].due:  # weekly, through the end and the check-ins
        moment += timedelta(days=7)
        fbh.advance(moment)
    assert fbh.show(narrow.id).state == "completed"

    queued = checkins(store, narrow.id)
    everything = checkins(store, wide)
    assert [row[0] for row in everything] == [3, 6, 12]
    assert [row[:3] for row in queued] == [row[:3] for row in everything]
    assert [row[1] for row in queued] == [c.due for c in narrow.checkins]
    for _months, due, _state, created, _to in queued:  # each within 14 days, at least 7 ahead
        assert due - timedelta(days=DAYS) <= created <= due - timedelta(days=DAYS - 7)
    assert mark(store, narrow.id) is None


async def test_a_checkin_is_sent_at_its_due_time_and_once(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW)
    due = programme.checkins[0].due
    clock = [due - timedelta(minutes=1)]
    daemon = Daemon(fbh, InMemoryTransport(), clock=lambda: clock[0], name="daemon:test")

    daemon.advance()  # the leader's top-up queues it, ahead of its due time
    await daemon.deliver_pass()
    [(months, queued_due, state, _created, _to)] = checkins(store, programme.id)
    assert (months, queued_due, state) == (3, due, "pending")

    clock[0] = due
    daemon.advance()
    await daemon.deliver_pass()
    clock[0] = due + timedelta(days=1)
    daemon.advance()
    await daemon.deliver_pass()
    with store.transaction() as tx:
        [row] = tx.outbox.find(programme_id=programme.id, kinds=("checkin",))
    assert (row.state, row.sent_at) == ("sent", due)
    assert fbh.top_up(due + timedelta(days=2)) == 0  # the next is months later
    assert mark(store, programme.id) == programme.checkins[1].due


def test_a_top_up_queues_a_checkin_exactly_once(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW)
    later = programme.checkins[0].due - timedelta(days=3)
    assert fbh.top_up(later) > 0  # the reminders that fell due meanwhile, and the check-in
    assert fbh.top_up(later) == 0
    again = Fbh(fbh.settings, store, fbh.registry, actor="another")
    assert again.top_up(later) == 0  # nor from a second process
    assert [row[0] for row in checkins(store, programme.id)] == [3]


def test_a_move_and_a_handover_queue_from_the_new_dates(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW)
    moment = programme.checkins[0].due - timedelta(days=3)
    fbh.top_up(moment)
    assert [row[2] for row in checkins(store, programme.id)] == ["pending"]

    # moved a month later while still planned: the queued check-in goes, the mark follows
    moved = fbh.move(programme.id, date(2027, 2, 1), NOW)
    assert moved.applied
    first = fbh.show(programme.id).checkins[0].due
    assert first > programme.checkins[0].due
    assert checkins(store, programme.id, ("pending",)) == []
    assert mark(store, programme.id) == first

    fbh.edit_programme(programme.id, NOW, tovholder=Contact("Tove", "tove@nord.dk"))
    assert checkins(store, programme.id, ("pending",)) == []
    fbh.top_up(first - timedelta(days=1))
    fbh.top_up(first - timedelta(days=1))
    [(months, due, _state, _created, to)] = checkins(store, programme.id, ("pending",))
    assert (months, due, to) == (3, first, "tove@nord.dk")


def test_closed_and_cancelled_checkins_are_not_queued(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW)
    after_end = datetime(2027, 4, 20, 9, 0, tzinfo=UTC)
    fbh.advance(after_end)
    fbh.milestone_done(programme.id, "checkin-3", after_end)
    fbh.top_up(programme.checkins[1].due - timedelta(days=1))
    assert [row[0] for row in checkins(store, programme.id)] == [6]

    other = fbh.create_programme(new("Syd", consultant="bo"), NOW).id
    assert mark(store, other) is not None
    fbh.cancel(other, NOW)
    assert mark(store, other) is None
    assert fbh.top_up(programme.checkins[-1].due) == 1  # the first programme's last one
    assert checkins(store, other) == []
