"""Hearing about changes other processes commit (the CLI, other daemons).

* PostgreSQL: ``LISTEN fbh`` on a dedicated connection; the store sends ``NOTIFY fbh`` in
  every transaction that changes what the daemons schedule (see ``Store.transaction``).
* SQLite: a cheap poll of the change counter (``PRAGMA user_version``, see
  ``engine.store.store.CHANGE_COUNTER_PRAGMA``) on a dedicated connection; the store bumps it
  in every transaction that changes what the daemons schedule, as it sends ``NOTIFY`` on
  PostgreSQL. (``PRAGMA data_version`` moves on every commit of another connection, the
  daemon's own heartbeats and claims included, so it woke the daemon every few seconds.)

Either calls ``on_change()``; the daemon then re-reads its due times from the database. After
a reconnect it also calls it, because notifications may have been lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psycopg
from sqlalchemy.engine import make_url

from engine.backends.leadership import libpq_url
from engine.store.database import redact
from engine.store.store import CHANGE_COUNTER_PRAGMA, NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class Watcher(Protocol):
    async def run(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` after changes, until cancelled."""


class PgWatcher:
    def __init__(self, url: str, *, retry_seconds: float) -> None:
        self._conninfo = libpq_url(url)
        self._where = redact(url)
        self._retry = retry_seconds

    async def run(self, on_change: Callable[[], None]) -> None:
        while True:
            try:
                await self._listen(on_change)
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection to %s failed: %s; retrying", self._where, exc)
            await asyncio.sleep(self._retry)

    async def _listen(self, on_change: Callable[[], None]) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="fbh serve (listen)",
        )
        try:
            await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            on_change()
            async for _notify in conn.notifies():
                on_change()
        finally:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()


class SqliteWatcher:
    def __init__(self, database: Path, *, interval: float) -> None:
        self._database = database
        self._interval = interval

    async def run(self, on_change: Callable[[], None]) -> None:
        connection = sqlite3.connect(self._database, timeout=5)
        try:
            last = change_counter(connection)
            # A change committed before this first read (while the daemon was starting)
            # would otherwise wait for the safety poll: re-read once now, as after LISTEN.
            on_change()
            while True:
                await asyncio.sleep(self._interval)
                try:
                    version = change_counter(connection)
                except sqlite3.Error as exc:
                    log.warning("cannot read PRAGMA %s: %s", CHANGE_COUNTER_PRAGMA, exc)
                    continue
                if version != last:
                    last = version
                    on_change()
        finally:
            connection.close()


def change_counter(connection: sqlite3.Connection) -> int:
    """The SQLite change counter as last committed (bumped by ``Store.transaction``)."""
    row = connection.execute(f"PRAGMA {CHANGE_COUNTER_PRAGMA}").fetchone()
    return int(row[0])


def make_watcher(url: str, *, interval: float) -> Watcher:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PgWatcher(url, retry_seconds=max(interval, 1.0))
    assert parsed.database
    return SqliteWatcher(Path(parsed.database), interval=interval)
