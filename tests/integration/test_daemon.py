"""The daemon's parts on SQLite and PostgreSQL: catch-up, transitions, heartbeats, leadership,
change notifications, and one in-process run. Times are explicit except in the last test,
which polls observable state with a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.exc import DBAPIError

from engine.backends.postgres import CHANNEL_SQL, PgLeadership, libpq_url
from engine.backends.sqlite import SqliteLeadership
from engine.config.daemon import CatchUpSection, DaemonSection
from engine.config.settings import Settings
from engine.daemon.runner import Daemon
from engine.domain.definitions import load_registry
from engine.domain.errors import ConflictError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.status import format_status, gather
from engine.store.store import Store
from notifications.transports.memory import InMemoryTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = date(2027, 1, 4)


def new(org: str = "Boligselskabet Østervang", start: date = START) -> NewProgramme:
    return NewProgramme(
        workflow="socialt-beredskab",
        organisation=org,
        municipality="Helsingør",
        consultant=Contact("Anne Konsulent", "anne@bl.dk"),
        tovholder=Contact("Søren Tovholder", "soren@oestervang.dk"),
        start=start,
    )


def with_daemon(fbh: Fbh, **options: object) -> Fbh:
    settings = fbh.settings.model_copy(update={"daemon": DaemonSection(**options)})  # type: ignore[arg-type]
    return Fbh(settings, fbh.store, fbh.registry, actor=fbh.actor)


def daemon_at(fbh: Fbh, moment: datetime, transport: InMemoryTransport) -> Daemon:
    return Daemon(fbh, transport, clock=lambda: moment, name="daemon:test")


def kinds(transport: InMemoryTransport) -> list[str]:
    return sorted(
        line.split(b": ", 1)[1].decode()
        for envelope in transport.sent
        for line in envelope.data.splitlines()
        if line.startswith(b"X-Fbh-Kind")
    )


# ----- catch-up after downtime -------------------------------------------------------------


async def test_downtime_across_reminders_records_them_missed(fbh: Fbh, store: Store) -> None:
    fbh.create_programme(new(), NOW)
    back = datetime(2027, 1, 4, 9, 30, tzinfo=fbh.tz)  # afsaet at 10:00; its 2h reminder 08:00
    transport = InMemoryTransport()
    daemon = daemon_at(fbh, back, transport)

    daemon.advance()  # the leader's top-up queues the reminders that fell due meanwhile
    await daemon.deliver_pass()

    with store.transaction() as tx:
        rows = tx.outbox.find()
        missed_events = tx.events.find(event="missed")
    missed = [r for r in rows if r.state == "missed"]
    assert missed and {r.kind for r in missed} == {"reminder"}
    assert all(r.due_at < back - timedelta(minutes=60) for r in missed)
    assert {e.entity_id for e in missed_events} == {r.id for r in missed}
    assert all(e.data["kind"] == "reminder" and e.actor == "daemon:test" for e in missed_events)
    assert "late (grace 60 min)" in missed_events[0].data["reason"]
    # every invite (the meetings lie ahead) and the summary went out, late as they were
    assert kinds(transport).count("invite") == 8
    assert "programme_summary" in kinds(transport)
    assert "reminder" not in kinds(transport)


async def test_with_policy_send_late_reminders_still_go_until_the_meeting(
    fbh: Fbh, store: Store
) -> None:
    fbh = with_daemon(fbh, catch_up=CatchUpSection(reminder="send"))  # type: ignore[call-arg]
    fbh.create_programme(new(), NOW)
    transport = InMemoryTransport()

    daemon = daemon_at(fbh, datetime(2027, 1, 4, 9, 30, tzinfo=fbh.tz), transport)
    daemon.advance()
    await daemon.deliver_pass()

    with store.transaction() as tx:
        states = {(r.kind, r.state) for r in tx.outbox.find() if r.kind == "reminder"}
    assert ("reminder", "sent") in states
    assert ("reminder", "missed") not in states
    # afsaet's 2d reminders to both and its 2h one to Anne; the others lie ahead
    assert kinds(transport).count("reminder") == 3

    # a reminder of a meeting that has begun is missed whatever the policy
    fbh.create_programme(new("Fællesbo Århus", date(2027, 1, 11)), NOW)
    later = InMemoryTransport()
    daemon = daemon_at(fbh, datetime(2027, 1, 11, 10, 30, tzinfo=fbh.tz), later)
    daemon.advance()
    await daemon.deliver_pass()
    with store.transaction() as tx:
        missed = [e.data["reason"] for e in tx.events.find(event="missed")]
    assert missed and all(reason.startswith("its moment passed") for reason in missed)


# ----- transitions -------------------------------------------------------------------------


def test_time_moves_programmes_and_milestones(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    tz = fbh.tz

    def states_at(moment: datetime) -> dict[str, str]:
        fbh.advance(moment)
        shown = fbh.show(view.id)
        return {"programme": shown.state} | {m.planned.key: m.state for m in shown.milestones}

    assert fbh.advance(datetime(2027, 1, 3, 23, 59, tzinfo=tz)) == []
    assert fbh.next_transition(NOW) == datetime(2027, 1, 4, 0, 0, tzinfo=tz)
    assert states_at(datetime(2027, 1, 4, 0, 0, tzinfo=tz))["programme"] == "running"
    assert states_at(datetime(2027, 1, 4, 11, 0, tzinfo=tz))["afsaet"] == "done"
    monday = states_at(datetime(2027, 1, 11, 0, 0, tzinfo=tz))
    assert (monday["kortlaegning"], monday["opstart"]) == ("scheduled", "scheduled")
    assert states_at(datetime(2027, 1, 29, 23, 59, tzinfo=tz))["kortlaegning"] == "scheduled"
    after = states_at(datetime(2027, 1, 30, 0, 0, tzinfo=tz))  # weeks 1–3 closed on Friday
    assert (after["kortlaegning"], after["opstart"]) == ("overdue", "done")
    end = states_at(datetime(2027, 4, 3, 0, 0, tzinfo=tz))
    assert end["programme"] == "completed"
    assert end["workshop"] == "done" and end["invitationer"] == "overdue"
    assert fbh.next_transition(datetime(2027, 4, 3, tzinfo=tz)) is None
    with store.transaction() as tx:
        automatic = [e for e in tx.events.find(programme_id=view.id) if e.data.get("auto")]
    assert {e.event for e in automatic} == {"start", "done", "schedule", "expire", "complete"}
    assert fbh.advance(datetime(2027, 5, 1, tzinfo=tz)) == []  # nothing fires twice


def test_a_paused_programme_stands_still(fbh: Fbh) -> None:
    view = fbh.create_programme(new(), NOW)
    fbh.pause(view.id, NOW)
    assert fbh.advance(datetime(2027, 2, 1, tzinfo=fbh.tz)) == []
    assert fbh.show(view.id).state == "paused"


# ----- heartbeats and orphaned claims ------------------------------------------------------


def test_claims_of_daemons_without_a_fresh_heartbeat_are_released(fbh: Fbh, store: Store) -> None:
    fbh.create_programme(new(), NOW)
    with store.transaction() as tx:
        for name in ("daemon:alive", "daemon:dead"):
            tx.daemons.beat(name=name, host="h", pid=1, started_at=NOW, now=NOW, leader=False)
        tx.daemons.beat(
            name="daemon:alive",
            host="h",
            pid=1,
            started_at=NOW,
            now=NOW + timedelta(seconds=20),
            leader=True,
        )
        tx.outbox.claim_due(NOW, "daemon:alive", 2)
        tx.outbox.claim_due(NOW, "daemon:dead", 3)
        tx.outbox.claim_due(NOW, "cli:42", 1)
    later = NOW + timedelta(seconds=25)
    with store.transaction() as tx:
        alive = tx.daemons.alive_names(later - timedelta(seconds=10))
        released = tx.outbox.release_orphans(later, alive)
        sending = {r.claimed_by for r in tx.outbox.find(states=["sending"])}
        leaders = [d.name for d in tx.daemons.find() if d.is_leader]
    assert alive == {"daemon:alive"}
    assert [w for _, w in released] == ["daemon:dead"] * 3
    assert sending == {"daemon:alive", "cli:42"}
    assert leaders == ["daemon:alive"]


def test_status_shows_a_leader_that_stopped_answering(fbh: Fbh, store: Store) -> None:
    """Before: "no leader" while the frozen leader still held the lock."""
    with store.transaction() as tx:
        tx.daemons.beat(name="daemon:a", host="h", pid=7, started_at=NOW, now=NOW, leader=True)
        tx.daemons.beat(name="daemon:b", host="h", pid=8, started_at=NOW, now=NOW, leader=False)
    assert gather(fbh, NOW + timedelta(seconds=1)).leader_state == "leading"
    later = NOW + timedelta(seconds=31)
    with store.transaction() as tx:
        tx.daemons.beat(name="daemon:b", host="h", pid=8, started_at=NOW, now=later, leader=False)
    status = gather(fbh, later)
    assert (status.leader_state, status.to_json()["unresponsive_leader"]) == (
        "unresponsive",
        "daemon:a",
    )
    text = format_status(status, UTC)
    assert "no leader: daemon:a led and has not answered for 31 s" in text
    assert "silent" in text.splitlines()[1]
    with store.transaction() as tx:  # b takes over: its beat clears a's flag
        tx.daemons.beat(name="daemon:b", host="h", pid=8, started_at=NOW, now=later, leader=True)
    assert gather(fbh, later).to_json()["leader"] == "daemon:b"
    assert gather(fbh, later).unresponsive_leader is None


async def test_a_leader_never_releases_a_live_daemons_claims(fbh: Fbh, store: Store) -> None:
    """Only a daemon without a fresh heartbeat has orphans, with one exception: the SQLite
    daemon at start, holding the lock on the database file. (Before, two SQLite daemons that got
    past the lock released each other's claims every second: 54 messages, 928 deliveries.)"""
    fbh.create_programme(new(), NOW)
    with store.transaction() as tx:
        tx.daemons.beat(name="daemon:other", host="h", pid=9, started_at=NOW, now=NOW, leader=False)
        tx.outbox.claim_due(NOW, "daemon:other", 2)
    daemon = daemon_at(fbh, NOW, InMemoryTransport())
    await daemon.leadership.start()
    try:
        daemon._release_orphans(NOW + timedelta(seconds=1))
        with store.transaction() as tx:
            assert len(tx.outbox.find(states=["sending"])) == 2  # the other one is alive
        assert daemon.is_leader
        daemon._release_orphans(NOW + timedelta(seconds=1), at_start=True)
        with store.transaction() as tx:
            left = len(tx.outbox.find(states=["sending"]))
        assert left == (0 if store.backend.single_daemon else 2)
    finally:
        await daemon.leadership.close()


# ----- leadership --------------------------------------------------------------------------


async def test_sqlite_takes_one_daemon(tmp_path: Path) -> None:
    first, second = (
        SqliteLeadership(tmp_path / "fbh.sqlite3"),
        SqliteLeadership(tmp_path / "fbh.sqlite3"),
    )
    await first.start()
    with pytest.raises(ConflictError, match=r"another fbh serve \(pid \d+\) is running"):
        await second.start()
    await first.close()
    await second.start()
    assert second.is_leader
    await second.close()


async def test_sqlite_locks_the_file_not_its_name(tmp_path: Path) -> None:
    """A symlink or a hard link to the same database is the same database."""
    database = tmp_path / "fbh.sqlite3"
    (tmp_path / "elsewhere").mkdir()
    symlink, hard_link = tmp_path / "link.sqlite3", tmp_path / "elsewhere" / "hard.sqlite3"
    first = SqliteLeadership(database)
    await first.start()
    symlink.symlink_to(database)
    hard_link.hardlink_to(database)
    for other in (symlink, hard_link):
        with pytest.raises(ConflictError, match=r"is running on the SQLite database"):
            await SqliteLeadership(other).start()
    await first.close()
    through_link = SqliteLeadership(hard_link)
    await through_link.start()
    with pytest.raises(ConflictError):
        await SqliteLeadership(database).start()
    await through_link.close()


@pytest.mark.postgres
async def test_postgres_replaces_a_leader_silent_beyond_its_lease(pg_schema_url: str) -> None:
    """A leader that stops checking (frozen) keeps its session and so the lock; after the lease
    another daemon ends that session and leads, and the old one, fenced since half the lease,
    finds out at its next check."""
    frozen = PgLeadership(pg_schema_url, timeout=2, lease=0.6)
    other = PgLeadership(pg_schema_url, timeout=2, lease=0.6)
    try:
        assert await frozen.check() is True
        assert await other.check() is False  # the lease runs
        took = await _poll_async(other.check, 10)
        assert took >= 0.6 * 0.5  # not before the lease (measured from the first try)
        assert frozen.is_leader is False  # fenced on its own, before it even checks
        assert await frozen.check() is False  # its session was ended
        assert other.is_leader is True
        assert await other.check() is True
    finally:
        await frozen.close()
        await other.close()


@pytest.mark.postgres
def test_a_daemon_frozen_inside_a_transaction_loses_it_after_the_lease(pg_schema_url: str) -> None:
    """Its row locks would stall the next leader: the server ends the idle transaction."""
    store = Store.open(pg_schema_url, run_migrations=False)
    try:
        store.backend.bound_idle_transactions(store.engine, 0.3)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # a transaction is open, and now sits idle
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with psycopg.connect(libpq_url(pg_schema_url), autocommit=True) as admin:

                def ended() -> bool:
                    row = admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                    return row is not None and row[0] == 0

                began = time.monotonic()
                while not ended():
                    assert time.monotonic() - began < 10, "the idle transaction lives on"
                    time.sleep(0.05)
            with pytest.raises(DBAPIError, match="idle-in-transaction"):
                conn.exec_driver_sql("SELECT 1")
    finally:
        store.dispose()


async def _poll_async(check: Callable[[], Any], seconds: float) -> float:
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, "not within the deadline"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


@pytest.mark.postgres
async def test_postgres_has_one_leader_and_a_lost_connection_loses_it(
    pg_schema_url: str,
) -> None:
    first = PgLeadership(pg_schema_url, timeout=2, lease=30)
    second = PgLeadership(pg_schema_url, timeout=2, lease=30)
    try:
        assert await first.check() is True
        assert await second.check() is False
        assert await first.check() is True  # keeps it
        with psycopg.connect(libpq_url(pg_schema_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first.backend_pid,))
        assert await first.check() is False  # stops leading at once
        assert await second.check() is True
        assert await first.check() is False
    finally:
        await first.close()
        await second.close()


# ----- change notifications ----------------------------------------------------------------


@pytest.mark.postgres
def test_writes_notify_the_daemons_and_reads_do_not(pg_schema_url: str, tmp_path: Path) -> None:
    from fbhtest import make_settings

    settings = make_settings(tmp_path, pg_schema_url)
    store = Store.open(settings.database_url)
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir))
    try:
        with (
            psycopg.connect(libpq_url(pg_schema_url), autocommit=True) as listener,
            psycopg.connect(libpq_url(pg_schema_url), autocommit=True) as elsewhere,
        ):
            row = listener.execute(f"SELECT {CHANNEL_SQL}").fetchone()
            assert row is not None
            channel = str(row[0])
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            assert channel.startswith("fbh_") and channel != "fbh"  # not database-wide
            # the daemons of another schema hear nothing
            other_schema = f"t_{uuid.uuid4().hex[:12]}"
            elsewhere.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other_schema)))
            elsewhere.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(other_schema)))
            other = elsewhere.execute(f"SELECT {CHANNEL_SQL}").fetchone()
            assert other is not None and other[0] != channel
            elsewhere.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(other[0]))))
            elsewhere.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(other_schema)))
            fbh.list_programmes()
            assert list(listener.notifies(timeout=0.3)) == []
            fbh.create_programme(new(), NOW)
            heard = list(listener.notifies(timeout=2, stop_after=1))
            assert [n.channel for n in heard] == [channel]
            assert list(elsewhere.notifies(timeout=0.3)) == []
    finally:
        store.dispose()


# ----- one in-process run ------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_a_running_daemon_picks_up_changes_and_stops_cleanly(
    fbh: Fbh, settings: Settings
) -> None:
    fbh = with_daemon(fbh, watch_seconds=0.2, heartbeat_seconds=0.5, leader_check_seconds=0.2)
    transport = InMemoryTransport()
    daemon = Daemon(fbh, transport)
    run = asyncio.create_task(daemon.run())

    def alive() -> bool:
        return len(gather(fbh, datetime.now(UTC)).alive) == 1

    await wait_for(alive, 10)
    assert gather(fbh, datetime.now(UTC)).leader is not None
    other = Store.open(settings.database_url)  # another process would do the same
    try:
        cli = Fbh(fbh.settings, other, fbh.registry, actor="cli")
        now = datetime.now(UTC)
        cli.create_programme(new(start=now.date() + timedelta(days=60)), now)
    finally:
        other.dispose()

    def delivered() -> int:
        return sum(kind in ("invite", "programme_summary") for kind in kinds(transport))

    latency = await wait_for(lambda: delivered() == 9, 5)
    assert latency < 5

    daemon.stop()
    await asyncio.wait_for(run, 10)
    assert transport.closed is False  # the caller owns the transport
    assert gather(fbh, datetime.now(UTC)).daemons == ()
