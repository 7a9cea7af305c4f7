"""What fbh needs from a database beyond portable SQL, one implementation per database
(:mod:`engine.backends.sqlite`, :mod:`engine.backends.postgres`; :func:`engine.backends.backend_for`
picks one from the URL).

* **leadership**: which daemon runs the transitions and cron jobs;
* **change watching**: hearing about changes other processes commit;
* **the claim strategy**: how a worker takes due outbox rows without another taking them too;
* the dialect's SQL: row locks, ``INSERT … ON CONFLICT DO NOTHING``, id reservation, bulk
  inserts, announcing a change at commit, serialising migrations.

The store (:mod:`engine.store`) calls these and holds no dialect branch of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from engine.config.secrets import display_url

IN_LIST = 500  # values per IN (…) list and rows per multi-row statement
BULK_SLICE = 5000  # rows per executemany in bulk inserts

S = TypeVar("S", bound=Select[Any])


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return display_url(url)


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None:
        """Take what a daemon needs to run at all; raise ConflictError if it may not."""

    async def check(self) -> bool:
        """Keep, lose or try to gain the lead; returns whether this daemon leads now.

        :attr:`is_leader` may turn false between checks (a lapsed lease), never true."""

    async def close(self) -> None:
        """Give up the lead and release everything."""


class Watcher(Protocol):
    async def start(self) -> None:
        """Take the baseline: call before the daemon first reads its due times, so that a
        change committed after that read, even before :meth:`run`, still wakes it."""

    async def run(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` after changes since :meth:`start`, until cancelled."""


class Backend(ABC):
    """One database. Made from a URL by :func:`engine.backends.backend_for`."""

    name: str  # SQLAlchemy's name of the dialect
    single_daemon: bool  # True: one daemon at a time, so at its start other claims are orphans
    text_datetimes: bool  # True: a date or time column cast to text reads as ISO text

    def __init__(self, url: str) -> None:
        self.url = url

    def __str__(self) -> str:
        return self.name

    # ----- connections ----------------------------------------------------------------------

    @abstractmethod
    def create_engine(self, *, read_only: bool = False, **kwargs: Any) -> Engine:
        """The SQLAlchemy engine for this database, configured as fbh needs it; with
        ``read_only``, for commands that only read (no write locks, no writes)."""

    def exists(self) -> bool:
        """Whether the database is there to open without creating it (a server database
        always is: whether it has fbh's tables is checked after connecting)."""
        return True

    def location(self) -> str:
        """Where the database is, for messages (no password)."""
        return redact(self.url)

    @abstractmethod
    def migration_lock(self, connection: Connection) -> None:
        """Make two processes migrating the same database at once take turns."""

    # ----- daemons --------------------------------------------------------------------------

    @abstractmethod
    def leadership(self, *, timeout: float, lease: float) -> Leadership:
        """``timeout``: the longest a check may take; ``lease``: how long a leader that stops
        answering keeps the lead before another daemon may take it (where several run)."""

    @abstractmethod
    def watcher(self, *, interval: float) -> Watcher: ...

    @abstractmethod
    def bound_idle_transactions(self, engine: Engine, seconds: float) -> None:
        """Make the server end a session of ``engine`` that sits idle inside a transaction for
        ``seconds`` (a frozen daemon's row locks), where the database can."""

    @abstractmethod
    def announce_change(self, session: Session) -> None:
        """Tell every watcher, once this transaction commits, that the schedule changed."""

    # ----- SQL ------------------------------------------------------------------------------

    @abstractmethod
    def for_update(self, statement: S) -> S:
        """``statement`` taking row locks where the database has them (SQLite's writers are
        serial: there it is unchanged)."""

    @abstractmethod
    def lock(self, session: Session, statement: Select[Any]) -> None:
        """Take the row locks of the rows ``statement`` selects, if the database has them."""

    # Whether the claiming UPDATE reads the claimed rows back itself (``RETURNING``). SQLite
    # first copies every returned row, rendered bytes and all, into a temporary table: there
    # a SELECT of the claimed ids after the UPDATE costs less (bench/claim_cost.py).
    claim_returns_rows: bool = True

    @abstractmethod
    def claim_candidates(self, statement: S) -> S:
        """The SELECT of rows to claim, as this database keeps two claimers apart."""

    @abstractmethod
    def claim_fence(self, column: Any, value: str) -> ColumnElement[bool]:
        """``column = value``, the condition the claiming UPDATE rests on, in the form this
        database answers fastest for a handful of ids."""

    @abstractmethod
    def insert_ignoring(self, model: Any, *, key: Sequence[str]) -> Insert:
        """``INSERT … ON CONFLICT (key) DO NOTHING`` into ``model``'s table."""

    @abstractmethod
    def new_ids(self, connection: Connection, table: Table, count: int) -> list[int]:
        """Reserve ``count`` ids for ``table``, in ascending order."""

    @abstractmethod
    def insert_many(
        self,
        connection: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        statement: Insert,
    ) -> None:
        """Run ``statement`` for ``rows`` (dicts with the same keys), a slice per executemany."""


def slices(items: Sequence[Any], size: int = IN_LIST) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
