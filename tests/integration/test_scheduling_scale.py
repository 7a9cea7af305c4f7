"""What keeps the daemon cheap with many pending rows (bench/startup.py, bench/lateness.py),
on SQLite and PostgreSQL: the outbox index on the due column, transitions found and timed in
SQL instead of by reading every programme's timeline, a change counter on SQLite that the
daemon's own writes do not move, the weekly digest not rebuilt at every start, and the
catch-up reading only the parts of a payload it needs. Times are explicit."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlmodel import col

from engine.backends.sqlite import change_counter
from engine.daemon.runner import WEEKLY_DIGEST_EVENT, Daemon, LeaderJobs
from engine.domain import timeline
from engine.domain.catchup import EXPIRY_PATHS, expiry
from engine.domain.model import Contact, OutboxDraft
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import check_budget_end
from engine.store.programmes import Programmes
from engine.store.schedule import Schedule
from engine.store.store import Store
from engine.store.tables import Milestone, Programme
from notifications.transports.memory import InMemoryTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new(n: int, start: date, *, tilpasset: bool = False) -> NewProgramme:
    return NewProgramme(
        workflow="socialt-beredskab",
        organisation=f"Boligselskabet {n}",
        municipality="Helsingør",
        consultant=Contact(f"Konsulent {n}", f"konsulent{n}@bl.dk"),
        tovholder=Contact(f"Tovholder {n}", f"tovholder{n}@example.dk"),
        start=start,
        extensions=("tilpasset",) if tilpasset else (),
    )


@pytest.fixture
def three(fbh: Fbh) -> list[int]:
    """Three programmes, the third paused."""
    ids = [
        fbh.create_programme(new(1, date(2027, 1, 4)), NOW).id,
        fbh.create_programme(new(2, date(2027, 1, 18), tilpasset=True), NOW).id,
        fbh.create_programme(new(3, date(2027, 2, 1)), NOW).id,
    ]
    return ids


# ----- the outbox's due column ---------------------------------------------------------------


def test_the_outbox_is_indexed_by_state_and_next_attempt(store: Store) -> None:
    indexes = {
        index["name"]: index["column_names"]
        for index in inspect(store.engine).get_indexes("outbox")
    }
    assert indexes.get("ix_outbox_next") == ["state", "next_attempt_at"]


def test_sqlite_claims_and_times_the_outbox_through_the_index(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    statements = {
        "claim": "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= :now "
        "ORDER BY next_attempt_at, id LIMIT 20",
        "next due": "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
    }
    with store.engine.connect() as connection:
        for what, sql in statements.items():
            plan = " ".join(
                str(row[3])
                for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"), {"now": "x"})
            )
            assert "ix_outbox_next" in plan, (what, plan)
            assert "TEMP B-TREE" not in plan, (what, plan)  # no sort of every pending row


def test_sqlite_claims_the_picked_rows_by_primary_key(store: Store) -> None:
    """The claim's conditional UPDATE walked every pending row of the state index."""
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    drafts = [
        OutboxDraft(
            dedupe_key=f"k:{i}",
            kind="reminder",
            recipient=f"r{i}@example.dk",
            due_at=NOW,
            payload={"i": i},
            message_id=f"<k{i}@bl.dk>",
        )
        for i in range(30)
    ]
    with store.transaction() as tx:
        tx.outbox.enqueue(drafts, NOW)
    updates: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("UPDATE outbox"):
            updates.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.transaction() as tx:
            assert len(tx.outbox.claim_due(NOW, "daemon:t", 5)) == 5
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = updates
    with store.engine.connect() as connection:
        plan = " ".join(
            str(row[3])
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    assert "PRIMARY KEY" in plan and "ix_outbox" not in plan, plan


# ----- transitions in SQL --------------------------------------------------------------------


def moments(fbh: Fbh) -> Iterator[datetime]:
    """Every moment some step of the live programmes falls due, and a minute either side."""
    with fbh.store.transaction() as tx:
        clocks = tx.schedule.live_clocks()
    for clock in clocks:
        for step in timeline._steps(clock, fbh.tz):
            for delta in (-60, 0, 60):
                yield step.at + timedelta(seconds=delta)


def bound(fbh: Fbh, now: datetime) -> datetime | None:
    with fbh.store.transaction() as tx:
        return tx.schedule.next_transition_bound(now, fbh.tz)


def due_ids(fbh: Fbh, now: datetime) -> set[int]:
    with fbh.store.transaction() as tx:
        return set(tx.schedule.due_programme_ids(now, fbh.tz))


def exact_due(fbh: Fbh, now: datetime) -> set[int]:
    with fbh.store.transaction() as tx:
        clocks = tx.schedule.live_clocks()
    return {c.id for c in clocks if timeline.due_steps(c, now, fbh.tz)}


def test_the_timer_bound_is_the_next_transition(fbh: Fbh, three: list[int]) -> None:
    for now in sorted(set(moments(fbh)))[::3]:
        assert bound(fbh, now) == fbh.next_transition(now), now
        assert due_ids(fbh, now) >= exact_due(fbh, now), now


def test_with_a_paused_programme_the_bound_is_never_late(fbh: Fbh, three: list[int]) -> None:
    fbh.pause(three[2], NOW)
    for now in sorted(set(moments(fbh)))[::3]:
        found, exact = bound(fbh, now), fbh.next_transition(now)
        assert found is not None and found > now
        assert exact is None or found <= exact, now
        assert three[2] not in due_ids(fbh, now)


def test_following_the_bound_fires_every_transition_in_time(fbh: Fbh, three: list[int]) -> None:
    """What the daemon does: advance, arm at the bound, wake there, advance again."""
    now, wakes = NOW, 0
    while (wake := bound(fbh, now)) is not None:
        assert wake > now
        now, wakes = wake, wakes + 1
        assert fbh.advance(now), f"woke at {now} for nothing"
    assert fbh.next_transition(now) is None
    assert wakes > 10
    with fbh.store.transaction() as tx:
        auto = [e for e in tx.events.find() if e.data.get("auto")]
    assert {(e.programme_id, e.event) for e in auto} >= {(i, "complete") for i in three}
    for fired in auto:  # each fired at its due moment, not later
        assert fired.at == datetime.fromisoformat(fired.data["due"]), fired


def test_the_status_finds_the_next_step_among_fewer_programmes(fbh: Fbh, three: list[int]) -> None:
    """``fbh status`` reads only the clocks that may hold the next step (11k programmes: most
    of its time went to every programme's clock) and finds the same step."""
    fbh.pause(three[1], NOW + timedelta(days=40))
    fewer = 0
    for now in sorted(set(moments(fbh))):
        with fbh.store.transaction() as tx:
            some, every = tx.schedule.next_step_clocks(now, fbh.tz), tx.schedule.live_clocks()
        assert [c.id for c in some] == sorted({c.id for c in some} & {c.id for c in every})
        assert timeline.next_step(some, now, fbh.tz) == timeline.next_step(every, now, fbh.tz), now
        # more than the winner: every programme with a step by the first `complete` is read
        completes = [timeline.midnight(c.end + timedelta(days=1), fbh.tz) for c in every]
        first = min((at for at in completes if at > now), default=None)
        steps = {c.id: [s.at for s in timeline._steps(c, fbh.tz) if s.at > now] for c in every}
        held = {i for i, at in steps.items() if first is None or any(t <= first for t in at)}
        assert {i for i in held if steps[i]} <= {c.id for c in some}, now
        fewer += len(some) < len(every)
    assert fewer > 0


# Five programmes, one for each condition of next_step_clocks (its start, its end: the first
# `complete`, which bounds the rest, a meeting's end, a task window's start, its end): at one
# of the moments below each holds the next step, and only that condition reads it then.
DAY = date(2027, 5, 3)
FAR = DAY + timedelta(days=300)  # after every programme's first `complete`


def day(n: int) -> date:
    return DAY + timedelta(days=n)


def shape_clocks(fbh: Fbh) -> dict[str, int]:
    """The programmes by their condition; every milestone planned and FAR unless shaped."""
    names = ("start", "end", "meeting", "window start", "window end")
    ids = {
        name: fbh.create_programme(new(i, date(2027, 1, 4)), NOW).id for i, name in enumerate(names)
    }
    local = partial(timeline.midnight, tz=fbh.tz)
    programmes = {name: ("running", day(-10), FAR) for name in names}  # state, start, end
    programmes |= {"start": ("planned", day(6), FAR), "end": ("running", day(-10), day(30))}
    first = {  # its first milestone of a kind: state, window, a meeting's end
        ("meeting", "meeting"): ("scheduled", DAY, DAY, local(day(1)) + timedelta(hours=13)),
        ("window start", "task"): ("planned", day(2), day(60), None),
        ("window end", "task"): ("scheduled", day(-20), day(3), None),
    }
    with fbh.store.transaction() as tx:
        run = tx.session.execute
        for name, (state, start, end) in programmes.items():
            values = {"state": state, "start_date": start, "end_date": end}
            run(update(Programme).where(col(Programme.id) == ids[name]).values(values))
            far = {"state": "planned", "window_start": FAR, "window_end": FAR, "end_at": local(FAR)}
            run(update(Milestone).where(col(Milestone.programme_id) == ids[name]).values(far))
        for (name, kind), (state, opens, closes, end_at) in first.items():
            mine = (col(Milestone.programme_id) == ids[name], col(Milestone.kind) == kind)
            ident = run(select(func.min(Milestone.id)).where(*mine)).scalar_one()
            values = {"state": state, "window_start": opens, "window_end": closes, "end_at": end_at}
            run(update(Milestone).where(col(Milestone.id) == ident).values(values))
    return ids


def test_each_condition_of_the_status_read_alone_reads_a_next_step(fbh: Fbh) -> None:
    """Had next_step_clocks lost any of its conditions, it would miss one of these steps."""
    ids = shape_clocks(fbh)
    local = partial(timeline.midnight, tz=fbh.tz)
    shaped = [  # now; who holds the next step, and which step it is
        (local(DAY) + timedelta(hours=9), "meeting", "done"),
        (local(day(1)) + timedelta(hours=14), "window start", "schedule"),
        (local(day(2)) + timedelta(hours=1), "window end", "expire"),
        (local(day(4)) + timedelta(hours=1), "start", "start"),
        (local(day(6)) + timedelta(hours=1), "end", "complete"),
    ]
    for now, holder, step in shaped:
        with fbh.store.transaction() as tx:
            some, every = tx.schedule.next_step_clocks(now, fbh.tz), tx.schedule.live_clocks()
        found = timeline.next_step(every, now, fbh.tz)
        assert found is not None and (found[0].id, found[1].event) == (ids[holder], step), now
        assert timeline.next_step(some, now, fbh.tz) == found, holder


def test_a_wake_up_with_nothing_due_reads_no_timelines(
    fbh: Fbh, three: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 11k programmes, reading every timeline took 5 s per wake-up (bench/startup.py)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read every programme's timeline")

    daemon = Daemon(fbh, InMemoryTransport(), clock=lambda: NOW, name="daemon:test")
    monkeypatch.setattr(Schedule, "live_clocks", refuse)
    assert daemon.advance() == []
    armed = daemon.timer.scheduler.get_job("wake-advance")  # not started: the trigger tells
    assert armed is not None
    assert armed.trigger.run_date == datetime(2027, 1, 4, tzinfo=fbh.tz)


# ----- SQLite's change counter ---------------------------------------------------------------


@contextlib.contextmanager
def counter(store: Store) -> Iterator[sqlite3.Connection]:
    database = make_url(str(store.engine.url)).database
    assert database
    connection = sqlite3.connect(database)
    try:
        yield connection
    finally:
        connection.close()


def test_the_daemons_own_writes_do_not_move_the_change_counter(fbh: Fbh, store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL has NOTIFY")
    with counter(store) as watched:
        before = change_counter(watched)
        fbh.create_programme(new(1, date(2027, 1, 4)), NOW)  # the CLI's change
        after_create = change_counter(watched)
        with store.transaction() as tx:
            tx.daemons.beat(name="daemon:t", host="h", pid=1, started_at=NOW, now=NOW, leader=True)
        with store.transaction() as tx:
            claimed = tx.outbox.claim_due(NOW, "daemon:t", 5)
        with store.transaction() as tx:
            tx.outbox.release_claims("daemon:t", NOW)
        assert claimed
        assert after_create != before
        assert change_counter(watched) == after_create


# ----- the weekly digest at start-up ---------------------------------------------------------


class Leading:
    """Leadership settled elsewhere: this daemon leads."""

    is_leader = True

    async def start(self) -> None:
        pass

    async def check(self) -> bool:
        return True

    async def close(self) -> None:
        pass


async def test_a_leader_starting_later_in_the_week_does_not_rebuild_the_digest(fbh: Fbh) -> None:
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # Monday's 07:00 digest has passed
    calls: list[datetime] = []

    def digest(_fbh: Fbh, now: datetime) -> int:
        calls.append(now)
        return 3

    def started(moment: datetime) -> Daemon:
        daemon = Daemon(
            fbh,
            InMemoryTransport(),
            clock=lambda: moment,
            name="daemon:test",
            leadership=Leading(),
            jobs=LeaderJobs(digest=digest, budget=None),
        )
        return daemon

    await started(wednesday).became_leader()
    await started(wednesday + timedelta(hours=5)).became_leader()
    assert calls == [wednesday]  # the second one found the job's event
    with fbh.store.transaction() as tx:
        (event,) = tx.events.find(event=WEEKLY_DIGEST_EVENT)
    assert event.data == {"queued": 3}
    await started(wednesday + timedelta(days=7)).became_leader()  # next week: runs again
    assert len(calls) == 2


# ----- start-up steps that read every programme ----------------------------------------------


def test_the_budget_check_reads_only_programmes_that_ended_lately(
    fbh: Fbh, three: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read every programme")

    monkeypatch.setattr(Programmes, "find", refuse)
    assert check_budget_end(fbh, NOW) == 0


# ----- the catch-up reads what it needs ------------------------------------------------------


def test_late_rows_carry_the_parts_of_the_payload_that_say_when_they_expire(
    fbh: Fbh, store: Store
) -> None:
    fbh.create_programme(new(1, date(2027, 1, 4), tilpasset=True), NOW)
    fbh.add_request(
        organisation="Fællesbo",
        contact=Contact("Kim", "kim@faellesbo.dk"),
        wished_start=date(2027, 3, 1),
        received=date(2026, 11, 30),
        now=NOW,
    )
    later = datetime(2028, 6, 1, tzinfo=UTC)  # every row is late by then (the check-ins too)
    assert fbh.top_up(later) > 0  # the reminders and task notices beyond the horizon
    with store.transaction() as tx:
        full = {row.id: row for row in tx.outbox.find(states=["pending"])}
        late = tx.outbox.late_pending(later, EXPIRY_PATHS)
    kinds = {row.kind for row in late}
    assert {"invite", "reminder", "task_due", "request_reminder"} <= kinds
    assert len(late) == len(full)
    for row in late:
        whole = full[row.id]
        assert (row.kind, row.due_at, row.recipient) == (whole.kind, whole.due_at, whole.recipient)
        assert expiry(row.kind, row.payload, fbh.tz) == expiry(whole.kind, whole.payload, fbh.tz)
        assert expiry(row.kind, row.payload, fbh.tz) is not None or row.kind not in (
            "invite",
            "reminder",
            "task_due",
            "request_reminder",
        )
