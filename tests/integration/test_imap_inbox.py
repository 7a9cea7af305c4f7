"""The IMAP inbox against a real Dovecot (tests/imapserver.py): TLS, marks, IDLE, and a pass
of the inbox service over it."""

from __future__ import annotations

import ssl
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from imapclient import IMAPClient
from inbound_mail import reply, request

from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.inbox import InboxDesk
from notifications.mailboxes import ImapMailbox, MailboxError
from notifications.mailboxes.imap import PROCESSED, SET_ASIDE

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def mailbox(server: Any, **options: Any) -> ImapMailbox:
    values: dict[str, Any] = {
        "username": server.username,
        "password": server.password,
        "cafile": str(server.cafile),
        "timeout": 10,
    }
    values.update(options)
    port = server.starttls_port if values.get("starttls") else server.imaps_port
    if values.get("starttls"):
        values["tls"] = False
    return ImapMailbox(server.host, port, **values)


def append(server: Any, data: bytes) -> None:
    context = ssl.create_default_context(cafile=str(server.cafile))
    with IMAPClient(server.host, server.imaps_port, ssl_context=context, timeout=10) as client:
        client.login(server.username, server.password)
        client.append("INBOX", data)


def flags(server: Any) -> list[set[bytes]]:
    context = ssl.create_default_context(cafile=str(server.cafile))
    with IMAPClient(server.host, server.imaps_port, ssl_context=context, timeout=10) as client:
        client.login(server.username, server.password)
        client.select_folder("INBOX", readonly=True)
        found = client.get_flags(client.search(["ALL"]))
        return [set(found[uid]) for uid in sorted(found)]


@pytest.mark.parametrize("starttls", [False, True], ids=["imaps", "starttls"])
def test_read_mark_and_keep(dovecot: Any, starttls: bool) -> None:
    append(dovecot, request(sender="a@example.dk"))
    append(dovecot, b"From: b@example.dk\r\nSubject: x\r\n\r\nbody\r\n")
    box = mailbox(dovecot, starttls=starttls)
    try:
        first, second = box.pending(10)
        raw = box.fetch(first, 10**6)
        assert raw is not None and b"rekvirere" in raw.data and raw.received is not None
        assert raw.received.tzinfo is not None
        assert box.fetch(second, 10) is not None and box.fetch(second, 10).data == b""  # type: ignore[union-attr]
        box.mark_processed(first)
        box.set_aside(second)
        assert box.pending(10) == []
    finally:
        box.close()
    marks = flags(dovecot)
    assert PROCESSED in marks[0] and b"\\Seen" in marks[0] and SET_ASIDE not in marks[0]
    assert {PROCESSED, SET_ASIDE, b"\\Flagged"} <= marks[1]  # kept, flagged, not deleted


def test_idle_wakes_when_mail_arrives(dovecot: Any) -> None:
    box = mailbox(dovecot)
    try:
        assert box.can_wait
        timer = threading.Timer(0.5, append, (dovecot, request(sender="c@example.dk")))
        timer.start()
        began = time.monotonic()
        woke = box.wait(10)
        timer.join()
        assert woke and time.monotonic() - began < 9
        assert len(box.pending(10)) == 1
    finally:
        box.close()


def test_a_wrong_password_is_a_mailbox_error(dovecot: Any) -> None:
    box = mailbox(dovecot, password="wrong")
    with pytest.raises(MailboxError, match=r"IMAP server 127\.0\.0\.1"):
        box.pending(1)


def test_an_untrusted_certificate_is_refused(dovecot: Any) -> None:
    box = mailbox(dovecot, cafile=None)
    with pytest.raises(MailboxError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        box.pending(1)


def test_plain_imap_to_a_remote_host_is_refused() -> None:
    with pytest.raises(MailboxError, match="needs tls or starttls"):
        ImapMailbox("imap.example.org", 143, username="u", password="p", tls=False)


def test_a_decline_over_imap_is_applied_once(fbh: Fbh, dovecot: Any) -> None:
    tovholder = Contact("Søren Tovholder", "soren@oestervang.dk")
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Østervang",
            municipality="Helsingør",
            consultant=Contact("Anne Konsulent", "anne@bl.dk"),
            tovholder=tovholder,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    with fbh.store.transaction() as tx:
        row = tx.programmes.milestone(view.id, "workshop")
        uid = tx.invites.find(row.id or 0)[0].uid
        start = row.start_at
    assert start is not None
    append(dovecot, reply("outlook", uid=uid, attendee=tovholder.email, start=start))
    desk, box = InboxDesk(fbh), mailbox(dovecot)
    try:
        first = desk.process(box, NOW)
        second = desk.process(box, NOW)
    finally:
        box.close()
    assert (first.processed, second.handled, second.already) == (1, 0, 0)
    workshop = next(m for m in fbh.show(view.id).milestones if m.planned.key == "workshop")
    assert {a.email: a.partstat for a in workshop.attendees}[tovholder.email] == "declined"
