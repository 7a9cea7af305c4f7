"""Who leads: one daemon runs the transitions and cron jobs.

* PostgreSQL (:class:`PgLeadership`): several daemons may run. Each tries
  ``pg_try_advisory_lock`` on a dedicated autocommit connection every
  ``leader_check_seconds``; the one that holds it leads. The leader checks that connection
  just as often: if a check fails or times out it stops leading at once and closes the
  connection (the server then drops the lock). When a leader dies, PostgreSQL ends its
  session and frees the lock, and another daemon takes over at its next try.
* SQLite (:class:`SqliteLeadership`): one daemon only. An exclusive ``flock`` on a file next
  to the database keeps a second one out (the kernel frees it if the process dies, even on
  ``kill -9``); the one daemon always leads.

Leadership is not a fence: the leader's writes are conditional on the rows' current states
(and row locks), so a deposed leader finishing a transaction cannot do the work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

import psycopg
from sqlalchemy.engine import make_url

from engine.domain.errors import ConfigError, ConflictError
from engine.store.database import redact

log = logging.getLogger(__name__)

LOCK_CLASS = 0x0FB4  # first key of the two-int advisory lock: "fbh"
# Server-side keepalives, so the server notices a vanished leader and frees its lock.
_SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None:
        """Take what a daemon needs to run at all; raise ConflictError if it may not."""

    async def check(self) -> bool:
        """Keep, lose or try to gain the lead; returns whether this daemon leads now."""

    async def close(self) -> None:
        """Give up the lead and release everything."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as a libpq connection URI."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgLeadership:
    """Leadership by ``pg_try_advisory_lock`` on a dedicated connection."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self._conninfo = libpq_url(url)
        self._where = redact(url)
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def backend_pid(self) -> int | None:
        """The server process of the lock connection (for logs and tests)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    async def start(self) -> None:
        await self.check()

    async def check(self) -> bool:
        """At most ``timeout`` seconds: a check that hangs (a vanished network) counts as a
        failure at once, without waiting for the driver to give up on the query."""
        attempt = asyncio.ensure_future(self._check())
        done, _ = await asyncio.wait({attempt}, timeout=self._timeout)
        if attempt in done and attempt.exception() is None:
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
            await self._conn.execute("SELECT 1")
            return
        cursor = await self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (LOCK_CLASS,)
        )
        row = await cursor.fetchone()
        if row and row[0]:
            self._leader = True
            log.info("took the lead")

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


class SqliteLeadership:
    """The one daemon of a SQLite database, kept alone by a lock file."""

    def __init__(self, database: Path) -> None:
        self.lock_path = database.with_name(database.name + ".serve.lock")
        self._file: IO[str] | None = None

    @property
    def is_leader(self) -> bool:
        return self._file is not None

    async def start(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ConflictError(
                f"another fbh serve (pid {holder}) is running on this SQLite database "
                f"(lock {self.lock_path}); SQLite takes one daemon: stop it first, or use "
                "PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    async def check(self) -> bool:
        return self.is_leader

    async def close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def make_leadership(url: str, *, timeout: float) -> Leadership:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PgLeadership(url, timeout=timeout)
    database = parsed.database
    if not database or database == ":memory:":
        raise ConfigError("fbh serve needs a database file or PostgreSQL, not an in-memory one")
    return SqliteLeadership(Path(database))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
