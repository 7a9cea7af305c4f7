"""notifications.wire writes the message notifications.mime describes: a parser reads the
same headers, tree, parameters and contents from ``message_bytes(spec)`` as from
``to_bytes(build_message(spec))``, and the bytes are 7-bit, CRLF, short-lined SMTP data."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mime_reference import build_message, to_bytes

from engine.domain.model import Contact
from notifications.invites import InviteSpec, build_calendar
from notifications.mime import Attachment, MailSpec, clean_header_text, message_id_for
from notifications.wire import message_bytes

CPH = ZoneInfo("Europe/Copenhagen")


def calendar(method: str = "REQUEST") -> bytes:
    return build_calendar(
        InviteSpec(
            uid="fbh-7-socialt-beredskab-workshop@bl.dk",
            sequence=0,
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
    subject="Invitation: Workshop – Socialt beredskab (Boligselskabet Øst)",
    text="Kære Søren\n\nDu er inviteret til workshoppen på Ærøvej.\n",
    html="<p>Kære Søren</p><p>Du er inviteret til workshoppen på Ærøvej.</p>",
    message_id=message_id_for("invite:7:workshop:0:soren@boligost.dk", "bl.dk"),
    date=datetime(2027, 1, 4, 13, 15, tzinfo=CPH),
    headers=(("X-Fbh-Kind", "invite"),),
)
INVITE = replace(SPEC, calendar=calendar(), calendar_method="REQUEST")
CANCEL = replace(INVITE, calendar=calendar("CANCEL"), calendar_method="CANCEL")
CSV = Attachment("forloeb-2027-W10.csv", "csv", "\ufeffForløb;Timer\r\n1;10,5\r\n2;Ærø = 3\r\n")
WITH_CSV = replace(SPEC, attachments=(CSV, Attachment("noter.txt", "plain", "Én linje")))
INVITE_WITH_CSV = replace(INVITE, attachments=(CSV,))


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    return parsed


def reading(message: EmailMessage) -> Any:
    """What a mail client reads: headers (decoded), content types with their parameters,
    dispositions and decoded contents, part by part."""
    if message.is_multipart():
        return (
            message.get_content_type(),
            [reading(part) for part in message.iter_parts()],  # type: ignore[arg-type]
        )
    params = {k: v for k, v in message["Content-Type"].params.items() if k != "boundary"}
    return (
        message.get_content_type(),
        params,
        message.get_content_disposition(),
        message.get_filename(),
        message["Content-Transfer-Encoding"],
        message.get_content(),
    )


def top_headers(message: EmailMessage) -> dict[str, Any]:
    found: dict[str, Any] = {
        name: message[name] and str(message[name])
        for name in (
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "X-Fbh-Kind",
        )
    }
    for name in ("From", "To"):
        found[name] = [(a.display_name, a.addr_spec) for a in message[name].addresses]
    return found


def expected_headers(spec: MailSpec) -> dict[str, Any]:
    """What the headers must read as: the spec's values, cleaned as build_message cleans."""
    return {
        "Subject": clean_header_text(spec.subject),
        "Date": format_datetime(spec.date),
        "Message-ID": spec.message_id,
        "Auto-Submitted": "auto-generated",
        "MIME-Version": "1.0",
        "X-Fbh-Kind": clean_header_text(dict(spec.headers)["X-Fbh-Kind"]),
        "From": [(clean_header_text(spec.sender.name), spec.sender.email)],
        "To": [(clean_header_text(c.name), c.email) for c in spec.to],
    }


def display_names_loosely(headers: dict[str, Any]) -> dict[str, Any]:
    """Python's parser keeps the folding white space between the encoded words of a display
    name (RFC 2047 §6.2 says to drop it), for build_message's output as for ours: a name
    that needs several encoded words is compared without its white space."""

    def loose(name: str) -> str:
        return name if len(name.encode("utf-8")) <= 39 else "".join(name.split())

    return {
        key: [(loose(n), a) for n, a in value] if key in ("From", "To") else value
        for key, value in headers.items()
    }


def assert_same_message(spec: MailSpec, *, headers_as_build_message: bool = False) -> None:
    raw = message_bytes(spec)
    fast, slow = parse(raw), parse(to_bytes(build_message(spec)))
    assert display_names_loosely(top_headers(fast)) == display_names_loosely(expected_headers(spec))
    if headers_as_build_message:
        assert top_headers(fast) == top_headers(slow)
    assert reading(fast) == reading(slow)
    assert raw.isascii()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


@pytest.mark.parametrize(
    "spec",
    [SPEC, INVITE, CANCEL, WITH_CSV, INVITE_WITH_CSV],
    ids=["plain", "invite", "cancel", "attachments", "invite-and-csv"],
)
def test_the_fast_bytes_read_as_build_message(spec: MailSpec) -> None:
    assert_same_message(spec, headers_as_build_message=True)


def test_headers_are_folded_and_encoded() -> None:
    long_subject = "Påmindelse: " + " ".join(["opfølgning"] * 12) + " =?utf-8?q?x?="
    spec = replace(
        SPEC,
        subject=long_subject,
        sender=Contact('Holm, "Anna" (BL)', "anna@bl.dk"),
        to=(Contact("", "x@y.dk"), Contact("Ærø " * 30, "z@y.dk")),
    )
    raw = message_bytes(spec)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert_same_message(spec)
    assert str(parse(raw)["Subject"]) == clean_header_text(long_subject)  # "=?" defused


def test_the_bytes_depend_only_on_the_spec() -> None:
    assert message_bytes(INVITE) == message_bytes(INVITE)
    other = replace(INVITE, message_id=message_id_for("other", "bl.dk"))
    assert (
        message_bytes(other).split(b"\r\n\r\n", 1)[1]
        != message_bytes(INVITE).split(b"\r\n\r\n", 1)[1]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": ()}, "at least one recipient"),
        ({"date": datetime(2027, 1, 4, 13, 15)}, "aware"),  # noqa: DTZ001 - the point
        ({"message_id": "no-brackets@bl.dk"}, "Message-ID"),
        ({"to": (Contact("Søren", "sø@x.dk"),)}, "e-mail address"),
        ({"headers": (("Subject", "x"),)}, "cannot be overridden"),
        ({"calendar_method": "CANCEL"}, "differs"),
        ({"attachment_name": "../x.ics"}, "attachment name"),
        ({"attachments": (Attachment("../x.csv", "csv", ""),)}, "attachment name"),
        ({"attachments": (Attachment("x.txt", "csv", ""),)}, "attachment name"),
        ({"attachments": (Attachment("x.html", "html", ""),)}, "not supported"),
    ],
)
def test_it_refuses_what_build_message_refuses(change: dict[str, Any], message: str) -> None:
    spec = replace(INVITE, **change)
    with pytest.raises(ValueError, match=message):
        build_message(spec)
    with pytest.raises(ValueError, match=message):
        message_bytes(spec)


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
names = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


@settings(max_examples=150, deadline=None)
@example(subject="", body="", html="\r\r", sender="", recipient="", kind="")  # two CR breaks
@given(subject=names, body=text, html=text, sender=names, recipient=names, kind=names)
def test_generated_messages_read_the_same(
    subject: str, body: str, html: str, sender: str, recipient: str, kind: str
) -> None:
    spec = replace(
        INVITE,
        subject=subject,
        text=body,
        html=html,
        sender=Contact(sender, "fbh@bl.dk"),
        to=(Contact(recipient, "soren@boligost.dk"),),
        headers=(("X-Fbh-Kind", kind),),
    )
    assert_same_message(spec)


def test_a_csv_attachment_keeps_its_bom_and_line_breaks() -> None:
    message = parse(message_bytes(WITH_CSV))
    assert message.get_content_type() == "multipart/mixed"
    files = [part for part in message.iter_attachments()]
    assert [(f.get_filename(), f.get_content_type()) for f in files] == [
        ("forloeb-2027-W10.csv", "text/csv"),
        ("noter.txt", "text/plain"),
    ]
    data = files[0].get_payload(decode=True)
    assert data == CSV.text.encode("utf-8")  # BOM, ';', CRLF as written
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None


_QP_EDGES = [
    "x" * 73 + " \n" + "y" * 74 + "\t\n" + "z" * 75 + " \n",  # whitespace at the fold
    ".\n..\n. \n=\n==3D\n" + "é" * 40 + "\n",
    "a" * 300 + "\n\n\n" + " " * 80 + "\n" + "<td>ø</td>" * 30 + "\n",
]


@given(st.lists(st.text(alphabet=" \t.=abcæø€\n", max_size=120), max_size=8))
@example(_QP_EDGES)
@settings(max_examples=200, deadline=None)
def test_text_is_encoded_line_by_line_as_a_whole(lines: list[str]) -> None:
    """Quoted-printable is written line by line, each distinct line once: the same bytes as
    b2a_qp of the whole text, whitespace at a fold, dots and long lines included."""
    import binascii

    from notifications.wire import _text_part

    text = "\n".join(lines)
    data = text.encode("utf-8") + (b"" if text.endswith("\n") else b"\n")
    head = b'Content-Type: text/plain; charset="utf-8"\r\n'
    head += b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    whole = head + binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    assert _text_part("plain", text) == whole
