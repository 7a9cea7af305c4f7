"""The lean read path of ``fbh programme list`` (engine/services/reads.py) gives exactly what
the full store gives, and hands over to it whenever it cannot answer."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

from engine.domain.model import Contact
from engine.services import reads
from engine.services.facade import Fbh, NewProgramme
from engine.store import reads as store_reads
from engine.store.database import HEAD_REVISION

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new(org: str, start: date, extensions: tuple[str, ...] = ()) -> NewProgramme:
    return NewProgramme(
        workflow="socialt-beredskab",
        organisation=org,
        municipality="Helsingør",
        consultant=Contact("Anne Konsulent", "anne@bl.dk"),
        tovholder=Contact("Søren Tovholder", "soren@oestervang.dk"),
        start=start,
        extensions=extensions,
    )


def test_the_lean_head_is_the_migrations_head() -> None:
    assert store_reads.head_revision() == HEAD_REVISION


def test_lean_list_equals_the_full_store_on_sqlite_and_hands_postgres_over(fbh: Fbh) -> None:
    first = fbh.create_programme(new("Østervang", date(2027, 1, 4)), NOW)
    second = fbh.create_programme(new("Fællesbo", date(2026, 12, 14), ("tilpasset",)), NOW)
    fbh.cancel(first.id, NOW)
    url, tz = fbh.settings.database_url, fbh.settings.tz
    lean = reads.list_programmes(url, tz)
    if fbh.store.dialect != "sqlite":
        assert lean is None  # PostgreSQL: the full store answers
        return
    assert lean is not None
    assert lean == fbh.list_programmes()
    assert [v.to_json(tz) for v in lean] == [v.to_json(tz) for v in fbh.list_programmes()]
    assert reads.list_programmes(url, tz, states=["cancelled"]) == fbh.list_programmes(
        states=["cancelled"]
    )
    assert [v.id for v in reads.list_programmes(url, tz, states=["planned"]) or []] == [second.id]


def test_the_lean_reader_hands_over_without_a_file_or_at_an_old_schema(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    assert store_reads.open_sqlite(f"sqlite:///{missing}") is None
    assert not missing.exists()  # a read never creates the database
    assert store_reads.open_sqlite("sqlite:///:memory:") is None
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
    assert store_reads.open_sqlite(f"sqlite:///{old}") is None  # the full store migrates it
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    assert store_reads.open_sqlite(f"sqlite:///{empty}") is None
