"""Inbound mail end to end over a real Maildir and both databases: iTIP answers in the four
clients' shapes, requests, out-of-office replies, bounces and bad input."""

from __future__ import annotations

import email
import mailbox
from datetime import UTC, date, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from inbound_mail import BOUNCE_SHAPES, REPLY_SHAPES, bounce, out_of_office, reply, request

from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.inbox import InboxDesk
from engine.store import inbox as inbox_store
from notifications.mailboxes import MaildirMailbox

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Tovholder", "soren@oestervang.dk")


def create(fbh: Fbh) -> int:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Østervang",
            municipality="Helsingør",
            consultant=ANNE,
            tovholder=SOREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    return view.id


def workshop(fbh: Fbh, programme_id: int) -> tuple[str, datetime, int]:
    """UID, start and SEQUENCE of the workshop's invite."""
    with fbh.store.transaction() as tx:
        row = tx.programmes.milestone(programme_id, "workshop")
        invite = tx.invites.find(row.id or 0)[0]
        assert row.start_at is not None
        return invite.uid, row.start_at, row.sequence


def deliver(folder: Path, data: bytes) -> None:
    box = mailbox.Maildir(folder, create=True)
    box.add(data)


def attendees(fbh: Fbh, programme_id: int, key: str = "workshop") -> dict[str, str]:
    view = fbh.show(programme_id)
    meeting = next(m for m in view.milestones if m.planned.key == key)
    return {a.email: a.partstat for a in meeting.attendees}


def queued(fbh: Fbh, kind: str) -> list[object]:
    with fbh.store.transaction() as tx:
        return [row for row in tx.outbox.find() if row.kind == kind]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


@pytest.mark.parametrize("shape", REPLY_SHAPES)
def test_a_decline_in_each_clients_shape_is_recorded_and_told(
    fbh: Fbh, inbox: Path, shape: str
) -> None:
    programme = create(fbh)
    uid, start, sequence = workshop(fbh, programme)
    deliver(inbox, reply(shape, uid=uid, attendee=SOREN.email, start=start, sequence=sequence))
    desk, box = InboxDesk(fbh), MaildirMailbox(inbox)

    report = desk.process(box, NOW)

    assert (report.processed, report.set_aside) == (1, 0)
    assert attendees(fbh, programme) == {ANNE.email: "needs-action", SOREN.email: "declined"}
    notices = queued(fbh, "meeting_answer")
    assert [n.recipient for n in notices] == [ANNE.email]  # type: ignore[attr-defined]
    assert len(list((inbox / "cur").iterdir())) == 1 and not list((inbox / "new").iterdir())
    # A second pass changes nothing.
    again = desk.process(box, NOW + timedelta(minutes=1))
    assert again.handled == 0 and len(queued(fbh, "meeting_answer")) == 1


def test_the_same_message_delivered_twice_is_applied_once(fbh: Fbh, inbox: Path) -> None:
    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    data = reply("gmail", uid=uid, attendee=SOREN.email, start=start, partstat="ACCEPTED")
    deliver(inbox, data)
    deliver(inbox, data)

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert (report.processed, report.already) == (1, 1)
    with fbh.store.transaction() as tx:
        assert len(tx.events.find(programme_id=programme, event="answer")) == 1
    assert attendees(fbh, programme)[SOREN.email] == "accepted"
    assert queued(fbh, "meeting_answer") == []  # an acceptance tells nobody


def test_a_reply_from_someone_else_is_set_aside(fbh: Fbh, inbox: Path) -> None:
    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    deliver(inbox, reply("outlook", uid=uid, attendee="mallory@example.dk", start=start))
    forged = reply("gmail", uid=uid, attendee=SOREN.email, start=start, sender="eve@example.dk")
    deliver(inbox, forged)

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert report.set_aside == 2
    assert attendees(fbh, programme)[SOREN.email] == "needs-action"
    with fbh.store.transaction() as tx:
        reasons = sorted(r.reason for r in inbox_store.list_inbox(tx))
    assert "mallory@example.dk is not an attendee" in reasons[0]
    assert "sent by eve@example.dk but answers for soren@oestervang.dk" in reasons[1]
    assert len(list((inbox / "cur").iterdir())) == 2  # kept, flagged
    assert all(name.endswith(":2,FS") for name in (p.name for p in (inbox / "cur").iterdir()))


def test_answers_hold_while_the_time_holds_and_reset_when_it_moves(fbh: Fbh, inbox: Path) -> None:
    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    deliver(
        inbox,
        reply("thunderbird", uid=uid, attendee=SOREN.email, start=start, partstat="TENTATIVE"),
    )
    InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)
    assert attendees(fbh, programme)[SOREN.email] == "tentative"

    fbh.reschedule(programme, "workshop", start + timedelta(days=1), NOW)

    assert attendees(fbh, programme)[SOREN.email] == "needs-action"
    with fbh.store.transaction() as tx:
        invites = [
            r
            for r in tx.outbox.find()
            if r.kind == "invite" and r.payload["invite"]["sequence"] == 1
        ]
    assert invites and all(
        "partstat" not in a for r in invites for a in r.payload["invite"]["attendees"]
    )


def test_an_update_that_keeps_the_time_repeats_the_answers(fbh: Fbh, inbox: Path) -> None:
    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    deliver(inbox, reply("apple", uid=uid, attendee=SOREN.email, start=start, partstat="ACCEPTED"))
    InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)
    with fbh.store.transaction() as tx:
        row = tx.programmes.milestone(programme, "workshop")
        assert inbox_store.standing_answers(tx, row) == {SOREN.email: "ACCEPTED"}


def test_a_counter_proposal_tells_the_consultant_with_the_proposed_time(
    fbh: Fbh, inbox: Path
) -> None:
    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    proposed = start + timedelta(days=1)
    deliver(
        inbox, reply("outlook", uid=uid, attendee=SOREN.email, start=start, counter_start=proposed)
    )

    InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    notices = queued(fbh, "meeting_answer")
    assert len(notices) == 1
    payload = notices[0].payload  # type: ignore[attr-defined]
    assert payload["context"]["proposal"]["start"] == proposed.astimezone(CPH).isoformat()
    assert payload["reply_to"]["email"] == SOREN.email


def test_a_request_mail_becomes_a_received_request_with_an_acknowledgement(
    fbh: Fbh, inbox: Path
) -> None:
    deliver(inbox, request(sender="kontakt@oestervang.dk", name="Karen Kontakt"))

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert report.kinds == {"request": 1}
    views = fbh.list_requests(NOW)
    assert len(views) == 1
    view = views[0]
    assert view.state == "received" and view.contact.email == "kontakt@oestervang.dk"
    assert view.organisation == "oestervang.dk"
    assert view.deadline == view.received + timedelta(days=14)
    assert view.wished_start.isoformat() == "2027-04-12"
    with fbh.store.transaction() as tx:
        stored = tx.requests.get(view.id)
        assert stored.text and "rekvirere et forløb" in stored.text
    acks = queued(fbh, "request_ack")
    assert [a.recipient for a in acks] == ["kontakt@oestervang.dk"]  # type: ignore[attr-defined]
    assert queued(fbh, "request_reminder")  # the SLA reminders apply


@pytest.mark.parametrize("shape", ["outlook", "gmail"])
def test_an_out_of_office_reply_creates_and_sends_nothing(
    fbh: Fbh, inbox: Path, shape: str
) -> None:
    deliver(inbox, out_of_office(shape, sender="kontakt@oestervang.dk"))
    with fbh.store.transaction() as tx:
        before = len(tx.outbox.find())

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert report.kinds == {"auto-reply": 1} and report.processed == 1
    assert fbh.list_requests(NOW) == []
    with fbh.store.transaction() as tx:
        assert len(tx.outbox.find()) == before


@pytest.mark.parametrize("shape", BOUNCE_SHAPES)
def test_a_bounce_flags_the_address_and_tells_the_consultant(
    fbh: Fbh, inbox: Path, shape: str
) -> None:
    programme = create(fbh)
    with fbh.store.transaction() as tx:
        invite = next(
            r for r in tx.outbox.find() if r.kind == "invite" and r.recipient == SOREN.email
        )
    deliver(inbox, bounce(shape, recipient=SOREN.email, original_id=invite.message_id))

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert report.kinds == {"bounce": 1}
    with fbh.store.transaction() as tx:
        flagged = inbox_store.bouncing(tx)
    assert [(b.email, b.programme_id) for b in flagged] == [(SOREN.email, programme)]
    assert flagged[0].bounced_message_id == invite.message_id
    notices = queued(fbh, "bounce_notice")
    assert [n.recipient for n in notices] == [ANNE.email]  # type: ignore[attr-defined]


BAD = {
    "malformed MIME": (
        b"From: a@example.dk\r\nMessage-ID: <m1@example.dk>\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\nno parts here\r\n'
    ),
    "bad calendar": (
        b"From: soren@oestervang.dk\r\nTo: fraboligtilhjem@bl.dk\r\nMessage-ID: <m2@example.dk>\r\n"
        b"Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n"
        b"BEGIN:VEVENT\r\nDTSTART:notadate\r\n"
    ),
    "non-UTF-8 header": (
        b"From: J\xf8rgen <j@example.dk>\r\nTo: fraboligtilhjem@bl.dk\r\nSubject: \xe6\xf8\xe5\r\n"
        b"\r\nHej\r\n"
    ),
    "1,000 parts": (
        b"From: a@example.dk\r\nTo: fraboligtilhjem@bl.dk\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(1000))
        + b"--b--\r\n"
    ),
    "50 MB": b"From: a@example.dk\r\nTo: fraboligtilhjem@bl.dk\r\n\r\n" + b"x" * (50 * 1024 * 1024),
}


def test_bad_input_is_set_aside_with_a_reason_and_kept(fbh: Fbh, inbox: Path) -> None:
    for data in BAD.values():
        deliver(inbox, data)
    deliver(inbox, request(sender="kontakt@oestervang.dk"))

    report = InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    assert (report.processed, report.set_aside) == (1, len(BAD))
    with fbh.store.transaction() as tx:
        rows = inbox_store.list_inbox(tx)
    reasons = " | ".join(r.reason for r in rows if r.state == "set-aside")
    for expected in (
        "malformed MIME",
        "does not parse",
        "not UTF-8",
        "more than 100 MIME parts",
        "the limit is",
    ):
        assert expected in reasons
    kept = list((inbox / "cur").iterdir())
    assert len(kept) == len(BAD) + 1  # nothing lost
    big = max(kept, key=lambda p: p.stat().st_size)
    assert big.stat().st_size > 50 * 1024 * 1024


def test_no_two_installations_give_the_same_uid(tmp_path: Path) -> None:
    from fbhtest import make_settings

    from engine.domain.definitions import load_registry
    from engine.store.store import Store

    uids = []
    for name in ("one", "two"):
        settings = make_settings(tmp_path / name, f"sqlite:///{tmp_path / name / 'fbh.sqlite3'}")
        store = Store.open(settings.database_url)
        try:
            fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
            programme = create(fbh)
            uids.append(workshop(fbh, programme)[0])
            with store.transaction() as tx:
                ids = {r.message_id for r in tx.outbox.find()}
            uids.append(min(ids))
        finally:
            store.dispose()
    assert uids[0] != uids[2] and uids[1] != uids[3]
    assert uids[0].startswith("fbh-") and uids[0].split("-")[2] == "1"


def test_the_request_mail_is_kept_as_received_by_a_mail_client(inbox: Path) -> None:
    deliver(inbox, request(sender="k@example.dk"))
    (name,) = MaildirMailbox(inbox).pending(10)
    raw = MaildirMailbox(inbox).fetch(name, 10**6)
    assert raw is not None
    parsed = email.message_from_bytes(raw.data, policy=default_policy)
    assert "socialt beredskab" in str(parsed["Subject"])


def test_the_consultants_digest_shows_answers_and_bouncing_addresses(fbh: Fbh, inbox: Path) -> None:
    from engine.services.digests import consultant_digest
    from notifications.digests import consultant_context
    from notifications.render import render_mail

    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    deliver(inbox, reply("gmail", uid=uid, attendee=SOREN.email, start=start))
    with fbh.store.transaction() as tx:
        invite = next(
            r for r in tx.outbox.find() if r.kind == "invite" and r.recipient == SOREN.email
        )
    deliver(inbox, bounce("exim", recipient=SOREN.email, original_id=invite.message_id))
    InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)

    digest = consultant_digest(fbh, ANNE.email, NOW)
    mail = render_mail("digest_consultant", consultant_context(digest, CPH))

    assert "Workshop om socialt beredskab: Søren Tovholder – afvist" in mail.text
    assert f"Adresser, der ikke kan modtage e-mail: {SOREN.email}" in mail.text
    assert "Søren Tovholder – afvist" in mail.html


def test_an_update_at_the_same_time_carries_the_answers_into_the_invite(
    fbh: Fbh, inbox: Path
) -> None:
    """An update that keeps the time (here: a new SEQUENCE, as a changed place would give)
    repeats the recorded answers; the calendar every recipient gets says so."""
    import icalendar

    from notifications.envelope import render_envelope

    programme = create(fbh)
    uid, start, _ = workshop(fbh, programme)
    deliver(inbox, reply("outlook", uid=uid, attendee=SOREN.email, start=start))
    InboxDesk(fbh).process(MaildirMailbox(inbox), NOW)
    with fbh.store.transaction() as tx:
        loaded = fbh.load(tx, tx.programmes.get(programme))
        row = tx.programmes.milestone(programme, "workshop")
        row.sequence += 1
        recipients = fbh.mailings.attendees(loaded.facts, loaded.definition_of(row))
        fbh.mailings.queue_invites(tx, loaded, row, recipients, "REQUEST", NOW, is_update=True)
    with fbh.store.transaction() as tx:
        updates = [
            r
            for r in tx.outbox.find()
            if r.kind == "invite" and r.payload["invite"]["sequence"] == 1
        ]
    assert {r.recipient for r in updates} == {ANNE.email, SOREN.email}
    for update in updates:
        raw = render_envelope(update, fbh.settings, NOW).data
        message = email.message_from_bytes(raw, policy=default_policy)
        (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        event = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
        partstats = {str(a).lower(): a.params["PARTSTAT"] for a in event.get("ATTENDEE")}
        assert partstats == {
            f"mailto:{ANNE.email}": "NEEDS-ACTION",
            f"mailto:{SOREN.email}": "DECLINED",
        }
        if update.recipient == SOREN.email:
            assert message["Reply-To"].addresses[0].addr_spec == ANNE.email


def test_programmes_from_before_installation_ids_keep_their_uids(fbh: Fbh) -> None:
    """Migration 0004 on a database with programmes: their meetings keep the old UIDs (so
    calendars do not show them twice), new programmes get the installation id."""
    from alembic import command

    from engine.store.database import alembic_config
    from engine.store.store import Store

    old = create(fbh)
    url = fbh.settings.database_url
    fbh.store.dispose()
    for target in ("0003", "head"):  # as if the programme had been created before 0004
        engine = Store.open(url, run_migrations=False).engine
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if target == "0003" else command.upgrade)(config, target)
        engine.dispose()
    from engine.domain.definitions import load_registry

    store = Store.open(url)
    try:
        again = Fbh(fbh.settings, store, load_registry(fbh.settings.workflows_dir), actor="test")
        _, start, _ = workshop(again, old)
        again.reschedule(old, "workshop", start + timedelta(days=1), NOW)
        new = create(again)
        with store.transaction() as tx:
            moved = {
                i.uid for i in tx.invites.find(tx.programmes.milestone(old, "workshop").id or 0)
            }
            fresh = {
                i.uid for i in tx.invites.find(tx.programmes.milestone(new, "workshop").id or 0)
            }
            installation = inbox_store.installation(tx)
    finally:
        store.dispose()
    assert moved == {f"fbh-{old}-socialt-beredskab-workshop@bl.dk"}
    assert installation.legacy_max_programme_id == old
    assert fresh == {f"fbh-{installation.installation_id}-{new}-socialt-beredskab-workshop@bl.dk"}
