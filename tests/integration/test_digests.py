"""Weekly digests built from real databases, and queued once per recipient and ISO week."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from engine.domain.errors import NotFoundError
from engine.domain.model import Contact
from engine.domain.packed import PACKED_KEY, payload_context, unpacked
from engine.services import digests as engine_digest
from engine.services.digests import (
    consultant_digest,
    lead_digest,
    queue_digests,
    queue_weekly_digests,
)
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import log_time
from engine.store.store import Store
from engine.store.tables import OutboxMessage
from notifications.envelope import envelope_of, render_envelope
from notifications.rendered import fingerprint

CREATED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 2, 15, 6, 0, tzinfo=UTC)  # Monday 07:00 in Copenhagen, ISO week 7
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
BO = Contact("Bo Berg", "bo@bl.dk")


def create(fbh: Fbh, org: str, start: date, consultant: Contact = ANNE, **extra: Any) -> int:
    new = NewProgramme(
        workflow="socialt-beredskab",
        organisation=org,
        municipality="Helsingør",
        consultant=consultant,
        tovholder=Contact(f"Tovholder {org}", f"tovholder@{org.lower().replace(' ', '')}.dk"),
        start=start,
        **extra,
    )
    return fbh.create_programme(new, CREATED).id


@pytest.fixture
def world(fbh: Fbh, store: Store) -> dict[str, int]:
    """Anne has three programmes in different phases (one with TILPASSET); Bo has one."""
    ids = {
        "a": create(fbh, "Boligselskabet A", date(2027, 1, 4)),  # week 6 of 12
        "b": create(fbh, "Boligselskabet B", date(2026, 11, 30), extensions=("tilpasset",)),
        "c": create(fbh, "Boligselskabet C", date(2027, 3, 1)),  # starts in 2 weeks
        "d": create(fbh, "Boligselskabet D", date(2027, 1, 4), consultant=BO),
    }
    log_time(fbh, ids["a"], hours=23, day=date(2027, 1, 12), now=NOW)  # over 22.2
    fbh.top_up(NOW)  # the reminders due within mail.queue_ahead_days of NOW, as a leader would
    requests = {
        "unassigned": fbh.add_request(
            organisation="Syd",
            contact=Contact("Karen", "karen@syd.dk"),
            wished_start=date(2027, 4, 5),
            received=date(2027, 2, 3),  # deadline 17 February: 2 days left
            now=NOW,
        ).id,
        "bo": fbh.add_request(
            organisation="Vest",
            contact=Contact("Vera", "vera@vest.dk"),
            wished_start=date(2027, 4, 5),
            received=date(2027, 2, 1),
            now=NOW,
        ).id,
        "anne": fbh.add_request(
            organisation="Nord",
            contact=Contact("Lars", "lars@nord.dk"),
            wished_start=date(2027, 4, 5),
            received=date(2027, 1, 25),  # deadline 8 February: 7 days late
            now=NOW,
        ).id,
    }
    with store.transaction() as tx:
        for key, who in (("bo", BO), ("anne", ANNE)):
            row = tx.requests.get(requests[key])
            person = tx.people.by_email(who.email)
            assert person is not None
            row.consultant_id = person.id
            tx.save(row)
        _miss(tx, ids["a"], due=NOW - timedelta(days=3), with_event=True)
        _miss(tx, ids["a"], due=NOW - timedelta(days=30), with_event=False)  # too old
        _miss(tx, ids["d"], due=NOW - timedelta(days=1), with_event=True)  # Bo's
        tx.events.add(  # a missed message known only from the event log
            at=NOW - timedelta(days=2),
            actor="daemon",
            entity="outbox",
            programme_id=ids["a"],
            event="missed",
            data={"kind": "task_due", "recipient": "x@a.dk", "due_at": "2027-02-12T07:00:00+00:00"},
        )
    return ids


def _miss(tx: Any, programme_id: int, *, due: datetime, with_event: bool) -> None:
    """Record a pending reminder as missed, as the daemon does after downtime."""
    row = next(
        r
        for r in tx.outbox.find(programme_id=programme_id)
        if r.kind == "reminder" and r.state == "pending"
    )
    row.state, row.due_at = "missed", due
    tx.save(row)
    if with_event:
        tx.events.add(
            at=NOW - timedelta(hours=1),
            actor="daemon",
            entity="outbox",
            entity_id=row.id,
            programme_id=programme_id,
            event="missed",
            data={"kind": row.kind, "recipient": row.recipient, "due_at": due.isoformat()},
        )


def test_the_consultant_digest_shows_each_programme_in_its_week(
    fbh: Fbh, world: dict[str, int]
) -> None:
    digest = consultant_digest(fbh, "anne@bl.dk", NOW)

    assert [p.id for p in digest.programmes] == [world["a"], world["b"], world["c"]]
    a, b, c = digest.programmes
    assert (a.week, a.total_weeks, b.week, b.total_weeks, c.week) == (6, 12, 11, 18, -2)
    assert [m.title for m in a.overdue] == [
        "Kortlægning af aktørlandskabet",
        "Invitationer til workshoppen",
    ]
    assert a.upcoming == ()  # weeks 6–8 hold nothing; the workshop is in week 9
    assert [m.title for m in a.meetings][:1] == ["Workshop om socialt beredskab"]
    assert "Opfølgning og sparring" in [m.title for m in b.upcoming]
    assert all(m.weeks[1] >= 11 for m in b.upcoming)
    assert [m.title for m in c.upcoming] == ["Indledende dialog"]  # week 0 is ISO week 9
    assert [(h.part.key, h.status) for h in a.hours] == [("socialt-beredskab", "over")]
    assert [h.part.key for h in b.hours] == ["socialt-beredskab", "tilpasset"]
    assert [t.phase for t in a.timeline][5:8] == ["past", "current", "future"]


def test_the_consultant_sees_own_and_unassigned_requests_and_missed_messages(
    fbh: Fbh, world: dict[str, int]
) -> None:
    digest = consultant_digest(fbh, "anne@bl.dk", NOW)

    assert [(r.organisation, r.days_left, r.assigned) for r in digest.requests] == [
        ("Nord", -7, True),
        ("Syd", 2, False),
    ]
    assert [(m.kind, m.programme_id) for m in digest.missed] == [  # in order of due time
        ("reminder", world["a"]),
        ("task_due", world["a"]),
    ]
    assert digest.missed[0].title and digest.missed[0].organisation == "Boligselskabet A"
    with pytest.raises(NotFoundError, match="consultant"):
        consultant_digest(fbh, "nobody@bl.dk", NOW)


def test_the_lead_digest_sees_everything(fbh: Fbh, world: dict[str, int]) -> None:
    digest = lead_digest(fbh, NOW)

    assert len(digest.programmes) == 4
    assert [r.organisation for r in digest.breaches] == ["Nord"]
    assert [r.organisation for r in digest.soon] == ["Vest", "Syd"]  # 0 and 2 days left
    assert [(a.programme.id, a.level) for a in digest.budget_alerts] == [(world["a"], "over")]
    assert digest.load_weeks[0] == date(2027, 2, 15)
    assert {row.consultant.email for row in digest.load} <= {"anne@bl.dk", "bo@bl.dk"}
    assert len(digest.missed) == 3  # Anne's two and Bo's one


def test_a_message_missed_long_ago_with_a_recent_event_is_listed_once(
    fbh: Fbh, world: dict[str, int]
) -> None:
    """The row is read by its id when its due time is before the digest period but its
    ``missed`` event is in it (the daemon recorded it late), and the event is not repeated."""
    long_ago = NOW - timedelta(days=40)
    with fbh.store.transaction() as tx:
        _miss(tx, world["b"], due=long_ago, with_event=True)
    missed = lead_digest(fbh, NOW).missed
    assert [(m.due, m.kind, m.programme_id) for m in missed[:1]] == [
        (long_ago, "reminder", world["b"])
    ]
    assert missed[0].title  # from the row's payload (the event has no title)
    assert len(missed) == 4  # and the three of the world


def test_the_lead_digest_lists_programmes_that_ended_under_budget(fbh: Fbh, store: Store) -> None:
    pid = create(fbh, "Boligselskabet E", date(2027, 1, 4))
    log_time(fbh, pid, hours=3, day=date(2027, 1, 12), now=NOW)
    after_end = datetime(2027, 4, 12, 6, 0, tzinfo=UTC)

    digest = lead_digest(fbh, after_end)

    assert [(a.programme.id, a.level) for a in digest.budget_alerts] == [(pid, "under")]


def test_digests_are_queued_once_per_recipient_and_iso_week(
    fbh: Fbh, store: Store, world: dict[str, int]
) -> None:
    assert queue_weekly_digests(fbh, NOW) == 3  # Anne, Bo and the lead
    assert queue_weekly_digests(fbh, NOW + timedelta(days=3)) == 0  # same ISO week
    again = queue_digests(fbh, NOW, consultants=["anne@bl.dk"], lead=False)
    assert (again.week, again.queued, again.already) == ("2027-W07", (), ("anne@bl.dk",))

    with store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
    assert sorted(r.dedupe_key for r in rows) == [
        "digest-lead:lead@bl.dk:2027-W07",
        "digest:anne@bl.dk:2027-W07",
        "digest:bo@bl.dk:2027-W07",
    ]
    for row in rows:
        message = email.message_from_bytes(
            render_envelope(row, fbh.settings, NOW).data, policy=email.policy.default
        )
        assert "uge 7" in str(message["Subject"])
        assert message.get_body(("html",)) is not None and message.get_body(("plain",))

    assert queue_weekly_digests(fbh, NOW + timedelta(days=7)) == 3  # next week's


def test_digests_are_queued_with_the_bytes_their_stored_payload_renders_to(
    fbh: Fbh, store: Store, world: dict[str, int]
) -> None:
    """Rendered as they are queued, from the context in memory: the same mail as rendering
    the stored payload at send (how every digest was sent before), byte for byte."""
    assert queue_weekly_digests(fbh, NOW) == 3
    later = NOW + timedelta(minutes=5)
    with store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
    assert len(rows) == 3
    for row in rows:
        assert row.rendered is not None and row.rendered_with == fingerprint(fbh.settings)
        assert row.rendered == render_envelope(row, fbh.settings, NOW).data
        assert envelope_of(row, fbh.settings, later).data == (
            render_envelope(row, fbh.settings, later).data
        )

    assert queue_weekly_digests(fbh, NOW + timedelta(days=1)) == 0  # queued before: untouched
    with store.transaction() as tx:
        again = {r.id: r.rendered for r in tx.outbox.find() if r.kind.startswith("digest")}
    assert again == {r.id: r.rendered for r in rows}


def test_a_digest_with_stale_bytes_is_sent_as_rendered_from_its_packed_context(
    fbh: Fbh, store: Store, world: dict[str, int]
) -> None:
    """The context is stored packed, not as nested JSON; when the stored bytes are stale (an
    upgrade, a new template), the worker renders the digest from that packed context, and
    it is the same mail."""
    assert queue_weekly_digests(fbh, NOW) == 3
    later = NOW + timedelta(minutes=5)
    with store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
        for row in rows:
            assert "context" not in row.payload and isinstance(row.payload[PACKED_KEY], str)
            assert payload_context(row.payload)["recipient"]["email"] == row.recipient
        fresh = {r.id: envelope_of(r, fbh.settings, later).data for r in rows}
        tx.session.execute(  # as after an upgrade: the bytes no longer current
            update(OutboxMessage)
            .where(col(OutboxMessage.kind).startswith("digest"))
            .values(rendered_with="0" * 64)
        )
    with store.transaction() as tx:
        stale = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
    assert {r.rendered_with for r in stale} == {"0" * 64}
    assert {r.id: envelope_of(r, fbh.settings, later).data for r in stale} == fresh


def test_forgetting_a_person_takes_them_out_of_the_packed_digests(
    fbh: Fbh, store: Store, world: dict[str, int]
) -> None:
    """The unassigned request's contact is in every digest (the lead's: its deadline is
    near), inside the packed context: forgetting them rewrites the digests and drops their
    bytes."""
    assert queue_weekly_digests(fbh, NOW) == 3
    with store.transaction() as tx:
        before = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
    assert len(before) == 3 and all(PACKED_KEY in r.payload for r in before)
    assert all("karen@syd.dk" in json.dumps(payload_context(r.payload)) for r in before)
    assert all("Karen" in _bodies(r.rendered or b"") for r in before)  # the name is shown

    fbh.participants.forget("karen@syd.dk", NOW)
    with store.transaction() as tx:
        after = [r for r in tx.outbox.find() if r.kind.startswith("digest")]
    assert len(after) == 3
    for row in after:
        assert "karen@syd.dk" not in json.dumps(unpacked(row.payload))
        assert "Karen" not in json.dumps(unpacked(row.payload))
    assert all(r.rendered is None for r in after)
    for row in after:  # what is sent now is rendered from the scrubbed context
        assert "Karen" not in _bodies(envelope_of(row, fbh.settings, NOW).data)


def _bodies(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = [message.get_body((kind,)) for kind in ("plain", "html")]
    return "".join(part.get_content() for part in parts if part is not None)  # type: ignore[attr-defined]


def test_the_daemon_entry_point_in_engine_digest_queues_the_same(
    fbh: Fbh, world: dict[str, int]
) -> None:
    assert engine_digest.queue_weekly_digests(fbh, NOW) == 3
    assert queue_weekly_digests(fbh, NOW) == 0
