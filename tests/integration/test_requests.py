"""Requests and their 14-day answer, on SQLite and PostgreSQL, with explicit times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.domain.errors import InvalidInputError, InvalidTransitionError
from engine.domain.model import Contact
from engine.services.facade import Fbh
from engine.services.requests import Acceptance
from engine.store.store import Store
from notifications.outbox import OutboxWorker
from notifications.transports.memory import InMemoryTransport

RECEIVED_AT = datetime(2027, 3, 18, 10, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
KIRSTEN = Contact("Kirsten Kontakt", "kirsten@oestervang.dk")


def add(fbh: Fbh, *, received: date | None = None, now: datetime = RECEIVED_AT) -> int:
    view = fbh.add_request(
        organisation="Boligselskabet Østervang",
        contact=KIRSTEN,
        wished_start=date(2027, 4, 5),
        received=received,
        now=now,
    )
    return view.id


def sla_rows(store: Store) -> list[tuple[str, str, datetime, str]]:
    with store.transaction() as tx:
        rows = tx.outbox.find()
    return [(r.kind, r.recipient, r.due_at, r.state) for r in rows if r.kind.startswith("request_")]


async def deliver_at(fbh: Fbh, now: datetime) -> list[tuple[str, str]]:
    transport = InMemoryTransport()
    worker = OutboxWorker(fbh.store, transport, fbh.settings, worker_id="test")
    await worker.drain(lambda: now)
    sent = []
    for envelope in transport.sent:
        kind = next(
            line.split(b": ", 1)[1].decode()
            for line in envelope.data.splitlines()
            if line.startswith(b"X-Fbh-Kind")
        )
        sent.append((kind, envelope.recipients[0]))
    return sent


def test_a_request_queues_reminders_to_the_lead_and_the_escalation(fbh: Fbh, store: Store) -> None:
    add(fbh)
    assert sla_rows(store) == [
        ("request_reminder", "lead@bl.dk", datetime(2027, 3, 28, 6, 0, tzinfo=UTC), "pending"),
        ("request_reminder", "lead@bl.dk", datetime(2027, 3, 31, 6, 0, tzinfo=UTC), "pending"),
        ("request_escalation", "lead@bl.dk", datetime(2027, 4, 2, 6, 0, tzinfo=UTC), "pending"),
    ]


async def test_reminders_and_escalation_go_out_on_their_days(fbh: Fbh, store: Store) -> None:
    add(fbh)
    day10 = datetime(2027, 3, 28, 8, 0, tzinfo=fbh.tz)  # Sunday of the DST switch
    assert await deliver_at(fbh, day10 - timedelta(seconds=1)) == []
    assert await deliver_at(fbh, day10) == [("request_reminder", "lead@bl.dk")]
    assert await deliver_at(fbh, datetime(2027, 3, 31, 7, 59, tzinfo=fbh.tz)) == []
    assert await deliver_at(fbh, datetime(2027, 3, 31, 8, 0, tzinfo=fbh.tz)) == [
        ("request_reminder", "lead@bl.dk")
    ]
    deadline_evening = datetime(2027, 4, 1, 23, 59, tzinfo=fbh.tz)
    assert await deliver_at(fbh, deadline_evening) == []
    view = fbh.request_view(1, deadline_evening)
    assert (view.deadline, view.breached) == (date(2027, 4, 1), False)
    breach = datetime(2027, 4, 2, 8, 0, tzinfo=fbh.tz)
    assert await deliver_at(fbh, breach) == [("request_escalation", "lead@bl.dk")]
    assert fbh.request_view(1, breach).breached
    assert await deliver_at(fbh, breach + timedelta(days=3)) == []  # each goes once


async def test_an_assigned_consultant_gets_the_reminders_instead(fbh: Fbh, store: Store) -> None:
    request_id = add(fbh)
    fbh.requests.assign(request_id, ANNE, RECEIVED_AT + timedelta(days=1))
    rows = sla_rows(store)
    assert [(k, r, s) for k, r, _, s in rows] == [
        ("request_reminder", "lead@bl.dk", "cancelled"),
        ("request_reminder", "lead@bl.dk", "cancelled"),
        ("request_escalation", "lead@bl.dk", "pending"),
        ("request_reminder", "anne@bl.dk", "pending"),
        ("request_reminder", "anne@bl.dk", "pending"),
    ]
    sent = await deliver_at(fbh, datetime(2027, 3, 28, 8, 0, tzinfo=fbh.tz))
    assert sent == [("request_reminder", "anne@bl.dk")]


async def test_proposing_meets_the_sla_and_mails_the_contact(fbh: Fbh, store: Store) -> None:
    request_id = add(fbh)
    now = RECEIVED_AT + timedelta(days=3)
    desk = fbh.requests
    view = desk.propose(request_id, [date(2027, 5, 3), date(2027, 4, 19)], now)
    assert view.state == "proposed"
    assert {s for k, _, _, s in sla_rows(store) if k != "request_proposal"} == {"cancelled"}
    sent = await deliver_at(fbh, now)
    assert sent == [("request_proposal", "kirsten@oestervang.dk")]
    with store.transaction() as tx:
        row = tx.requests.get(request_id)
        proposal = next(r for r in tx.outbox.find() if r.kind == "request_proposal")
    assert row.proposed_starts == ["2027-04-19", "2027-05-03"]
    starts = [p["start_date"] for p in proposal.payload["context"]["proposals"]]
    assert starts == ["2027-04-19", "2027-05-03"]
    workshop = proposal.payload["context"]["proposals"][0]["main"]
    assert workshop["title"].startswith("Workshop")
    assert (workshop["window_start"], workshop["window_end"]) == ("2027-06-21", "2027-07-09")
    # a second proposal is a new mail
    desk.propose(request_id, [date(2027, 8, 2)], now + timedelta(days=1))
    assert await deliver_at(fbh, now + timedelta(days=1)) == [
        ("request_proposal", "kirsten@oestervang.dk")
    ]


def test_proposals_in_the_past_are_refused(fbh: Fbh) -> None:
    request_id = add(fbh)
    with pytest.raises(InvalidInputError, match="lies in the past"):
        fbh.requests.propose(request_id, [date(2027, 3, 1)], RECEIVED_AT)


def test_accepting_creates_and_links_the_programme(fbh: Fbh, store: Store) -> None:
    request_id = add(fbh)
    desk = fbh.requests
    now = RECEIVED_AT + timedelta(days=2)
    desk.propose(request_id, [date(2027, 4, 19)], now)
    acceptance = Acceptance(
        start=date(2027, 4, 19),
        consultant=ANNE,
        tovholder=Contact("Søren Tovholder", "soren@oestervang.dk"),
        municipality="Helsingør",
    )
    view, programme = desk.accept(request_id, acceptance, now + timedelta(days=5))
    assert (view.state, view.programme_id) == ("accepted", programme.id)
    assert (programme.organisation, programme.start) == (
        "Boligselskabet Østervang",
        date(2027, 4, 19),
    )
    with pytest.raises(InvalidTransitionError, match="request in state 'accepted'"):
        desk.accept(request_id, acceptance, now + timedelta(days=6))
    assert len(fbh.list_programmes()) == 1
    with store.transaction() as tx:
        events = [e.event for e in tx.events.find() if e.entity == "request"]
    assert events == ["create", "propose", "accept"]


def test_declining_cancels_the_reminders(fbh: Fbh, store: Store) -> None:
    request_id = add(fbh)
    view = fbh.requests.decline(request_id, "dubleret", RECEIVED_AT + timedelta(days=1))
    assert view.state == "declined"
    assert {s for *_, s in sla_rows(store)} == {"cancelled"}
    with pytest.raises(InvalidTransitionError):
        fbh.requests.propose(request_id, [date(2027, 5, 3)], RECEIVED_AT)


def test_a_late_registration_escalates_at_once_and_the_check_adds_nothing(
    fbh: Fbh, store: Store
) -> None:
    now = datetime(2027, 4, 10, 9, 0, tzinfo=UTC)
    add(fbh, received=date(2027, 3, 18), now=now)
    assert sla_rows(store) == [("request_escalation", "lead@bl.dk", now, "pending")]
    assert fbh.requests.check_sla(now + timedelta(hours=1)) == 0
