"""Hearing about changes other processes commit (the CLI, other daemons).

* PostgreSQL: ``LISTEN fbh`` on a dedicated connection; the store sends ``NOTIFY fbh`` in
  every transaction that changes what the daemons schedule (see ``Store.transaction``).
* SQLite: a cheap poll of ``PRAGMA data_version`` on a dedicated connection; its value
  changes whenever another connection commits.

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

from engine.leadership import libpq_url
from engine.store.database import redact
from engine.store.store import NOTIFY_CHANNEL

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
            last = _data_version(connection)
            while True:
                await asyncio.sleep(self._interval)
                try:
                    version = _data_version(connection)
                except sqlite3.Error as exc:
                    log.warning("cannot read PRAGMA data_version: %s", exc)
                    continue
                if version != last:
                    last = version
                    on_change()
        finally:
            connection.close()


def _data_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA data_version").fetchone()
    return int(row[0])


def make_watcher(url: str, *, interval: float) -> Watcher:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PgWatcher(url, retry_seconds=max(interval, 1.0))
    assert parsed.database
    return SqliteWatcher(Path(parsed.database), interval=interval)
