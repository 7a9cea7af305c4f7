"""The lean read path of ``fbh programme list`` (engine/services/reads.py) gives exactly what
the full store gives, and hands over to it whenever it cannot answer."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.domain.errors import NotFoundError
from engine.domain.model import Contact
from engine.services import reads
from engine.services.facade import Fbh, NewProgramme
from engine.store import inbox as inbox_store
from engine.store import reads as store_reads
from engine.store.database import HEAD_REVISION
from engine.store.tables import MeetingAnswer

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
    assert store_reads.open_sqlite(f"sqlite:///{old}") is None  # the read-only store refuses it
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    assert store_reads.open_sqlite(f"sqlite:///{empty}") is None
    broken = tmp_path / "broken.sqlite3"  # at the head revision, but a read fails
    with sqlite3.connect(broken) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES (?)", [HEAD_REVISION])
    assert reads.list_programmes(f"sqlite:///{broken}", ZoneInfo("Europe/Copenhagen")) is None
    assert reads.show_programme(f"sqlite:///{broken}", ZoneInfo("Europe/Copenhagen"), 1) is None


def test_lean_show_equals_the_full_store_with_the_answers(fbh: Fbh) -> None:
    view = fbh.create_programme(new("Østervang", date(2027, 1, 4)), NOW)
    meetings = [m for m in view.milestones if m.planned.is_meeting]
    first, second = meetings[0], meetings[1]
    assert first.planned.start is not None and second.planned.start is not None
    with fbh.store.transaction() as tx:
        for milestone, start, partstat in (
            (first, first.planned.start, "accepted"),  # to the meeting's current time
            (second, second.planned.start - timedelta(days=7), "declined"),  # to an old time
        ):
            answer = MeetingAnswer(
                programme_id=view.id,
                milestone_id=milestone.id,
                email="soren@oestervang.dk",
                partstat=partstat,
                start_at=start,
                answered_at=NOW,
                message_id=f"<answer-{partstat}@oestervang.dk>",
            )
            inbox_store.upsert_answer(tx, answer)
    url, tz = fbh.settings.database_url, fbh.settings.tz
    lean = reads.show_programme(url, tz, view.id)
    if fbh.store.dialect != "sqlite":
        assert lean is None
        return
    full = fbh.show(view.id)
    assert lean == full and lean is not None
    assert lean.to_json(tz) == full.to_json(tz)
    answered = {m.id: {a.email: a.partstat for a in m.attendees} for m in lean.milestones}
    assert answered[first.id] == {"anne@bl.dk": "needs-action", "soren@oestervang.dk": "accepted"}
    assert answered[second.id]["soren@oestervang.dk"] == "needs-action"  # the meeting moved on
    with pytest.raises(NotFoundError, match="programme 9999 not found"):
        reads.show_programme(url, tz, 9999)
