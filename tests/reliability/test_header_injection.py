"""CR/LF header injection: names cannot add a header, a recipient or a calendar property.

What fbh does, and what is asserted:

* at the command line, a contact (``"Name <email>"``) with CR, LF or another C0 control is
  **refused** (one line, exit 2); an organisation or municipality with line breaks is
  **collapsed** to one line (``" ".join(text.split())``, which also takes U+2028, U+0085 …);
* everything else, and anything that reaches the service another way, is **neutralised** when
  the mail is built: every header value has its control characters and Unicode line
  separators turned into spaces (``notifications.mime``), and iCalendar text is escaped by
  ``icalendar`` after the same clean-up (``notifications.invites``).

The bytes are read back with independent parsers: Python's ``email`` with ``policy.default``
and with ``compat32``, vobject for the calendar, and libical (``tests/integration/
libical_parse.py``) end to end. Hostile text must change no header name, no recipient, no
MIME part and no calendar property, and every header line must stay one line.
"""

from __future__ import annotations

import email.policy
import json
import re
import shutil
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
import vobject
from hostile_input import REPO, Cli, one_error_line, write_config
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icsparsers import libical_command, run_tool
from mail_flow import (
    MARKERS,
    NOW,
    Flow,
    deliver,
    fold,
    marked_flow,
    mentions,
    parse,
    render_row,
    settings_for,
    swap_text,
)
from mime_reference import build_message, to_bytes

from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import OutboxMessage, Store
from notifications.mime import MailSpec, message_id_for
from notifications.wire import message_bytes

INJECTIONS = [
    "\r\nBcc: evil@example.org",
    "\nBcc: evil@example.org",
    "\rBcc: evil@example.org",
    "\r\n\r\n<html>a forged body",
    "\r\n To: evil@example.org",  # a folded continuation line
    "\u2028Bcc: evil@example.org",
    "\u2029X-Evil: 1",
    "\u0085Bcc: evil@example.org",
    "\x0bBcc: evil@example.org",
    "\x0cCc: evil@example.org",
    "\x1c\x1d\x1e\x1f",
    "\x00",
    "=?utf-8?q?=0D=0ABcc=3A_evil=40example=2Eorg?=",
    "=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?=",
    "=?iso-8859-1?q?=E6=F8=E5?=",
    "\r\nATTENDEE;CN=Evil:mailto:evil@example.org",
    "\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:forged",
    ";CN=Evil:mailto:evil@example.org",
    ":mailto:evil@example.org",
    '" <evil@example.org>',
    "Bo, Co <evil@example.org>",
    "\\nBcc: evil@example.org",
    "\\;\\,\\\\",
    "\t",
    "Søren Ærø",
    "x" * 300,
]
HEADER_TEXT = st.one_of(
    st.sampled_from(INJECTIONS),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=8),
        st.sampled_from(INJECTIONS),
        st.text(max_size=8),
    ),
    st.text(
        alphabet=st.one_of(
            st.sampled_from('\r\n\t\x00\x0b\x0c\u2028\u2029\u0085:;,"<>@=?\\ '),
            st.characters(exclude_categories=("Cs",)),
        ),
        max_size=30,
    ),
)
NAME_FIELDS = ("consultant", "tovholder", "contact")
FIELDS = sorted(MARKERS)
CALENDAR_LINE = re.compile(rb"^[A-Z][A-Z0-9-]*[;:]")


def clean(text: str) -> str:
    """What calendar text may become: control characters and line separators as spaces,
    white space folded (written here, independently of fbh)."""
    spaced = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return fold(spaced)


def clean_header(text: str) -> str:
    """What a header value may become: ``clean``, and an RFC 2047 encoded-word lookalike
    kept literal by a zero-width space after its '=' (else the email package decodes it)."""
    return clean(text).replace("=?", "=\u200b?")


def same_words(a: str, b: str) -> bool:
    """Equal but for white space: the stdlib parser joins a display name that the generator
    split over two encoded words with a space."""
    return a.split() == b.split() or "".join(a.split()) == "".join(b.split())


# ----- reading a message back, independently --------------------------------------------------


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in (" ", "\t")]


def assert_wire_format(raw: bytes) -> None:
    assert raw.isascii(), "the message is not 7-bit"
    assert b"\r" not in raw.replace(b"\r\n", b""), "a bare CR"
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert re.match(rb"^([!-9;-~]+:|[ \t])", line), f"not a header line: {line!r}"


def calendar_of(message: Any) -> bytes | None:
    found = [
        part.get_payload(decode=True)
        for part in message.walk()
        if part.get_content_type() in ("text/calendar", "application/ics")
    ]
    if not found:
        return None
    assert len(found) == 2 and found[0] == found[1], "the attachment differs from the part"
    data: bytes = found[0]
    return data


def calendar_lines(ics: bytes) -> list[bytes]:
    assert b"\r" not in ics.replace(b"\r\n", b"") and b"\n" not in ics.replace(b"\r\n", b"")
    unfolded = re.sub(rb"\r\n[ \t]", b"", ics)
    lines = [line for line in unfolded.split(b"\r\n") if line]
    for line in lines:
        assert CALENDAR_LINE.match(line), f"not a calendar property line: {line[:80]!r}"
    return lines


def property_names(ics: bytes) -> list[bytes]:
    return [re.split(rb"[;:]", line, maxsplit=1)[0] for line in calendar_lines(ics)]


def vevent_of(ics: bytes) -> Any:
    calendar = vobject.readOne(ics.decode("utf-8"))
    [event] = calendar.contents["vevent"]
    return event


def text_values(event: Any) -> dict[str, str]:
    return {
        name: event.contents[name][0].value
        for name in ("summary", "location", "description")
        if name in event.contents
    }


def cns(event: Any) -> list[tuple[str, str]]:
    props = event.contents.get("organizer", []) + event.contents.get("attendee", [])
    return [(p.value, p.params.get("CN", [""])[0]) for p in props]


# ----- every kind of mail, with hostile names swapped in ---------------------------------------


class Mails(list["Before"]):
    """The harmless renderings (short to print when hypothesis reports an example)."""

    def __repr__(self) -> str:
        return f"<{len(self)} mails>"


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    return marked_flow(tmp_path_factory.mktemp("header-flow"))


@pytest.fixture(scope="module")
def base(flow: Flow) -> Mails:
    rendered = Mails(Before(row, render_row(row, flow.settings, {})) for row in flow.rows)
    assert any(before.ics is not None for before in rendered)
    return rendered


@st.composite
def hostile_texts(draw: st.DrawFn) -> dict[str, str]:
    fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1, max_size=5))
    return {field: draw(HEADER_TEXT) for field in fields}


class Before:
    """A mail rendered with the harmless markers, read back once."""

    def __init__(self, row: OutboxMessage, raw: bytes) -> None:
        self.row, self.raw = row, raw
        self.names = header_names(raw)
        message = parse(raw)
        self.keys = [k.lower() for k in list(message)]
        self.to_name = message["To"].addresses[0].display_name
        self.sender = str(message["From"])
        self.subject = message["Subject"]
        self.parts = [(p.get_content_type(), [k.lower() for k in list(p)]) for p in message.walk()]
        self.ics = calendar_of(message)
        if self.ics is not None:
            event = vevent_of(self.ics)
            self.properties = property_names(self.ics)
            self.texts = text_values(event)
            self.cns = cns(event)


def rfc6868(value: str) -> str:
    """Decode RFC 6868 parameter escapes (icalendar writes them; vobject does not read them)."""
    return re.sub(r"\^(.)", lambda m: {"n": "\n", "'": '"', "^": "^"}.get(m[1], m[0]), value)


def check_message(before: Before, raw: bytes, hostile: dict[str, str]) -> None:
    row = before.row
    assert_wire_format(raw)
    assert header_names(raw) == before.names, row.kind
    modern = parse(raw)
    legacy = parse(raw, email.policy.compat32)
    assert [k.lower() for k in list(modern)] == before.keys
    assert [k.lower() for k in list(legacy)] == before.keys
    # one recipient, the right one, in both parsers; From untouched
    [to] = modern["To"].addresses
    assert to.addr_spec == row.recipient
    expected_name = clean_header(swap_text(before.to_name, hostile))
    assert same_words(to.display_name, expected_name), (to.display_name, expected_name)
    assert [a for _, a in getaddresses(legacy.get_all("To", []))] == [row.recipient]
    assert str(modern["From"]) == before.sender
    # the subject is one line: the hostile text, cleaned
    assert modern["Subject"] == clean_header(swap_text(before.subject, hostile)), row.kind
    for value in legacy.values():
        assert "\n" not in value.replace("\r\n ", "").replace("\r\n\t", "")
    # the same parts, each with the same headers
    parts = [(p.get_content_type(), [k.lower() for k in list(p)]) for p in modern.walk()]
    assert parts == before.parts
    ics = calendar_of(modern)
    if before.ics is None:
        assert ics is None
        return
    assert ics is not None
    expected_names = [
        name
        for name in before.properties
        if not (name == b"DESCRIPTION" and hostile.get("description") == "")
        and not (name == b"LOCATION" and hostile.get("location") == "")
    ]  # an empty description or location is left out, on purpose
    assert property_names(ics) == expected_names, "the calendar properties changed"
    event = vevent_of(ics)
    texts = text_values(event)
    for name, expected in before.texts.items():
        if name not in texts:
            assert hostile.get(name) == "", name
            continue
        assert fold(texts[name]) == clean(swap_text(expected, hostile)), name
    assert [(address, rfc6868(cn)) for address, cn in cns(event)] == [
        (address, clean(swap_text(cn, hostile)).replace('"', "'")) for address, cn in before.cns
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=hostile_texts())
@example(hostile={"consultant": "Anne\r\nBcc: evil@example.org", "org": "Øst\nBcc: x@y.dk"})
@example(hostile={"tovholder": "Søren\u2028Bcc: evil@example.org", "title": "Møde\u0085X: 1"})
@example(hostile={"contact": "=?utf-8?q?=0D=0ABcc=3A_evil=40example=2Eorg?="})
@example(hostile={"location": "Sal\r\nATTENDEE:mailto:evil@example.org", "description": "a\r\nb"})
@example(hostile={"workflow_title": "\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:forged"})
def test_hostile_names_add_no_header_recipient_or_property(
    flow: Flow, base: Mails, tally: Any, hostile: dict[str, str]
) -> None:
    tally.inputs(len(hostile))
    for before in base:
        if not mentions(before.row, hostile):
            continue
        try:
            raw = render_row(before.row, flow.settings, hostile)
        except Exception:  # the worker would mark the row failed: a lost message
            tally.lost(1)
            raise
        check_message(before, raw, hostile)


# ----- both serialisers, directly ----------------------------------------------------------

SPEC = MailSpec(
    sender=Contact("Fra bolig til hjem", "fraboligtilhjem@bl.dk"),
    to=(Contact("Søren", "soren@oestervang.dk"),),
    subject="Invitation",
    text="Kære Søren\n",
    html="<p>Kære Søren</p>",
    message_id=message_id_for("invite:1:soren@oestervang.dk:0:REQUEST", "bl.dk"),
    date=NOW,
    headers=(("X-Fbh-Kind", "invite"),),
)
SPEC_HEADERS = ["MIME-Version", "Content-Type", "From", "To", "Subject", "Date", "Message-ID"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(subject=HEADER_TEXT, sender=HEADER_TEXT, recipient=HEADER_TEXT, kind=HEADER_TEXT)
@example(  # was: a Bcc header from the stdlib builder (the email package decoded the word)
    subject="=?utf-8?q?=0D=0ABcc=3A_evil=40example=2Eorg?=",
    sender="=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?=",
    recipient="=?utf-8?q?=0D=0ABcc=3A_evil=40example=2Eorg?=",
    kind="=?utf-8?q?=0D=0AX-Evil=3A_1?=",
)
@example(  # was: the stdlib's folder lost the space before the last '¡'
    subject="Invitation", sender="Anne", recipient="Søren", kind="0 0000000000000¡¡¡¡¡¡¡¡¡¡𐀀 ¡"
)
def test_both_serialisers_keep_every_header_one_header(
    tally: Any, subject: str, sender: str, recipient: str, kind: str
) -> None:
    """``to_bytes(build_message(spec))`` (the stdlib email package) and ``message_bytes``
    (the outbox's own writer) with hostile subject, names and header value."""
    spec = replace(
        SPEC,
        subject=subject,
        sender=Contact(sender, "fraboligtilhjem@bl.dk"),
        to=(Contact(recipient, "soren@oestervang.dk"),),
        headers=(("X-Fbh-Kind", kind),),
    )
    tally.inputs(4)
    for raw, ours in ((to_bytes(build_message(spec)), False), (message_bytes(spec), True)):
        assert_wire_format(raw)
        names = header_names(raw)
        assert sorted(names) == sorted([*SPEC_HEADERS, "Auto-Submitted", "X-Fbh-Kind"]), names
        for policy in (email.policy.default, email.policy.compat32):
            message = parse(raw, policy)
            assert [a for _, a in getaddresses(message.get_all("To", []))] == [
                "soren@oestervang.dk"
            ]
            assert [a for _, a in getaddresses(message.get_all("From", []))] == [
                "fraboligtilhjem@bl.dk"
            ]
            assert "bcc" not in {k.lower() for k in list(message)}
        modern = parse(raw)
        # The stdlib's folder can put a space between two encoded words, where RFC 2047 §6.2
        # has the reader drop it ('¡𐀀 ¡' came back as '¡𐀀¡'); fbh's writer keeps it.
        for got, want in ((modern["Subject"], subject), (str(modern["X-Fbh-Kind"]), kind)):
            if ours:
                assert got == clean_header(want)
            else:
                assert same_words(got, clean_header(want))
        assert same_words(modern["To"].addresses[0].display_name, clean_header(recipient))


# ----- end to end: through the store, the outbox worker and the Maildir ------------------------

ALLOWED_HEADERS = {
    "return-path",  # written by the Maildir transport
    "delivered-to",
    "from",
    "reply-to",  # the consultant (docs/inbound.md)
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "x-fbh-kind",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
ALLOWED_PROPERTIES = {
    b"BEGIN",
    b"END",
    b"PRODID",
    b"VERSION",
    b"CALSCALE",
    b"METHOD",
    b"TZID",
    b"TZNAME",
    b"TZOFFSETFROM",
    b"TZOFFSETTO",
    b"DTSTART",
    b"DTEND",
    b"RRULE",
    b"UID",
    b"SEQUENCE",
    b"DTSTAMP",
    b"SUMMARY",
    b"DESCRIPTION",
    b"LOCATION",
    b"ORGANIZER",
    b"ATTENDEE",
    b"STATUS",
    b"TRANSP",
}


def check_delivered(raw: bytes, recipients: set[str]) -> tuple[str, bytes | None]:
    """A message from the Maildir (stored with LF line ends, with the transport's
    Return-Path and Delivered-To on top), with no base to compare against: only allowed
    headers, each once, one recipient, only allowed calendar properties."""
    assert raw.isascii() and b"\r" not in raw.replace(b"\r\n", b"\n"), "a bare CR"
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n")
    for line in head:
        assert re.match(rb"^([!-9;-~]+:|[ \t])", line), f"not a header line: {line!r}"
    names = [line.split(b":", 1)[0].decode().lower() for line in head if line[:1] not in b" \t"]
    assert set(names) <= ALLOWED_HEADERS and len(names) == len(set(names)), names
    modern, legacy = parse(raw), parse(raw, email.policy.compat32)
    [to] = modern["To"].addresses
    assert to.addr_spec in recipients
    assert [a for _, a in getaddresses(legacy.get_all("To", []))] == [to.addr_spec]
    if modern["Reply-To"] is not None:  # one address, a person of the programme
        [reply_to] = [a for _, a in getaddresses(legacy.get_all("Reply-To", []))]
        assert reply_to in recipients and reply_to != to.addr_spec
    assert not set(list(legacy)) - {k for k in list(legacy) if k.lower() in ALLOWED_HEADERS}
    assert "\n" not in modern["Subject"] and "\u2028" not in modern["Subject"]
    ics = calendar_of(modern)
    if ics is not None:
        properties = property_names(ics)
        assert set(properties) <= ALLOWED_PROPERTIES, properties
        assert properties.count(b"ORGANIZER") == 1 and properties.count(b"SUMMARY") == 1
        event = vevent_of(ics)
        attendees = {a.value.removeprefix("mailto:") for a in event.contents["attendee"]}
        assert attendees <= recipients, attendees
    return to.addr_spec, ics


def libical(ics: bytes) -> dict[str, Any] | None:
    """libical's reading of ``ics``, or None where its bindings are missing (a failure under
    CI=true, as for the other parser tests)."""
    try:
        command = libical_command()
    except pytest.skip.Exception:
        return None
    return run_tool(command, ics)


HOSTILE_PEOPLE = [
    ("Anne\r\nBcc: evil@example.org", "Søren\nTo: evil@example.org"),
    ("Anne\u2028Bcc: evil@example.org", "Søren\u0085Cc: evil@example.org"),
    ("=?utf-8?q?=0D=0ABcc=3A_evil=40example=2Eorg?=", '"Søren" <evil@example.org>'),
    ("Anne\r\nATTENDEE;CN=Evil:mailto:evil@example.org", "Søren;CN=x:mailto:evil@example.org"),
]


@pytest.mark.parametrize(("consultant", "tovholder"), HOSTILE_PEOPLE)
def test_service_to_maildir_with_raw_line_breaks(
    tmp_path: Path, tally: Any, consultant: str, tovholder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text that got past the input checks (stored by an older fbh, or a contact built in code)
    must still make safe mail. Since issue 13 the service refuses an organisation with CR/LF,
    so the check is switched off here; a reason keeps its line breaks (it may span lines)."""
    monkeypatch.setattr("engine.services.programmes.check_text", lambda value, *a, **k: value)
    shutil.copytree(REPO / "workflows", tmp_path / "workflows")
    settings = settings_for(tmp_path, tmp_path / "workflows")
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="hostile")
        view = fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation="Øst\r\nBcc: evil@example.org",
                municipality="Helsingør\u2028X-Evil: 1",
                consultant=Contact(consultant, "anne@bl.dk"),
                tovholder=Contact(tovholder, "soren@oestervang.dk"),
                start=date(2027, 1, 4),
            ),
            datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        )
        tally.inputs(4)
        report = deliver(store, settings, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
        fbh.cancel(view.id, NOW, reason="Aflyst\r\nBcc: evil@example.org")
        report.add(deliver(store, settings, NOW))
    finally:
        store.dispose()
    mails = sorted((tmp_path / "mail" / "new").iterdir())
    tally.sent(report.sent)
    tally.lost(report.failed + report.retried)
    assert report.failed == 0 and report.retried == 0 and report.sent == len(mails) > 0
    people = {"anne@bl.dk", "soren@oestervang.dk"}
    invites = [check_delivered(path.read_bytes(), people) for path in mails]
    calendars = [ics for _, ics in invites if ics is not None]
    assert calendars
    for ics in calendars[:2]:  # libical is a subprocess per object: a sample
        parsed = libical(ics)
        if parsed is None:
            continue
        assert parsed["parse_errors"] == 0 and not parsed["itip_errors"], parsed
        assert {a["value"].removeprefix("mailto:") for a in parsed["attendees"]} <= people
        for text in [parsed["summary"], *(a["cn"] or "" for a in parsed["attendees"])]:
            assert "\n" not in text and "\r" not in text and "\u2028" not in text, text


def test_the_command_line_refuses_or_collapses(tmp_path: Path, tally: Any) -> None:
    """A contact or an organisation with CR/LF is refused (issue 13: control characters are
    refused on input); an organisation with U+2028 line separators is collapsed to one line;
    names with U+2028, U+0085 or an encoded-word lookalike are taken and neutralised."""
    database = tmp_path / "fbh.sqlite3"
    cli = Cli(tmp_path, write_config(tmp_path, database))
    create = [
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--municipality",
        "Helsingør",
        "--start",
        "2030-01-07",
        "--json",
    ]
    for contact in ("Anne\r\nBcc: evil@example.org <anne@bl.dk>", "Anne <anne@bl.dk>\nBcc: x"):
        refused = cli(*create, "--org", "Øst", "--consultant", contact, "--tovholder", "S <s@o.dk>")
        tally.inputs(1)
        assert "control characters are not allowed" in one_error_line(refused)
    org = "Øst\r\nBcc: evil@example.org\u2028X-Evil: 1"
    refused = cli(*create, "--org", org, "--consultant", "A <a@bl.dk>", "--tovholder", "S <s@o.dk>")
    tally.inputs(1)
    assert "--org 'Øst\\r\\nBcc" in one_error_line(refused)
    org = "Øst\u2028Bcc: evil@example.org\u2028X-Evil: 1"
    names = ("Anne\u2028Bcc: evil@example.org <anne@bl.dk>", "=?utf-8?q?Bcc?= <s@o.dk>")
    created = cli(*create, "--org", org, "--consultant", names[0], "--tovholder", names[1])
    tally.inputs(3)
    assert created.code == 0, created
    shown = json.loads(created.out)
    assert shown["organisation"] == "Øst Bcc: evil@example.org X-Evil: 1"  # collapsed
    sent = cli("outbox", "send", "--json")
    assert sent.code == 0 and json.loads(sent.out)["failed"] == 0, sent
    mails = sorted((tmp_path / "mail" / "new").iterdir())
    tally.sent(len(mails))
    assert len(mails) >= 2
    for path in mails:
        check_delivered(path.read_bytes(), {"anne@bl.dk", "s@o.dk"})
        subject = parse(path.read_bytes())["Subject"]
        assert "Øst Bcc: evil@example.org X-Evil: 1" in subject or "Ugebrev" in subject
