"""The weekly digests read the store in a fixed number of queries, however many consultants
and programmes there are (they were built with queries per consultant and per programme,
which made the weekly run for 500 consultants × 20 programmes take a quarter of an hour)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event

from engine.domain.model import Contact
from engine.services.digests import build_digests, digest_consultants, queue_digests
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import log_time

NOW = datetime(2027, 2, 15, 6, 0, tzinfo=UTC)  # Monday 07:00 in Copenhagen


def add_consultant(fbh: Fbh, number: int, programmes: int) -> None:
    for index in range(programmes):
        start = date(2027, 1, 4) + timedelta(weeks=index)
        view = fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=f"Boligselskab {number}-{index}",
                municipality="Helsingør",
                consultant=Contact(f"Konsulent {number}", f"k{number}@bl.dk"),
                tovholder=Contact(f"Tovholder {number}-{index}", f"t{number}-{index}@org.dk"),
                start=start,
                extensions=("tilpasset",) if index % 2 else (),
            ),
            datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        )
        log_time(fbh, view.id, hours=2, day=start + timedelta(days=1), now=NOW)


@contextmanager
def counted(fbh: Fbh) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(fbh.store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(fbh.store.engine, "before_cursor_execute", count)


def weekly_queries(fbh: Fbh) -> int:
    with counted(fbh) as statements:
        emails = digest_consultants(fbh)
        built = build_digests(fbh, NOW, emails, fbh.settings.lead)
    assert built.lead is not None and len(built.lead.programmes) == sum(
        len(d.programmes) for d in built.consultants
    )
    return len(statements)


def test_the_weekly_digests_take_as_many_queries_for_many_consultants_as_for_few(
    fbh: Fbh,
) -> None:
    add_consultant(fbh, 1, programmes=2)
    few = weekly_queries(fbh)

    for number in range(2, 5):
        add_consultant(fbh, number, programmes=3)
    many = weekly_queries(fbh)

    assert many == few


def test_queueing_writes_every_digest_and_reads_no_more(fbh: Fbh) -> None:
    for number in range(1, 4):
        add_consultant(fbh, number, programmes=2)
    with counted(fbh) as statements:
        result = queue_digests(fbh, NOW)
    assert len(result.queued) == 4  # three consultants and the lead
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) < 20
