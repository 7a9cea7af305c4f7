"""Check fbh's invites with three independent iCalendar parsers (docs/notifications.md).

* vobject (Python, dateutil's VTIMEZONE interpretation), in process;
* ical.js (Thunderbird's parser) via node: ``tests/js/parse_ics.mjs``;
* libical (Evolution, many servers) via ``/usr/bin/python3`` and ``gi.repository.ICalGLib``:
  ``tests/integration/libical_parse.py``, which also runs libical's iTIP restriction check.

Every parser resolves TZIDs only through the VTIMEZONE inside the object, so these tests check
our hand-built VTIMEZONE, not the parser's own tz database. The calendar fed to the parsers is
taken back out of the built MIME message, so the base64 part is covered too.

node/npm or libical missing: skipped with a reason, or a failure when ``CI=true``.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icsparsers import icaljs_command, libical_command, run_tool
from mime_reference import build_message, to_bytes

from engine.domain.model import Contact
from notifications.invites import InviteSpec, build_calendar, invite_uid
from notifications.mime import MailSpec, message_id_for

CPH = ZoneInfo("Europe/Copenhagen")

Parser = Callable[[bytes], dict[str, Any]]

REQUIRED = {
    "REQUEST": {"ORGANIZER", "ATTENDEE", "DTSTAMP", "DTSTART", "UID", "SEQUENCE", "SUMMARY"},
    "CANCEL": {"ORGANIZER", "ATTENDEE", "DTSTAMP", "UID", "SEQUENCE", "STATUS"},
}
STATUS = {"REQUEST": "CONFIRMED", "CANCEL": "CANCELLED"}


def run_parser(command: list[str], ics: bytes, cwd: Path | None = None) -> dict[str, Any]:
    return _normalise(run_tool(command, ics, cwd=cwd))


@pytest.fixture(scope="session")
def icaljs() -> Parser:
    command, cwd = icaljs_command()
    return lambda ics: run_parser(command, ics, cwd=cwd)


@pytest.fixture(scope="session")
def libical() -> Parser:
    command = libical_command()
    return lambda ics: run_parser(command, ics)


def parse_vobject(ics: bytes) -> dict[str, Any]:
    """vobject caches VTIMEZONEs by TZID process-wide, so times are re-resolved with the
    tzinfo built from this object's own VTIMEZONE."""
    calendar = vobject.readOne(ics.decode("utf-8"))
    zones = {tz.tzid.value: tz.gettzinfo() for tz in calendar.contents.get("vtimezone", [])}
    [event] = calendar.contents["vevent"]
    used: set[str] = set()

    def utc(name: str) -> str | None:
        if name not in event.contents:
            return None
        prop = event.contents[name][0]
        value: datetime = prop.value
        tzid = prop.params.get("X-VOBJ-ORIGINAL-TZID", prop.params.get("TZID", [None]))[0]
        if tzid is not None:
            used.add(tzid)
            value = value.replace(tzinfo=zones[tzid])
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def address(prop: Any) -> dict[str, Any]:
        return {
            "value": prop.value,
            **{k.lower(): v[0] for k, v in prop.params.items()},
        }

    def text(name: str) -> str | None:
        return event.contents[name][0].value if name in event.contents else None

    return _normalise(
        {
            "method": calendar.method.value,
            "version": calendar.version.value,
            "uid": event.uid.value,
            "sequence": int(event.sequence.value),
            "status": text("status"),
            "summary": text("summary"),
            "location": text("location"),
            "description": text("description"),
            "dtstamp_utc": utc("dtstamp"),
            "dtstart_utc": utc("dtstart"),
            "dtend_utc": utc("dtend"),
            "tzids": sorted(zones),
            "used_tzids": sorted(used),
            "properties": [name.upper() for name in event.contents],
            "organizer": address(event.organizer),
            "attendees": [address(a) for a in event.contents.get("attendee", [])],
        }
    )


@pytest.fixture(params=["vobject", "icaljs", "libical"])
def parser(request: pytest.FixtureRequest) -> Parser:
    if request.param == "vobject":
        return parse_vobject
    fixture: Parser = request.getfixturevalue(request.param)
    return fixture


@dataclass(frozen=True)
class Case:
    name: str
    start: datetime
    end: datetime
    start_utc: str
    end_utc: str


CASES = [
    Case(
        "winter workshop",
        datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
        datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
        "2027-03-08T08:00:00Z",
        "2027-03-08T14:00:00Z",
    ),
    Case(
        "summer meeting",
        datetime(2027, 6, 14, 9, 0, tzinfo=CPH),
        datetime(2027, 6, 14, 15, 0, tzinfo=CPH),
        "2027-06-14T07:00:00Z",
        "2027-06-14T13:00:00Z",
    ),
    Case(
        "week 12 after Easter, first CEST weekday",
        datetime(2027, 3, 30, 10, 0, tzinfo=CPH),
        datetime(2027, 3, 30, 11, 30, tzinfo=CPH),
        "2027-03-30T08:00:00Z",
        "2027-03-30T09:30:00Z",
    ),
    Case(
        "across the spring change (28 March 2027)",
        datetime(2027, 3, 28, 1, 0, tzinfo=CPH),
        datetime(2027, 3, 28, 4, 0, tzinfo=CPH),
        "2027-03-28T00:00:00Z",
        "2027-03-28T02:00:00Z",
    ),
    Case(
        "across the autumn change (31 October 2027)",
        datetime(2027, 10, 31, 1, 0, tzinfo=CPH),
        datetime(2027, 10, 31, 4, 0, tzinfo=CPH),
        "2027-10-30T23:00:00Z",
        "2027-10-31T03:00:00Z",
    ),
    Case(
        "the repeated hour (written in UTC)",
        datetime(2027, 10, 31, 2, 30, tzinfo=CPH, fold=1),
        datetime(2027, 10, 31, 3, 30, tzinfo=CPH),
        "2027-10-31T01:30:00Z",
        "2027-10-31T02:30:00Z",
    ),
]


def spec_for(case: Case, method: str, sequence: int) -> InviteSpec:
    return InviteSpec(
        uid=invite_uid(42, "socialt-beredskab", "workshop", "bl.dk"),
        sequence=sequence,
        method=method,  # type: ignore[arg-type]
        summary="Workshop – Socialt beredskab (Boligselskabet Øst)",
        description="Kortlægning af aktørlandskabet.\nFrokost er inkluderet; tag kollegaer med.",
        location="Fælleshuset, Ærøvej 7, Aabenraa",
        start=case.start,
        end=case.end,
        organizer=Contact("Anna Holm, BL", "anna.holm@bl.dk"),
        attendees=(
            Contact("Søren Ærø", "soren@boligost.dk"),
            Contact("Anna Holm, BL", "anna.holm@bl.dk"),
        ),
        dtstamp=datetime(2027, 1, 4, 13, 15, tzinfo=CPH),
    )


def calendar_from_mail(spec: InviteSpec) -> bytes:
    """Build the whole iMIP message and take the text/calendar part back out."""
    calendar = build_calendar(spec)
    message = build_message(
        MailSpec(
            sender=Contact("Fra bolig til hjem", "fbh@bl.dk"),
            to=spec.attendees,
            subject=f"Invitation: {spec.summary}",
            text="Se invitationen.",
            html="<p>Se invitationen.</p>",
            message_id=message_id_for(spec.uid, "bl.dk"),
            date=spec.dtstamp,
            calendar=calendar,
            calendar_method=spec.method,
        )
    )
    parsed = email.message_from_bytes(to_bytes(message), policy=email.policy.default)
    [part] = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == spec.method
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload == calendar
    return payload


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize(("method", "sequence"), [("REQUEST", 0), ("REQUEST", 2), ("CANCEL", 3)])
def test_every_parser_reads_the_same_invite(
    parser: Parser, case: Case, method: str, sequence: int
) -> None:
    spec = spec_for(case, method, sequence)

    result = parser(calendar_from_mail(spec))

    assert (result["dtstart_utc"], result["dtend_utc"]) == (
        _z(case.start_utc),
        _z(case.end_utc),
    ), case.name
    assert result["dtstamp_utc"] == _z("2027-01-04T12:15:00Z")
    assert result["method"] == method
    assert result["version"] == "2.0"
    assert result["uid"] == "fbh-42-socialt-beredskab-workshop@bl.dk"
    assert result["sequence"] == sequence
    assert result["status"] == STATUS[method]
    assert REQUIRED[method] <= set(result["properties"])
    assert set(result["used_tzids"]) <= set(result["tzids"])
    assert result["summary"] == "Workshop – Socialt beredskab (Boligselskabet Øst)"
    assert result["location"] == "Fælleshuset, Ærøvej 7, Aabenraa"
    assert result["description"] == (
        "Kortlægning af aktørlandskabet.\nFrokost er inkluderet; tag kollegaer med."
    )
    assert result["organizer"]["value"] == "mailto:anna.holm@bl.dk"
    assert result["organizer"]["cn"] == "Anna Holm, BL"
    assert [a["value"] for a in result["attendees"]] == [
        "mailto:soren@boligost.dk",
        "mailto:anna.holm@bl.dk",
    ]
    for attendee in result["attendees"]:
        assert attendee["rsvp"] == "TRUE"
        assert attendee["partstat"] == "NEEDS-ACTION"
        assert attendee["role"] == "REQ-PARTICIPANT"
    assert result["attendees"][0]["cn"] == "Søren Ærø"
    if "itip_errors" in result:  # libical's RFC 5546 restriction table
        assert result["itip_errors"] == []
        assert result["parse_errors"] == 0
        assert result["dtstart_utc_component"] == result["dtstart_utc"]
        assert result["dtend_utc_component"] == result["dtend_utc"]


def test_local_times_use_the_declared_copenhagen_zone(parser: Parser) -> None:
    result = parser(build_calendar(spec_for(CASES[0], "REQUEST", 0)))

    assert result["tzids"] == ["Europe/Copenhagen"]
    assert result["used_tzids"] == ["Europe/Copenhagen"]


def _z(text: str) -> str:
    """One spelling per instant (ical.js prints milliseconds, the others do not)."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _normalise(result: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(result.items()):
        if key.endswith("_utc") or key.endswith("_utc_component"):
            result[key] = None if value is None else _z(value)
    return result


_instants = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2037, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(start=_instants, minutes=st.integers(min_value=15, max_value=60 * 30))
def test_vtimezone_agrees_with_the_tz_database(start: datetime, minutes: int) -> None:
    """Any instant, written by build_calendar and read back with the VTIMEZONE's own rules
    (dateutil via vobject), is the same instant."""
    start = start.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=minutes)
    case = Case("generated", start.astimezone(CPH), end.astimezone(CPH), "", "")

    result = parse_vobject(build_calendar(spec_for(case, "REQUEST", 0)))

    assert result["dtstart_utc"] == _z(start.isoformat())
    assert result["dtend_utc"] == _z(end.isoformat())


def test_an_update_with_answers_and_an_installation_uid_reads_the_same(parser: Parser) -> None:
    """An update that keeps the time repeats the answers received (inbound mail), and new
    meetings carry the installation id in their UID: every parser reads both."""
    spec = replace(
        spec_for(CASES[0], "REQUEST", 1),
        uid=invite_uid(42, "socialt-beredskab", "workshop", "bl.dk", "3f9c0a1be27d4c55"),
        partstats=(("soren@boligost.dk", "DECLINED"), ("anna.holm@bl.dk", "ACCEPTED")),
    )

    result = parser(calendar_from_mail(spec))

    assert result["uid"] == "fbh-3f9c0a1be27d4c55-42-socialt-beredskab-workshop@bl.dk"
    assert [a["partstat"] for a in result["attendees"]] == ["DECLINED", "ACCEPTED"]
    assert all(a["rsvp"] == "TRUE" for a in result["attendees"])
    if "itip_errors" in result:
        assert result["itip_errors"] == []
