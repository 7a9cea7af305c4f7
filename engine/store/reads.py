"""Lean reads for the read commands on SQLite: the standard library's ``sqlite3``, a read-only
connection, no SQLAlchemy, SQLModel or table models (docs/benchmarks.md, "CLI start-up").

Importing SQLAlchemy alone costs about as much as the whole of ``alembic --help``, so
``fbh programme list`` on a SQLite database reads its rows here. :func:`open_sqlite` returns
None whenever the full store (:mod:`engine.store.store`) must answer instead: not a SQLite
file URL, no database file yet, an unreadable file, or a schema that is not at the newest
revision. The caller then opens the full store read-only, which refuses a missing database, an
older or a newer schema as every read command does (:mod:`engine.store.database`); this
reader never creates the file (``mode=ro``). Values are decoded as the ORM does: dates from
ISO text, datetimes from naive UTC text to aware UTC, JSON columns from their text.
PostgreSQL is always read through the full store (it loads psycopg and SQLAlchemy anyway).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "LeanReader",
    "MilestoneRow",
    "ProgrammeRow",
    "ReadError",
    "head_revision",
    "open_sqlite",
]

# A read that failed (locked, corrupt, unreadable): the caller asks the full store, which
# reports it as a StoreError.
ReadError = sqlite3.Error

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
_PREFIX = "sqlite:///"
_CHUNK = 500  # ids per IN (...) list, well under SQLite's limit of bound parameters


def head_revision() -> str:
    """The newest migration revision: the highest ``NNNN_`` prefix in migrations/versions
    (equal to ``engine.store.database.HEAD_REVISION``; tests/unit/test_lean_reads.py)."""
    found = [p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(found) if found else ""


@dataclass(frozen=True)
class ProgrammeRow:
    id: int
    workflow: str
    workflow_version: str
    workflow_snapshot: dict[str, str]
    extensions: tuple[str, ...]
    organisation: str
    municipality: str
    consultant: tuple[str, str]  # (name, email)
    tovholder: tuple[str, str]
    start_date: date
    end_date: date
    state: str


@dataclass(frozen=True)
class MilestoneRow:
    id: int
    programme_id: int
    workflow: str
    key: str
    title: str
    kind: str
    week_first: int
    week_last: int
    window_start: date
    window_end: date
    start_at: datetime | None
    end_at: datetime | None
    state: str
    sequence: int


def _utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_PROGRAMMES = """
SELECT p.id, p.workflow, p.workflow_version, p.workflow_snapshot, p.extensions, o.name,
       p.municipality, c.name, c.email, t.name, t.email, p.start_date, p.end_date, p.state
FROM programmes p
JOIN organisations o ON o.id = p.organisation_id
JOIN people c ON c.id = p.consultant_id
JOIN people t ON t.id = p.tovholder_id
"""

_MILESTONES = """
SELECT id, programme_id, workflow, key, title, kind, week_first, week_last, window_start,
       window_end, start_at, end_at, state, sequence
FROM milestones
"""


class LeanReader:
    """Reads over one read-only SQLite connection (close it with :meth:`close`)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def close(self) -> None:
        self.connection.close()

    def programmes(self, states: Sequence[str] | None = None) -> list[ProgrammeRow]:
        """As ``tx.programmes.find(states=…)``: in id order, optionally of some states."""
        sql, params = _PROGRAMMES, list(states or ())
        if params:
            sql += f" WHERE p.state IN ({', '.join('?' * len(params))})"
        rows = self.connection.execute(sql + " ORDER BY p.id", params).fetchall()
        return [_programme(row) for row in rows]

    def programme(self, programme_id: int) -> ProgrammeRow | None:
        found = self.connection.execute(_PROGRAMMES + " WHERE p.id = ?", [programme_id])
        row = found.fetchone()
        return _programme(row) if row is not None else None

    def attendees(self, milestones: Sequence[MilestoneRow]) -> dict[int, list[tuple[str, str]]]:
        """As ``engine.store.inbox.meeting_attendees``: per meeting, the invited addresses
        (in the order invited) with their answer to its current time, else needs-action."""
        starts = {m.id: m.start_at for m in milestones if m.kind == "meeting"}
        if not starts:
            return {}
        marks = ", ".join("?" * len(starts))
        answers = {
            (row[0], row[1]): row[2]
            for row in self.connection.execute(
                "SELECT milestone_id, email, partstat, start_at FROM meeting_answers"
                f" WHERE milestone_id IN ({marks}) ORDER BY id",
                list(starts),
            )
            if _utc(row[3]) == starts[row[0]]
        }
        found: dict[int, list[tuple[str, str]]] = {}
        for milestone_id, recipient in self.connection.execute(
            "SELECT milestone_id, recipient FROM invites"
            f" WHERE milestone_id IN ({marks}) AND method = 'REQUEST' ORDER BY id",
            list(starts),
        ):
            partstat = answers.get((milestone_id, recipient), "needs-action")
            found.setdefault(milestone_id, []).append((recipient, partstat))
        return found

    def participant_names(self, programme_id: int) -> dict[str, str]:
        """email → name of the programme's participants (``tx.participants.of``)."""
        rows = self.connection.execute(
            "SELECT email, name FROM participants WHERE programme_id = ? ORDER BY id",
            [programme_id],
        )
        return {email: name for email, name in rows}

    def milestones(self, programme_ids: Sequence[int]) -> dict[int, list[MilestoneRow]]:
        """Each programme's milestones in timeline order (``tx.programmes.milestones``)."""
        found: dict[int, list[MilestoneRow]] = {ident: [] for ident in programme_ids}
        if not found:
            return found
        ids = list(found)
        for first in range(0, len(ids), _CHUNK):
            part = ids[first : first + _CHUNK]
            where = f" WHERE programme_id IN ({', '.join('?' * len(part))})"
            order = " ORDER BY programme_id, position, id"
            for row in self.connection.execute(_MILESTONES + where + order, part):
                found[row[1]].append(_milestone(row))
        return found


def _programme(row: Any) -> ProgrammeRow:
    return ProgrammeRow(
        id=row[0],
        workflow=row[1],
        workflow_version=row[2],
        workflow_snapshot=json.loads(row[3]),
        extensions=tuple(json.loads(row[4])),
        organisation=row[5],
        municipality=row[6],
        consultant=(row[7], row[8]),
        tovholder=(row[9], row[10]),
        start_date=date.fromisoformat(row[11]),
        end_date=date.fromisoformat(row[12]),
        state=row[13],
    )


def _milestone(row: Any) -> MilestoneRow:
    return MilestoneRow(
        id=row[0],
        programme_id=row[1],
        workflow=row[2],
        key=row[3],
        title=row[4],
        kind=row[5],
        week_first=row[6],
        week_last=row[7],
        window_start=date.fromisoformat(row[8]),
        window_end=date.fromisoformat(row[9]),
        start_at=_utc(row[10]),
        end_at=_utc(row[11]),
        state=row[12],
        sequence=row[13],
    )


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL (absolute after the settings resolved it);
    None for anything else (other databases, in-memory, query options)."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX) :]
    if not path or path == ":memory:" or not path.startswith("/"):
        return None
    return Path(path)


def open_sqlite(url: str) -> LeanReader | None:
    """A reader on the database at ``url``, or None when the full store must answer."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        found = None
    if found is None or found[0] != head_revision():
        connection.close()
        return None
    return LeanReader(connection)
