"""The rolling horizon of timed mail, on SQLite and PostgreSQL: creation queues only the
reminders and task notices due within ``mail.queue_ahead_days``, the top-up
(engine/services/horizon.py) queues the rest from each milestone's mark, once, and after a
time without a daemon the ones that fell due are queued with their own due times and recorded
as missed, exactly as when everything was queued at creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from horizons import DAYS, NOW, new, widened

from engine.daemon.runner import Daemon
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.transports.memory import InMemoryTransport

TIMED = ("reminder", "task_due")


def timed(store: Store, programme_id: int, states: tuple[str, ...] = ()) -> list[Any]:
    """The programme's reminders and task notices as (milestone key, kind, due, state, queued)."""
    with store.transaction() as tx:
        keys = {m.id: m.key for m in tx.programmes.milestones(programme_id)}
        rows = tx.outbox.find(programme_id=programme_id, kinds=TIMED)
    return sorted(
        (keys[r.milestone_id], r.kind, r.due_at, r.state, r.created_at)
        for r in rows
        if not states or r.state in states
    )


def marks(store: Store, programme_id: int) -> dict[str, datetime | None]:
    with store.transaction() as tx:
        return {m.key: m.timed_from for m in tx.programmes.milestones(programme_id)}


def test_creation_and_top_ups_queue_what_queueing_at_once_did(fbh: Fbh, store: Store) -> None:
    narrow = fbh.create_programme(new("Nord"), NOW).id
    wide = widened(fbh).create_programme(new("Syd", consultant="bo"), NOW).id
    assert timed(store, narrow) == []  # five weeks before the start: nothing within 14 days
    assert all(mark is not None for mark in marks(store, narrow).values())

    moment = NOW
    while moment < datetime(2027, 4, 1, tzinfo=UTC):  # a top-up every week, past the end
        moment += timedelta(days=7)
        fbh.top_up(moment)

    queued = timed(store, narrow)
    everything = timed(store, wide)
    assert len(everything) > 15
    assert [row[:4] for row in queued] == [row[:4] for row in everything]
    for _key, _kind, due, _state, created in queued:  # each within 14 days, at least 7 ahead
        assert due - timedelta(days=DAYS) <= created <= due - timedelta(days=DAYS - 7)
    assert all(mark is None for mark in marks(store, narrow).values())


def test_a_top_up_queues_the_next_ones_exactly_once(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW).id
    later = NOW + timedelta(days=20)
    until = later + timedelta(days=DAYS)

    first = fbh.top_up(later)
    rows = timed(store, programme)
    assert first == len(rows) > 0
    assert all(due < until for _key, _kind, due, _state, _created in rows)
    assert all(m is None or m >= until for m in marks(store, programme).values())

    assert fbh.top_up(later) == 0  # run twice: nothing more
    again = Fbh(fbh.settings, store, fbh.registry, actor="another")
    assert again.top_up(later) == 0  # nor from a second process
    assert timed(store, programme) == rows


async def test_reminders_that_fell_due_without_a_daemon_are_recorded_missed(
    fbh: Fbh, store: Store
) -> None:
    narrow = fbh.create_programme(new("Nord"), NOW).id
    wide = widened(fbh).create_programme(new("Syd", consultant="bo"), NOW).id
    back = datetime(2027, 1, 12, 12, 0, tzinfo=UTC)  # afsaet and opstart have been held
    daemon = Daemon(fbh, InMemoryTransport(), clock=lambda: back, name="daemon:test")

    daemon.advance()  # the leader's top-up, then the transitions
    await daemon.deliver_pass()  # the catch-up

    missed = [row[:4] for row in timed(store, narrow, ("missed",))]
    assert {key for key, *_ in missed} >= {"afsaet", "opstart"}
    assert missed == [row[:4] for row in timed(store, wide, ("missed",))]
    with store.transaction() as tx:
        events = tx.events.find(event="missed")
    recorded = [e for e in events if e.programme_id == narrow and e.data["kind"] in TIMED]
    assert len(recorded) == len(missed)


def test_a_reschedule_across_the_horizon_moves_the_mark(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW).id
    moment = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)  # the horizon ends on 14 January
    fbh.top_up(moment)
    assert [k for k, *_ in timed(store, programme, ("pending",)) if k == "afsaet"]

    # afsaet out of the horizon: its queued reminders go, its mark is the new first one
    out = datetime(2027, 2, 2, 10, 0, tzinfo=fbh.tz)
    fbh.reschedule(programme, "afsaet", out, moment, force=True)
    assert not [k for k, *_ in timed(store, programme, ("pending",)) if k == "afsaet"]
    mark = marks(store, programme)["afsaet"]
    assert mark is not None and mark > moment + timedelta(days=DAYS)
    assert fbh.top_up(moment) == 0

    # the workshop into it: its reminders are queued at once
    fbh.reschedule(
        programme, "workshop", datetime(2027, 1, 13, 13, 0, tzinfo=fbh.tz), moment, force=True
    )
    workshop = [row for row in timed(store, programme, ("pending",)) if row[0] == "workshop"]
    assert len(workshop) >= 3 and marks(store, programme)["workshop"] is None

    fbh.top_up(mark - timedelta(days=1))
    afsaet = [row for row in timed(store, programme, ("pending",)) if row[0] == "afsaet"]
    assert afsaet and min(due for _k, _kind, due, *_ in afsaet) == mark


def test_done_and_cancelled_milestones_have_nothing_left_to_queue(fbh: Fbh, store: Store) -> None:
    programme = fbh.create_programme(new("Nord"), NOW).id
    fbh.milestone_skip(programme, "opfoelgning", NOW)
    assert marks(store, programme)["opfoelgning"] is None

    fbh.cancel(programme, NOW)
    assert set(marks(store, programme).values()) == {None}
    assert fbh.top_up(datetime(2027, 6, 1, tzinfo=UTC)) == 0
    assert timed(store, programme, ("pending",)) == []
