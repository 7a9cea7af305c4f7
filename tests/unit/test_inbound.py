"""Parsing and classifying inbound mail: the four clients' REPLY shapes, a COUNTER, the bounce
corpus, RFC 3834 auto-replies, and hostile input within bounds."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from inbound_mail import BOUNCE_SHAPES, REPLY_SHAPES, bounce, out_of_office, reply, request

from engine.domain.identity import new_installation_id, salted_message_id
from engine.services.inbox_requests import split_sender_name, wished_start
from notifications.inbound import Kind, Limits, Unparseable, classify, parse_mail
from notifications.inbound.autoreply import automatic_reason
from notifications.inbound.itip import CalendarError, read_itip
from notifications.invites import invite_uid

CPH = ZoneInfo("Europe/Copenhagen")
START = datetime(2027, 3, 8, 9, 0, tzinfo=CPH)
UID = "fbh-0123456789abcdef-7-socialt-beredskab-workshop@bl.dk"
REQUEST_ADDRESSES = frozenset({"fraboligtilhjem@bl.dk"})


@pytest.mark.parametrize("shape", REPLY_SHAPES)
@pytest.mark.parametrize("partstat", ["ACCEPTED", "DECLINED", "TENTATIVE"])
def test_each_clients_reply_is_read(shape: str, partstat: str) -> None:
    mail = parse_mail(
        reply(
            shape,
            uid=UID,
            attendee="soren@oestervang.dk",
            start=START,
            partstat=partstat,
            sequence=2,
        )
    )
    found = classify(mail, REQUEST_ADDRESSES)

    assert found.kind == Kind.REPLY and found.usable and found.itip is not None
    assert (found.itip.method, found.itip.uid, found.itip.sequence) == ("REPLY", UID, 2)
    assert found.itip.start == START
    (answer,) = found.itip.answers
    assert (answer.email, answer.partstat) == ("soren@oestervang.dk", partstat)
    assert mail.sender == "soren@oestervang.dk"


def test_comments_are_read_from_outlook_and_google() -> None:
    outlook = read_itip(
        parse_mail(reply("outlook", uid=UID, attendee="a@b.dk", start=START)).calendars[0]
    )
    google = read_itip(
        parse_mail(reply("gmail", uid=UID, attendee="a@b.dk", start=START)).calendars[0]
    )
    assert outlook.answers[0].comment == "Desværre kan jeg ikke."
    assert google.answers[0].comment == "Jeg er på ferie"


def test_a_counter_proposal_carries_the_proposed_time() -> None:
    proposed = datetime(2027, 3, 9, 10, 0, tzinfo=CPH)
    mail = parse_mail(
        reply("outlook", uid=UID, attendee="a@b.dk", start=START, counter_start=proposed)
    )
    found = classify(mail, REQUEST_ADDRESSES)
    assert found.itip is not None and found.itip.method == "COUNTER"
    assert found.itip.start == proposed


def test_a_calendar_that_does_not_parse_is_not_usable() -> None:
    with pytest.raises(CalendarError):
        read_itip(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\n")
    with pytest.raises(CalendarError, match="no VEVENT"):
        read_itip(b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("shape", BOUNCE_SHAPES)
def test_the_bounce_corpus(shape: str) -> None:
    mail = parse_mail(bounce(shape, recipient="bad@example.dk", original_id="<abc.1@bl.dk>"))
    found = classify(mail, REQUEST_ADDRESSES)
    assert found.kind == Kind.BOUNCE and found.bounce is not None
    assert [f.email for f in found.bounce.failures] == ["bad@example.dk"]
    assert found.bounce.original_message_id == "<abc.1@bl.dk>"


def test_a_delay_report_is_not_a_failure() -> None:
    data = bounce("postfix", recipient="slow@example.dk", original_id="<a@b>").replace(
        b"Action: failed", b"Action: delayed"
    )
    found = classify(parse_mail(data), REQUEST_ADDRESSES)
    assert found.kind == Kind.BOUNCE and found.bounce is not None and found.bounce.delayed_only


@pytest.mark.parametrize("shape", ["outlook", "gmail"])
def test_out_of_office_replies_are_automatic(shape: str) -> None:
    found = classify(parse_mail(out_of_office(shape, sender="a@b.dk")), REQUEST_ADDRESSES)
    assert found.kind == Kind.AUTO_REPLY


@pytest.mark.parametrize(
    ("headers", "subject", "automatic"),
    [
        ({"auto-submitted": "auto-replied"}, "", True),
        ({"auto-submitted": "auto-generated"}, "", True),
        ({"auto-submitted": "no"}, "", False),
        ({"x-autoreply": "yes"}, "", True),
        ({"x-autorespond": "x"}, "", True),
        ({"precedence": "bulk"}, "", True),
        ({"precedence": "junk"}, "", True),
        ({"precedence": "list"}, "", True),
        ({"x-auto-response-suppress": "OOF, AutoReply"}, "", True),
        ({"list-id": "<x.lists.example.org>"}, "", True),
        ({"return-path": "<>"}, "", True),
        ({}, "Automatisk svar: Ferie", True),
        ({}, "Out of Office: back Monday", True),
        ({}, "Forespørgsel om forløb", False),
    ],
)
def test_rfc_3834_signals(headers: dict[str, str], subject: str, automatic: bool) -> None:
    assert (automatic_reason(headers, subject) is not None) is automatic


def test_a_request_is_a_mail_to_the_request_address() -> None:
    mail = parse_mail(request(sender="karen@fjordbo.dk"))
    assert classify(mail, REQUEST_ADDRESSES).kind == Kind.REQUEST
    found = classify(mail, frozenset({"other@bl.dk"}))
    assert found.kind == Kind.UNKNOWN and not found.usable


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"x" * 2048, "limit is 1024"),
        (b"no header at all", "no header section"),
        (b"From: J\xf8rgen <j@x.dk>\r\n\r\nhej", "not UTF-8"),
        (
            b'From: a@x.dk\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\nno parts\r\n',
            "malformed MIME",
        ),
    ],
)
def test_bad_input_gives_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Unparseable, match=reason):
        parse_mail(data, Limits(max_bytes=1024))


def test_parts_are_counted_and_nesting_is_bounded() -> None:
    many = (
        b'From: a@x.dk\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 30
        + b"--b--\r\n"
    )
    with pytest.raises(Unparseable, match="more than 20 MIME parts"):
        parse_mail(many, Limits(max_parts=20))
    deep = b"From: a@x.dk\r\n"
    for level in range(3000):
        deep += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    with pytest.raises(Unparseable, match="more than 100 MIME parts"):
        parse_mail(deep)  # refused before the parser works through 3,000 levels
    with pytest.raises(Unparseable, match="nested too deeply"):
        parse_mail(deep, Limits(max_parts=10_000))


def test_a_message_without_message_id_gets_a_stable_one() -> None:
    data = b"From: a@x.dk\r\nTo: fraboligtilhjem@bl.dk\r\n\r\nhej\r\n"
    assert parse_mail(data).message_id == parse_mail(data).message_id
    assert parse_mail(data).message_id.endswith("@inbox.fbh.invalid>")


def test_installation_ids_go_into_uids_and_message_ids() -> None:
    one, two = new_installation_id(), new_installation_id()
    assert one != two and len(one) == 16
    assert invite_uid(7, "socialt-beredskab", "workshop", "bl.dk", one) != invite_uid(
        7, "socialt-beredskab", "workshop", "bl.dk", two
    )
    assert invite_uid(7, "socialt-beredskab", "workshop", "bl.dk") == (
        "fbh-7-socialt-beredskab-workshop@bl.dk"  # programmes from before keep their UIDs
    )
    first = salted_message_id("<abc@bl.dk>", one)
    assert first == salted_message_id("<abc@bl.dk>", one) != salted_message_id("<abc@bl.dk>", two)
    assert first.endswith(f".{one}@bl.dk>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vi ønsker at starte 12.04.2027.", date(2027, 4, 12)),
        ("Start 2027-05-03 eller senere", date(2027, 5, 3)),
        ("Helst efter 1/2-2027", date(2027, 2, 1)),
        ("Vi har ingen dato endnu.", None),
        ("Sidst: 2026-01-01", None),  # before receipt
    ],
)
def test_the_wished_start_is_read_from_the_text(text: str, expected: date | None) -> None:
    assert wished_start(text, date(2027, 1, 10)) == expected


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Karen Holm, Boligselskabet Øst", ("Karen Holm", "Boligselskabet Øst")),
        ("Karen Holm | Fjordbo", ("Karen Holm", "Fjordbo")),
        ("Karen Holm", ("Karen Holm", "")),
        ('"Karen" <x>', ("Karen x", "")),
    ],
)
def test_the_organisation_from_the_from_name(display: str, expected: tuple[str, str]) -> None:
    assert split_sender_name(display) == expected
