"""MIME structure, encoding and header safety of the mail fbh writes (docs/notifications.md)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mime_reference import build_message, to_bytes

from engine.domain.model import Contact
from notifications.invites import InviteSpec, build_calendar
from notifications.mime import MailSpec, clean_header_text, message_id_for

CPH = ZoneInfo("Europe/Copenhagen")
SUBJECT = "Invitation: Workshop – Socialt beredskab (Boligselskabet Øst)"


def calendar(method: str = "REQUEST", sequence: int = 0) -> bytes:
    return build_calendar(
        InviteSpec(
            uid="fbh-7-socialt-beredskab-workshop@bl.dk",
            sequence=sequence,
            method=method,  # type: ignore[arg-type]
            summary="Workshop – Socialt beredskab (Boligselskabet Øst)",
            description="Frokost: smørrebrød.",
            location="Fælleshuset, Ærøvej 7",
            start=datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
            end=datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
            organizer=Contact("Anna Holm", "anna.holm@bl.dk"),
            attendees=(Contact("Søren Ærø", "soren@boligost.dk"),),
            dtstamp=datetime(2027, 1, 4, 13, 15, tzinfo=CPH),
        )
    )


SPEC = MailSpec(
    sender=Contact("Fra bolig til hjem – BL", "fbh@bl.dk"),
    to=(Contact("Søren Ærø", "soren@boligost.dk"),),
    subject=SUBJECT,
    text="Kære Søren\n\nDu er inviteret til workshoppen på Ærøvej.\n",
    html="<p>Kære Søren</p><p>Du er inviteret til workshoppen på Ærøvej.</p>",
    message_id=message_id_for("invite:7:workshop:0:soren@boligost.dk", "bl.dk"),
    date=datetime(2027, 1, 4, 13, 15, tzinfo=CPH),
)
INVITE = replace(SPEC, calendar=calendar(), calendar_method="REQUEST")


def parse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(to_bytes(message), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def tree(part: EmailMessage) -> object:
    if part.is_multipart():
        return (part.get_content_type(), [tree(p) for p in part.iter_parts()])  # type: ignore[arg-type]
    return part.get_content_type()


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and line[0] not in " \t"]


def test_invite_structure() -> None:
    parsed = parse(build_message(INVITE))

    assert tree(parsed) == (
        "multipart/mixed",
        [
            ("multipart/alternative", ["text/plain", "text/html", "text/calendar"]),
            "application/ics",
        ],
    )


def test_plain_mail_structure() -> None:
    parsed = parse(build_message(SPEC))

    assert tree(parsed) == ("multipart/alternative", ["text/plain", "text/html"])


@pytest.mark.parametrize(("method", "status"), [("REQUEST", "CONFIRMED"), ("CANCEL", "CANCELLED")])
def test_method_parameter_equals_method_inside(method: str, status: str) -> None:
    ics = calendar(method, sequence=1)
    parsed = parse(build_message(replace(SPEC, calendar=ics, calendar_method=method)))

    [part] = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == method
    assert str(part.get_param("charset")).upper() == "UTF-8"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert f"\r\nMETHOD:{method}\r\n".encode() in payload
    assert f"\r\nSTATUS:{status}\r\n".encode() in payload


def test_method_is_read_from_the_calendar_when_not_given() -> None:
    parsed = parse(build_message(replace(SPEC, calendar=calendar("CANCEL"))))

    [part] = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"


def test_method_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differs"):
        build_message(replace(SPEC, calendar=calendar("CANCEL"), calendar_method="REQUEST"))


def test_attachment_has_ascii_name_and_the_same_calendar() -> None:
    parsed = parse(build_message(INVITE))

    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invitation.ics"
    assert attachment.get_payload(decode=True) == INVITE.calendar


@pytest.mark.parametrize("name", ["invitation æøå.ics", "invite.txt", "../x.ics", ""])
def test_odd_attachment_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        build_message(replace(INVITE, attachment_name=name))


def test_crlf_everywhere_and_7bit() -> None:
    raw = to_bytes(build_message(INVITE))

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(raw) < 128
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_text_parts_are_utf8() -> None:
    parsed = parse(build_message(INVITE))

    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            assert str(part.get_param("charset")).lower() == "utf-8"


def test_danish_letters_survive() -> None:
    parsed = parse(build_message(INVITE))

    assert parsed["Subject"] == SUBJECT
    assert parsed["To"].addresses[0].display_name == "Søren Ærø"
    assert parsed["From"].addresses[0].display_name == "Fra bolig til hjem – BL"
    body = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert body is not None and html is not None
    assert body.get_content().replace("\r\n", "\n") == (
        "Kære Søren\n\nDu er inviteret til workshoppen på Ærøvej.\n"
    )
    assert "på Ærøvej" in html.get_content()
    [part] = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert "LOCATION:Fælleshuset\\, Ærøvej 7" in part.get_content()


def test_headers() -> None:
    raw = to_bytes(build_message(replace(INVITE, headers=(("Reply-To", "anna.holm@bl.dk"),))))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Message-ID"] == INVITE.message_id
    assert parsed["Date"].datetime == INVITE.date
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Reply-To"] == "anna.holm@bl.dk"
    assert raw.count(b"MIME-Version:") == 1
    assert sorted(header_names(raw)) == sorted(
        [
            "MIME-Version",
            "Content-Type",
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "Reply-To",
        ]
    )


@pytest.mark.parametrize(
    "name",
    ['Hansen, "Bo" & Co', "Ærø, Søren (BL)", "Anna <admin@evil.example>", "a@b.c; d@e.f"],
)
def test_display_names_are_encoded_as_one_address(name: str) -> None:
    parsed = parse(build_message(replace(SPEC, to=(Contact(name, "bo@example.org"),))))

    [address] = parsed["To"].addresses
    assert address.addr_spec == "bo@example.org"
    assert address.display_name == name


INJECTIONS = ["\r\nBcc: evil@x", "\nBcc: evil@x", "\rBcc: evil@x", "\u2028Bcc: evil@x", "\x00"]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_header_injection_is_neutralised(evil: str) -> None:
    spec = replace(
        INVITE,
        subject=f"Workshop{evil}",
        sender=Contact(f"BL{evil}", "fbh@bl.dk"),
        to=(Contact(f"Søren{evil}", "soren@boligost.dk"),),
        headers=(("X-Fbh-Programme", f"7{evil}"),),
    )

    raw = to_bytes(build_message(spec))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert "Bcc" not in parsed
    assert not re.search(rb"^Bcc:", raw, re.MULTILINE | re.IGNORECASE)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["soren@boligost.dk"]
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert parsed["Subject"] == clean_header_text(f"Workshop{evil}")


@pytest.mark.parametrize(
    "headers",
    [
        (("Bad Name", "x"),),
        (("Bad:Name", "x"),),
        (("Subject", "second subject"),),
        (("content-type", "text/plain"),),
    ],
)
def test_bad_extra_headers_are_refused(headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValueError):
        build_message(replace(SPEC, headers=headers))


@pytest.mark.parametrize("address", ["soren@boligost.dk\r\nBcc: evil@x", "soren @x.dk", ""])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        build_message(replace(SPEC, to=(Contact("Søren", address),)))


def test_naive_date_and_missing_recipients_are_refused() -> None:
    with pytest.raises(ValueError):
        build_message(replace(SPEC, date=datetime(2027, 1, 4, 12, 0)))  # noqa: DTZ001
    with pytest.raises(ValueError):
        build_message(replace(SPEC, to=()))
    with pytest.raises(ValueError):
        build_message(replace(SPEC, message_id="no-angle-brackets@bl.dk"))


def test_message_id_is_deterministic() -> None:
    first = message_id_for("invite:7:workshop:0", "bl.dk")

    assert first == message_id_for("invite:7:workshop:0", "BL.DK")
    assert first != message_id_for("invite:7:workshop:1", "bl.dk")
    assert re.fullmatch(r"<[0-9a-f]{32}@bl\.dk>", first)
    with pytest.raises(ValueError):
        message_id_for("x", "bl dk>")


def test_building_twice_gives_the_same_headers() -> None:
    first = parse(build_message(INVITE))
    second = parse(build_message(INVITE))

    for name in ("Message-ID", "Subject", "Date", "From", "To"):
        assert first[name] == second[name]


_hostile_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(name=_hostile_text, subject=_hostile_text)
def test_no_input_adds_a_header(name: str, subject: str) -> None:
    spec = replace(SPEC, subject=subject, to=(Contact(name, "soren@boligost.dk"),))

    raw = to_bytes(build_message(spec))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    expected = ["MIME-Version", "Content-Type", "From", "To", "Subject", "Date", "Message-ID"]
    assert sorted(header_names(raw)) == sorted([*expected, "Auto-Submitted"])
    assert [a.addr_spec for a in parsed["To"].addresses] == ["soren@boligost.dk"]
    assert b"\n" not in raw.replace(b"\r\n", b"")
