"""PostgreSQL: several daemons, an advisory lock for the lead, LISTEN/NOTIFY, SKIP LOCKED.

* **leadership** (:class:`PgLeadership`): several daemons may run. Each tries
  ``pg_try_advisory_lock`` on a dedicated autocommit connection every
  ``leader_check_seconds``; the one that holds it leads. The leader checks that connection
  just as often: if a check fails or times out it stops leading at once and closes the
  connection (the server then drops the lock). When a leader dies, PostgreSQL ends its
  session and frees the lock, and another daemon takes over at its next try. A leader that
  is frozen (``SIGSTOP``) keeps its session, so leadership is also a lease: a lock session
  silent for longer than ``daemon.heartbeat_timeout_seconds`` is ended by the next daemon
  that tries for the lead (``pg_terminate_backend``), and a leader fences itself once half
  the lease has passed without a confirmed check.
* **change watching** (:class:`PgWatcher`): ``LISTEN`` on a dedicated connection; the store
  sends ``NOTIFY`` in every transaction that changes what the daemons schedule. The channel is
  per schema (:data:`CHANNEL_SQL`), like the leader lock: daemons of another schema in the same
  database are not woken.
* **claims**: ``SELECT … FOR UPDATE SKIP LOCKED`` picks rows no other worker is claiming, then
  the conditional UPDATE is the fence.

Leadership is not a fence: the leader's writes are conditional on the rows' current states
(and row locks), so a deposed leader finishing a transaction cannot do the work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Table, event, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import create_engine

from engine.backends.abc import BULK_SLICE, Backend, S, redact, slices

log = logging.getLogger(__name__)

# The channel of committed changes to the schedule: one per schema (``fbh_`` and 16 hex digits
# of the md5 of the schema's name, within the 63 bytes a channel name may have).
CHANNEL_SQL = "'fbh_' || substr(md5(coalesce(current_schema(), '')), 1, 16)"
LOCK_CLASS = 0x0FB4  # first key of the two-int advisory lock: "fbh"
MIGRATION_LOCK = 0x66_62_68_6D  # "fbhm": the advisory lock that serialises migrations
# The lead lease (see PgLeadership): a leader stops leading on its own once its last confirmed
# check is older than this share of the lease; another daemon ends its session only after the
# whole lease, so they never both lead for long (the margin covers a check in flight).
LEASE_FENCE = 0.5
TAKEOVER_TRIES, TAKEOVER_WAIT = 5, 0.1  # waiting for an ended leader's session to exit
# The session holding this schema's lead lock, and seconds since its last activity (NULL when
# the role may not see it).
HOLDER_SQL = """
SELECT l.pid, extract(epoch FROM clock_timestamp() - a.state_change)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::oid AND l.objid = hashtext(current_schema())::oid
"""
# Ends it, unless it became active again since the look above.
TERMINATE_SQL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid = %s AND state_change < clock_timestamp() - make_interval(secs => %s)
"""
# Server-side keepalives, so the server notices a vanished leader and frees its lock.
_SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as a libpq connection URI."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBackend(Backend):
    name = "postgresql"
    single_daemon = False
    text_datetimes = False

    def create_engine(self, *, read_only: bool = False, **kwargs: Any) -> Engine:
        engine = create_engine(self.url, pool_pre_ping=True, **kwargs)
        if read_only:

            @event.listens_for(engine, "begin")
            def _read_only(connection: Any) -> None:
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")

        return engine

    def migration_lock(self, connection: Connection) -> None:
        # Two daemons starting together on a fresh database take turns here.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")

    def leadership(self, *, timeout: float, lease: float) -> PgLeadership:
        return PgLeadership(self.url, timeout=timeout, lease=lease)

    def bound_idle_transactions(self, engine: Engine, seconds: float) -> None:
        """``idle_in_transaction_session_timeout`` on every connection of ``engine``: a daemon
        frozen inside a transaction would hold its row locks (claims, a programme's
        transition) until it wakes, and the next leader would wait for them. A daemon's
        transactions never wait for anything but the database."""
        milliseconds = max(1, round(seconds * 1000))

        @event.listens_for(engine, "connect")
        def _bound(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET idle_in_transaction_session_timeout = {milliseconds}")
            dbapi_connection.commit()

        engine.dispose()  # connections pooled before this reconnect with the setting

    def watcher(self, *, interval: float) -> PgWatcher:
        return PgWatcher(self.url, retry_seconds=max(interval, 1.0))

    def announce_change(self, session: Session) -> None:
        # Wakes every ``fbh serve`` of this schema; delivered only if this commits.
        session.execute(text(f"SELECT pg_notify({CHANNEL_SQL}, '')"))

    def for_update(self, statement: S) -> S:
        return statement.with_for_update()

    def lock(self, session: Session, statement: Select[Any]) -> None:
        session.execute(statement.with_for_update()).all()

    def claim_candidates(self, statement: S) -> S:
        return statement.with_for_update(skip_locked=True)

    def claim_fence(self, column: Any, value: str) -> ColumnElement[bool]:
        fence: ColumnElement[bool] = column == value
        return fence

    def insert_ignoring(self, model: Any, *, key: Sequence[str]) -> Insert:
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=list(key))

    def new_ids(self, connection: Connection, table: Table, count: int) -> list[int]:
        """Drawn from the table's sequence."""
        if count <= 0:
            return []
        sequence = func.pg_get_serial_sequence(table.name, "id")
        statement = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return sorted(connection.execute(statement).scalars())

    def insert_many(
        self,
        connection: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        statement: Insert,
    ) -> None:
        """SQLAlchemy's executemany (psycopg pipelines it)."""
        for part in slices(rows, BULK_SLICE):
            connection.execute(statement, part)


class PgLeadership:
    """Leadership by ``pg_try_advisory_lock`` on a dedicated connection, with a lease.

    The leader runs a query on the lock connection at every check (``leader_check_seconds``),
    so the server sees the session's last activity (``pg_stat_activity.state_change``). A
    daemon that finds the lock taken looks at the holder's session: silent for longer than
    ``lease`` means the leader is frozen (``SIGSTOP``, a hung VM) or cut off, and it ends that
    session (``pg_terminate_backend``, which frees the lock) and takes the lead. The leader
    fences itself: :attr:`is_leader` turns false once its last confirmed check is older than
    half the lease, so a leader that wakes after being replaced does no leader work before its
    next check, which fails on the ended connection and gives up the lead.
    """

    def __init__(self, url: str, *, timeout: float, lease: float) -> None:
        self._conninfo = libpq_url(url)
        self._where = redact(url)
        self._timeout = timeout
        self._lease = lease
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._leader = False
        self._confirmed = -math.inf  # when the last check that confirmed the lead began
        self._blind = False  # logged once: the holder's session cannot be seen

    @property
    def is_leader(self) -> bool:
        return self._leader and lease_clock() - self._confirmed < self._lease * LEASE_FENCE

    @property
    def backend_pid(self) -> int | None:
        """The server process of the lock connection (for logs and tests)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    async def start(self) -> None:
        await self.check()

    async def check(self) -> bool:
        """At most ``timeout`` seconds: a check that hangs (a vanished network) counts as a
        failure at once, without waiting for the driver to give up on the query."""
        began = lease_clock()
        attempt = asyncio.ensure_future(self._check())
        done, _ = await asyncio.wait({attempt}, timeout=self._timeout)
        if attempt in done and attempt.exception() is None:
            if self._leader:
                self._confirmed = began
            return self._leader
        failure = attempt.exception() if attempt in done else None
        if self._leader:
            reason = _first_line(failure) if failure else f"no answer in {self._timeout:g} s"
            log.error("lost the lead: the lock connection failed (%s)", reason)
        else:
            log.warning("cannot reach %s to try for the lead: %s", self._where, failure)
        self._leader = False
        await self._drop()  # closing the socket also ends a hung attempt
        if attempt not in done:
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error, OSError):
                await attempt
        return self._leader

    async def _check(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        if self._leader:
            await self._conn.execute("SELECT 1")  # also the activity the lease is read from
            return
        if not await self._try_lock(self._conn) and await self._end_stale_leader(self._conn):
            for _ in range(TAKEOVER_TRIES):  # the ended session frees the lock as it exits
                await asyncio.sleep(TAKEOVER_WAIT)
                if await self._try_lock(self._conn):
                    break
        if self._leader:
            log.info("took the lead")

    async def _try_lock(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (LOCK_CLASS,)
        )
        row = await cursor.fetchone()
        self._leader = bool(row and row[0])
        return self._leader

    async def _end_stale_leader(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        """End the lock holder's session if it has been silent longer than the lease;
        returns whether it was ended."""
        cursor = await conn.execute(HOLDER_SQL, (LOCK_CLASS,))
        row = await cursor.fetchone()
        if row is None:
            return False
        pid, silent = row
        if silent is None:
            if not self._blind:
                self._blind = True
                log.warning(
                    "cannot see the leader's session (server pid %s) in pg_stat_activity: a "
                    "frozen leader cannot be replaced; run every daemon as the same role",
                    pid,
                )
            return False
        if float(silent) <= self._lease:  # type: ignore[arg-type]
            return False
        cursor = await conn.execute(TERMINATE_SQL, (pid, self._lease))
        ended = await cursor.fetchone()
        if not (ended and ended[0]):
            return False
        log.warning(
            "the leader's session (server pid %s) was silent for %.0f s, longer than the "
            "lease of %g s: ended it to take the lead",
            pid,
            float(silent),  # type: ignore[arg-type]
            self._lease,
        )
        return True

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(1, int(self._timeout)),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            application_name="fbh serve (leadership)",
        )
        for statement in _SESSION_SETTINGS:
            await conn.execute(statement)
        return conn

    async def close(self) -> None:
        if self._conn is not None and not self._conn.closed and self._leader:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(
                    self._conn.execute("SELECT pg_advisory_unlock_all()"), self._timeout
                )
        self._leader = False
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()


def lease_clock() -> float:
    """Seconds for leases: they keep counting while the process is stopped, and (where the
    system has ``CLOCK_BOOTTIME``) while the machine sleeps."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class PgWatcher:
    """``LISTEN`` on this schema's channel. :meth:`start` listens before the daemon's first
    read, so a NOTIFY in between waits on the connection; after a reconnect the daemon re-reads
    at once, because notifications may have been lost meanwhile."""

    def __init__(self, url: str, *, retry_seconds: float) -> None:
        self._conninfo = libpq_url(url)
        self._where = redact(url)
        self._retry = retry_seconds
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def start(self) -> None:
        if self._conn is not None:
            return
        try:
            self._conn = await self._listen()
        except (psycopg.Error, OSError) as exc:  # run() connects, and re-reads once it has
            log.warning("LISTEN connection to %s failed: %s; retrying", self._where, exc)

    async def run(self, on_change: Callable[[], None]) -> None:
        try:
            while True:
                try:
                    if self._conn is None:
                        self._conn = await self._listen()
                        on_change()
                    async for _notify in self._conn.notifies():
                        on_change()
                except (psycopg.Error, OSError) as exc:
                    log.warning("LISTEN connection to %s failed: %s; retrying", self._where, exc)
                await self._drop()
                await asyncio.sleep(self._retry)
        finally:
            await self._drop()

    async def _listen(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="fbh serve (listen)",
        )
        try:
            cursor = await conn.execute(f"SELECT {CHANNEL_SQL}")
            row = await cursor.fetchone()
            assert row is not None
            channel = str(row[0])
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()
            raise
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()


def _first_line(exc: BaseException) -> str:
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
