"""Creating many programmes at once (``Fbh.create_programmes``), on SQLite and PostgreSQL.

The bulk path must write exactly the rows that creating the programmes one at a time writes,
keep a consultant's meetings apart within a batch, and leave nothing of a failed chunk.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from fbhtest import make_settings
from sqlalchemy import select, text

from engine.domain.definitions import load_registry
from engine.domain.errors import InvalidInputError, NotFoundError, PlanningError, PrerequisiteError
from engine.domain.model import Contact, OutboxDraft, Role
from engine.domain.planning import plan_programme
from engine.domain.workdays import WorkingCalendar
from engine.services.facade import BatchItemError, Fbh, NewProgramme
from engine.store.store import Store
from engine.store.tables import (
    Event,
    Invite,
    Milestone,
    Organisation,
    OutboxMessage,
    Person,
    Programme,
)
from notifications import compose

# Two days after the first start: the first programmes start at once, their first meetings
# lie in the past (no invite), the rest of their timeline ahead.
NOW = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
BO = Contact("Bo Konsulent", "bo@bl.dk")
TABLES = (Organisation, Person, Programme, Milestone, Event, Invite, OutboxMessage)


def new(
    org: str,
    tovholder: str,
    *,
    consultant: Contact = ANNE,
    start: date = date(2027, 1, 4),
    workflow: str = "socialt-beredskab",
    extensions: tuple[str, ...] = (),
) -> NewProgramme:
    return NewProgramme(
        workflow=workflow,
        organisation=org,
        municipality=" Helsingør ",
        consultant=consultant,
        tovholder=Contact(f"Tovholder {tovholder}", f"{tovholder}@example.dk"),
        start=start,
        extensions=extensions,
    )


def mixed_batch() -> list[NewProgramme]:
    """Shared consultants and starts, an extension, TILPASSET alone on an agreement made
    earlier in the batch, a start in the past, and an organisation and people met again."""
    return [
        new("Boligselskabet A", "a"),
        new("Boligselskabet B", "b", extensions=("tilpasset",)),
        new("Boligselskabet C", "c", consultant=BO),
        new("Boligselskabet A", "a", workflow="tilpasset", start=date(2027, 5, 3)),
        new(" Boligselskabet D ", "d", start=date(2027, 1, 11)),
        new("Boligselskabet E", "e", consultant=BO, start=date(2026, 12, 7)),
        new("Boligselskabet F", "b", start=date(2027, 2, 1), extensions=("tilpasset",)),
    ]


def rows_of(store: Store) -> dict[str, list[dict[str, Any]]]:
    found = {}
    with store.engine.connect() as connection:
        for model in TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            statement = select(table).order_by(table.c.id)
            found[table.name] = [dict(row) for row in connection.execute(statement).mappings()]
    return found


@pytest.fixture
def twin(backend_url: str, tmp_path: Path) -> Iterator[Fbh]:
    """A second Fbh on its own fresh database of the same backend as ``fbh``."""
    schema = None
    if backend_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'twin.sqlite3'}"
    else:
        admin = os.environ.get("FBH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
        url = f"postgresql+psycopg://{admin.split('://', 1)[1]}?options=-csearch_path%3D{schema}"
    settings = make_settings(tmp_path / "twin", url)
    store = Store.open(settings.database_url)
    yield Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
    store.dispose()
    if schema is not None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def same_installation(source: Store, target: Store) -> None:
    """Make ``target`` a copy of ``source``'s installation: UIDs and Message-IDs carry the
    installation id (engine/domain/identity.py), so only then can their rows be equal."""
    with source.engine.connect() as connection:
        ident = connection.execute(text("SELECT installation_id FROM installation")).scalar_one()
    with target.engine.begin() as connection:
        connection.execute(text("UPDATE installation SET installation_id = :i"), {"i": ident})


def test_a_batch_writes_exactly_the_rows_of_creating_one_at_a_time(fbh: Fbh, twin: Fbh) -> None:
    same_installation(fbh.store, twin.store)
    before = new("Boligselskabet A", "a", start=date(2026, 11, 30))  # data both start from
    fbh.create_programme(before, NOW)
    twin.create_programme(before, NOW)

    ids = fbh.create_programmes(mixed_batch(), NOW, chunk_size=3)
    singles = [twin.create_programme(item, NOW).id for item in mixed_batch()]

    assert ids == singles == list(range(2, 9))
    bulk, one_by_one = rows_of(fbh.store), rows_of(twin.store)
    for table, rows in one_by_one.items():
        assert bulk[table] == rows, table
    counts = {table: len(rows) for table, rows in bulk.items()}
    assert counts["programmes"] == 8 and counts["outbox"] > 80
    # check-ins are months ahead: a programme keeps the mark of its first (test_checkin_horizon)
    assert any(p["checkins_from"] is not None for p in bulk["programmes"])
    kinds = {(e["entity"], e["event"]) for e in bulk["events"]}
    assert ("programme", "start") in kinds and ("milestone", "schedule") in kinds
    assert any(m["timed_from"] is not None for m in bulk["milestones"])  # mail left to queue

    later = NOW + timedelta(days=60)  # the top-up queues the same rows in both
    assert fbh.top_up(later) == twin.top_up(later) > 0
    bulk, one_by_one = rows_of(fbh.store), rows_of(twin.store)
    for table, rows in one_by_one.items():
        assert bulk[table] == rows, table


def test_a_consultant_gets_every_meeting_of_a_batch_on_its_own_time(fbh: Fbh, store: Store) -> None:
    batch = [new(f"Selskab {n}", f"t{n}") for n in range(3)]  # in two chunks
    ids = fbh.create_programmes(batch, NOW, chunk_size=2)

    workshops = {
        m.planned.start
        for view in map(fbh.show, ids)
        for m in view.milestones
        if m.planned.key == "workshop"
    }
    assert len({start.date() for start in workshops if start}) == 3  # three different days
    meetings = sorted(
        (m.planned.start, m.planned.end)
        for view in map(fbh.show, ids)
        for m in view.milestones
        if m.planned.is_meeting
    )
    for (_, end), (start, _) in pairwise(meetings):
        assert end is not None and start is not None and end <= start


def test_an_item_that_cannot_be_planned_rolls_back_its_chunk_only(fbh: Fbh, store: Store) -> None:
    # Week 12 of a start on 2027-01-04 has four working days (29 March is a holiday): the
    # consultant's fifth follow-up meeting has no free day.
    batch = [new(f"Selskab {n}", f"t{n}") for n in range(6)]
    with pytest.raises(BatchItemError) as raised:
        fbh.create_programmes(batch, NOW, chunk_size=3)

    error = raised.value
    assert error.index == 4 and error.committed == 3
    assert isinstance(error.error, PlanningError)
    assert "programme 4 of the batch" in str(error) and "opfoelgning" in str(error)
    assert error.exit_code == 2
    with store.transaction() as tx:
        programmes = tx.programmes.find()
        assert [p.id for p in programmes] == [1, 2, 3]
        assert tx.people.find_organisation("Selskab 3") is None  # the failed chunk left nothing
        assert tx.people.by_email("t3@example.dk") is None
        assert {o.programme_id for o in tx.outbox.find()} == {1, 2, 3}


@pytest.mark.parametrize(
    ("bad", "error_type", "message"),
    [
        (new("X", "x", workflow="ukendt"), NotFoundError, "ukendt"),
        (new("X", "x", consultant=Contact("X", "x@example.dk")), InvalidInputError, "two people"),
        (new("Y", "y", workflow="tilpasset"), PrerequisiteError, "agreement"),
    ],
)
def test_an_item_refused_by_the_checks_stops_the_batch_before_anything_is_written(
    fbh: Fbh, store: Store, bad: NewProgramme, error_type: type[Exception], message: str
) -> None:
    batch = [new(f"Selskab {n}", f"t{n}", consultant=BO) for n in range(5)]
    batch.insert(4, bad)
    with pytest.raises(BatchItemError, match=message) as raised:
        fbh.create_programmes(batch, NOW, chunk_size=2)

    assert raised.value.index == 4 and raised.value.committed == 0
    assert isinstance(raised.value.error, error_type)
    with store.transaction() as tx:
        assert tx.programmes.find() == [] and tx.outbox.find() == []
        assert tx.people.find_organisation("Selskab 0") is None


def test_creating_one_programme_raises_the_error_itself(fbh: Fbh) -> None:
    with pytest.raises(PrerequisiteError, match="socialt-beredskab"):
        fbh.create_programme(new("Y", "y", workflow="tilpasset"), NOW)


def test_an_empty_batch_creates_nothing_and_a_chunk_needs_one_item(fbh: Fbh) -> None:
    assert fbh.create_programmes([], NOW) == []
    with pytest.raises(InvalidInputError, match="chunk size"):
        fbh.create_programmes([new("A", "a")], NOW, chunk_size=0)


def shared_plans_batch() -> list[NewProgramme]:
    """Programmes that share plans (same workflows and start, consultants free) and some
    planned around a consultant's earlier meetings, with and without TILPASSET; a start in
    the past, and starts whose reminders and task notices fall within the horizon."""
    consultants = [ANNE, BO, Contact("Cai Konsulent", "cai@bl.dk")]
    starts = [date(2027, 1, 4), date(2027, 1, 11), date(2026, 12, 7), date(2027, 3, 1)]
    return [
        new(
            f"Selskab {n}",
            f"t{n}",
            consultant=consultants[n % 3],
            start=starts[(n // 3) % len(starts)],
            extensions=("tilpasset",) if n % 4 == 1 else (),
        )
        for n in range(15)
    ]


def test_what_a_batch_remembers_per_shared_plan_queues_the_same_rows(fbh: Fbh, twin: Fbh) -> None:
    """The batch's memo of milestone contexts and due times (``MilestoneMemo``) against each
    programme composing its own: every row equal, outbox payloads (what is rendered),
    recipients, due times and the milestones' marks included; and again after a top-up."""
    same_installation(fbh.store, twin.store)
    twin.creation.memo = False

    assert fbh.create_programmes(shared_plans_batch(), NOW, chunk_size=4) == (
        twin.create_programmes(shared_plans_batch(), NOW, chunk_size=4)
    )
    remembered, composed = rows_of(fbh.store), rows_of(twin.store)
    assert remembered == composed
    kinds = {row["kind"] for row in composed["outbox"]}
    assert {"invite", "programme_summary", "reminder", "task_due"} <= kinds
    assert any(m["timed_from"] is not None for m in composed["milestones"])
    assert any(p["checkins_from"] is not None for p in composed["programmes"])

    later = NOW + timedelta(days=45)
    assert fbh.top_up(later) == twin.top_up(later) > 0
    assert rows_of(fbh.store) == rows_of(twin.store)
    past_the_checkins = NOW + timedelta(days=800)
    assert fbh.top_up(past_the_checkins) == twin.top_up(past_the_checkins) > 0
    topped = rows_of(fbh.store)
    assert topped == rows_of(twin.store)
    assert "checkin" in {row["kind"] for row in topped["outbox"]}


def _reference_invites(
    programme: compose.ProgrammeFacts,
    meeting: compose.MeetingFacts,
    recipients: list[tuple[Contact, Role]],
    **options: Any,
) -> list[OutboxDraft]:
    """invite_drafts as it was before it built its drafts itself: each one by programme_draft
    (the drafts every other programme mail kind uses), from the same invite and contexts."""
    shared = compose.invite_drafts(programme, meeting, recipients=recipients, **options)[0]
    drafts = []
    for contact, role in recipients:
        context = dict(shared.payload["context"], recipient=compose._person(contact, role))
        key = f"invite:{meeting.milestone_id}:{contact.email}:{meeting.sequence}"
        drafts.append(
            compose.programme_draft(
                programme,
                key=f"{key}:{options['method']}",
                kind="invite",
                recipient=contact,
                due_at=options["now"],
                context=context,
                milestone_id=meeting.milestone_id,
                invite=shared.payload["invite"],
            )
        )
    return drafts


@pytest.mark.parametrize("uninvited", [False, True])
@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invite_drafts_are_the_drafts_every_programme_mail_is_built_as(
    method: str, uninvited: bool
) -> None:
    """invite_drafts builds each recipient's draft itself (creation composes ~90,000): the
    same fields, payload keys in the same order, as programme_draft builds them."""
    workflow = load_registry(Path(__file__).parents[2] / "workflows").get("socialt-beredskab")
    plan = plan_programme(workflow, date(2027, 1, 4), WorkingCalendar.danish())
    planned = next(m for m in plan.milestones if m.is_meeting)
    meeting = compose.MeetingFacts(41, planned, workflow.milestone(planned.key), 3)
    programme = compose.ProgrammeFacts(
        id=7,
        workflow_title=workflow.title,
        organisation="Rådhuset",
        municipality="Helsingør",
        consultant=ANNE,
        tovholder=Contact("Tove Holder", "tove@example.dk"),
        lead=Contact("Lis Leder", "lis@example.dk"),
        revision=2,
        domain="fbh.example.dk",
        organizer=Contact("fbh", "fbh@fbh.example.dk"),
        installation="abcd1234",
    )
    recipients = programme.recipients([Role.CONSULTANT, Role.TOVHOLDER, Role.LEAD])
    options: dict[str, Any] = {
        "method": method,
        "now": NOW,
        "is_update": method == "REQUEST",
        "answers": {"tove@example.dk": "ACCEPTED"},
        "ical_roles": {"lis@example.dk": "OPT-PARTICIPANT"},
        "uninvited": uninvited,
    }
    drafts = compose.invite_drafts(programme, meeting, recipients=recipients, **options)
    expected = _reference_invites(programme, meeting, recipients, **options)
    for got, want in zip(drafts, expected, strict=True):
        for field in ("payload", "dedupe_key", "message_id", "recipient", "due_at", "kind"):
            assert getattr(got, field) == getattr(want, field), field
    assert drafts == expected
    assert [orjson.dumps(d.payload) for d in drafts] == [orjson.dumps(d.payload) for d in expected]
    assert len({d.message_id for d in drafts}) == len(recipients) == 3
