"""SQLite: one daemon per database file, a change counter for watching, serial writers.

* **leadership** (:class:`SqliteLeadership`): one daemon only. An exclusive ``flock`` on the
  database file itself keeps a second one out, however it names the file (a symlink, a hard
  link); the kernel frees it if the process dies, even on ``kill -9``. The one daemon always
  leads.
* **change watching** (:class:`SqliteWatcher`): SQLite has no NOTIFY. A transaction that
  changes the schedule bumps the change counter (``PRAGMA user_version``) instead, and the
  daemon polls it on a dedicated connection. (``PRAGMA data_version`` moves on every commit of
  another connection, the daemon's own heartbeats and claims included, so it woke the daemon
  every few seconds.)
* **claims**: every transaction takes the write lock at once (``BEGIN IMMEDIATE``), so writers
  are serial and a plain conditional UPDATE is the fence; there are no row locks to take.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import create_engine

from engine.backends.abc import BULK_SLICE, Backend, S, slices
from engine.backends.bulk import BulkInsert
from engine.domain.errors import ConfigError, ConflictError
from engine.domain.i18n import _

log = logging.getLogger(__name__)

# The change counter: bumped by every transaction that changes what the daemons schedule.
CHANGE_COUNTER_PRAGMA = "user_version"


class SqliteBackend(Backend):
    name = "sqlite"
    single_daemon = True
    text_datetimes = True

    @property
    def database(self) -> str | None:
        return make_url(self.url).database

    def exists(self) -> bool:
        database = self.database
        return database is not None and database != ":memory:" and Path(database).is_file()

    def location(self) -> str:
        database = self.database
        if not database or database == ":memory:":
            return super().location()
        return str(Path(database).resolve())

    def create_engine(self, *, read_only: bool = False, **kwargs: Any) -> Engine:
        """WAL, foreign keys, a busy timeout, and transactions that take the write lock at once.

        ``read_only``: plain (deferred) transactions that never write (``PRAGMA query_only``),
        so a read command answers from the last commit while another process holds the write
        lock (WAL readers do not wait for writers), and never creates the file or its folder.
        """
        database = self.database
        if database and database != ":memory:" and not read_only:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN below decide transactions, and make them take the write
            # lock at once so two writers queue instead of failing on lock upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            else:
                # Only takes for a new, empty file (before WAL is set): outbox rows carry
                # 1–4 KB of JSON; with 16 KiB pages SQLite spends about a fifth less time
                # writing them (see bench/create_programmes.py).
                cursor.execute("PRAGMA page_size=16384")
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine

    def migration_lock(self, connection: Connection) -> None:
        """Nothing to take: the migration's transaction holds the write lock already."""

    def leadership(self, *, timeout: float, lease: float) -> SqliteLeadership:
        return SqliteLeadership(self._database_file())

    def bound_idle_transactions(self, engine: Engine, seconds: float) -> None:
        """Nothing to bound: the one daemon is the only holder of claims."""

    def watcher(self, *, interval: float) -> SqliteWatcher:
        return SqliteWatcher(self._database_file(), interval=interval)

    def _database_file(self) -> Path:
        database = self.database
        if not database or database == ":memory:":
            raise ConfigError(
                _("fbh serve needs a database file or PostgreSQL, not an in-memory one")
            )
        return Path(database)

    def announce_change(self, session: Session) -> None:
        """Bump the change counter. The write lock is held (``BEGIN IMMEDIATE``), so
        read-then-write cannot race."""
        value = session.execute(text(f"PRAGMA {CHANGE_COUNTER_PRAGMA}")).scalar_one()
        session.execute(text(f"PRAGMA {CHANGE_COUNTER_PRAGMA} = {(int(value) + 1) % 2**31}"))

    def for_update(self, statement: S) -> S:
        return statement

    def lock(self, session: Session, statement: Select[Any]) -> None:
        """Nothing to take: writers are serial (``BEGIN IMMEDIATE``)."""

    claim_returns_rows = False  # see Backend: read back by a SELECT in the same transaction

    def claim_candidates(self, statement: S) -> S:
        return statement

    def claim_fence(self, column: Any, value: str) -> ColumnElement[bool]:
        # ``state || ''``: the same test, but SQLite cannot answer it from an index, so it
        # looks the ids up by primary key instead of walking every pending row of the state
        # index (24 ms a batch with 100k pending rows; bench/lateness.py).
        fence: ColumnElement[bool] = column.concat("") == value
        return fence

    def insert_ignoring(self, model: Any, *, key: Sequence[str]) -> Insert:
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=list(key))

    def new_ids(self, connection: Connection, table: Table, count: int) -> list[int]:
        """The transaction holds the write lock from its first statement (``BEGIN
        IMMEDIATE``), so the next ids are the ones SQLite itself would give: one past the
        largest."""
        if count <= 0:
            return []
        largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
        return list(range(largest + 1, largest + 1 + count))

    def insert_many(
        self,
        connection: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        statement: Insert,
    ) -> None:
        """One driver-level executemany per slice (:mod:`engine.backends.bulk`): the driver
        steps a prepared statement per row, so what costs is building the parameters."""
        bulk = BulkInsert.compile(statement, table, list(rows[0]), connection.dialect)
        for part in slices(rows, BULK_SLICE):
            connection.exec_driver_sql(bulk.sql, bulk.parameters(part))


class SqliteLeadership:
    """The one daemon of a SQLite database, kept alone by an exclusive ``flock`` on the
    database file itself.

    The lock is on the file, not on a name: a second daemon that reaches the same file through
    a symlink, a hard link or another spelling of the path is refused. ``flock`` does not
    interact with SQLite's own (POSIX) locks on Linux. The descriptor is never closed while
    the process lives, only unlocked (:data:`_LOCK_FILES`): closing any descriptor of a file
    drops every POSIX lock the process holds on it, SQLite's included.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self._key: tuple[int, int] | None = None

    @property
    def is_leader(self) -> bool:
        return self._key is not None

    async def start(self) -> None:
        path = self.database
        try:
            if not path.exists():  # nobody has it open, so closing this descriptor is safe
                path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            info = path.stat()  # follows symlinks: the real file
        except OSError as exc:
            message = _("cannot open the SQLite database {path}: {reason}")
            raise ConfigError(message.format(path=path, reason=exc.strerror)) from None
        key = (info.st_dev, info.st_ino)
        entry = _LOCK_FILES.get(key)
        if entry is None:
            entry = _LOCK_FILES[key] = _LockFile(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        if entry.held:
            holder: str = str(os.getpid())
        else:
            try:
                fcntl.flock(entry.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = flock_holder(info.st_ino) or "?"
            else:
                entry.held = True
                self._key = key
                return
        raise ConflictError(
            _(
                "another fbh serve (pid {pid}) is running on the SQLite database {path}; "
                "SQLite takes one daemon: stop it first, or use PostgreSQL to run several"
            ).format(pid=holder, path=_real_path(path))
        )

    async def check(self) -> bool:
        return self.is_leader

    async def close(self) -> None:
        key, self._key = self._key, None
        entry = _LOCK_FILES.get(key) if key is not None else None
        if entry is None:
            return
        fcntl.flock(entry.fd, fcntl.LOCK_UN)
        entry.held = False
        if os.fstat(entry.fd).st_nlink == 0:  # the file is gone: nothing left to protect
            del _LOCK_FILES[key]  # type: ignore[arg-type]
            os.close(entry.fd)


@dataclass
class _LockFile:
    fd: int
    held: bool = False


# (st_dev, st_ino) → the descriptor this process locks that database file with.
_LOCK_FILES: dict[tuple[int, int], _LockFile] = {}


def flock_holder(inode: int) -> str | None:
    """The pid holding a ``flock`` on the file with this inode (Linux ``/proc/locks``)."""
    try:
        lines = Path("/proc/locks").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return fields[4]
    return None


def _real_path(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


class SqliteWatcher:
    """Polls the change counter every ``interval`` seconds on its own connection."""

    def __init__(self, database: Path, *, interval: float) -> None:
        self._database = database
        self._interval = interval
        self._connection: sqlite3.Connection | None = None
        self._last: int | None = None

    async def start(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self._database, timeout=5)
        self._last = change_counter(self._connection)

    async def run(self, on_change: Callable[[], None]) -> None:
        if self._connection is None:
            await self.start()
        connection = self._connection
        assert connection is not None
        try:
            while True:  # the first look is at once: a change since start() wakes the daemon
                try:
                    version = change_counter(connection)
                except sqlite3.Error as exc:
                    log.warning("cannot read PRAGMA %s: %s", CHANGE_COUNTER_PRAGMA, exc)
                else:
                    if version != self._last:
                        self._last = version
                        on_change()
                await asyncio.sleep(self._interval)
        finally:
            self._connection = None
            connection.close()


def change_counter(connection: sqlite3.Connection) -> int:
    """The SQLite change counter as last committed (bumped by ``announce_change``)."""
    row = connection.execute(f"PRAGMA {CHANGE_COUNTER_PRAGMA}").fetchone()
    return int(row[0])
