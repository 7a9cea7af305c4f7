"""The iTIP calendar object built by notifications.invites (docs/notifications.md)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from engine.domain.model import Contact
from notifications.invites import PRODID, InviteSpec, build_calendar, invite_uid

CPH = ZoneInfo("Europe/Copenhagen")

SPEC = InviteSpec(
    uid="fbh-7-socialt-beredskab-workshop@bl.dk",
    sequence=0,
    method="REQUEST",
    summary="Workshop – Socialt beredskab (Boligselskabet Øst)",
    description="Vi kortlægger aktørlandskabet.\nFrokost: smørrebrød.",
    location="Fælleshuset, Ærøvej 7",
    start=datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
    end=datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
    organizer=Contact("Anna Holm", "anna.holm@bl.dk"),
    attendees=(Contact("Søren Ærø", "soren@boligost.dk"), Contact("Anna Holm", "anna.holm@bl.dk")),
    dtstamp=datetime(2027, 1, 4, 13, 15, tzinfo=CPH),
)


def lines(ics: bytes) -> list[str]:
    """Unfolded content lines."""
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")


def prop(ics: bytes, name: str) -> list[str]:
    """Content lines named ``name`` in the VCALENDAR and VEVENT (not in the VTIMEZONE)."""
    found, depth = [], 0
    for line in lines(ics):
        if line in ("BEGIN:VTIMEZONE", "END:VTIMEZONE"):
            depth += 1 if line.startswith("BEGIN") else -1
        elif depth == 0 and re.match(rf"{name}[;:]", line):
            found.append(line)
    return found


def test_one_vevent_in_a_vcalendar_with_method() -> None:
    calendar = Calendar.from_ical(build_calendar(SPEC))

    assert calendar["PRODID"] == PRODID == "-//BL Danmarks Almene Boliger//fbh//DA"
    assert calendar["VERSION"] == "2.0"
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert calendar["METHOD"] == "REQUEST"
    assert len(calendar.events) == 1
    assert [c.name for c in calendar.subcomponents] == ["VTIMEZONE", "VEVENT"]


def test_request_properties() -> None:
    ics = build_calendar(SPEC)

    assert prop(ics, "UID") == ["UID:fbh-7-socialt-beredskab-workshop@bl.dk"]
    assert prop(ics, "SEQUENCE") == ["SEQUENCE:0"]
    assert prop(ics, "STATUS") == ["STATUS:CONFIRMED"]
    assert prop(ics, "TRANSP") == ["TRANSP:OPAQUE"]
    assert prop(ics, "DTSTART") == ["DTSTART;TZID=Europe/Copenhagen:20270308T090000"]
    assert prop(ics, "DTEND") == ["DTEND;TZID=Europe/Copenhagen:20270308T150000"]
    assert prop(ics, "SUMMARY") == ["SUMMARY:Workshop – Socialt beredskab (Boligselskabet Øst)"]
    assert prop(ics, "LOCATION") == ["LOCATION:Fælleshuset\\, Ærøvej 7"]
    assert prop(ics, "DESCRIPTION") == [
        "DESCRIPTION:Vi kortlægger aktørlandskabet.\\nFrokost: smørrebrød."
    ]
    assert prop(ics, "ORGANIZER") == ['ORGANIZER;CN="Anna Holm":mailto:anna.holm@bl.dk']


def test_cancel_properties() -> None:
    ics = build_calendar(replace(SPEC, method="CANCEL", sequence=3))

    assert prop(ics, "METHOD") == ["METHOD:CANCEL"]
    assert prop(ics, "STATUS") == ["STATUS:CANCELLED"]
    assert prop(ics, "SEQUENCE") == ["SEQUENCE:3"]
    assert prop(ics, "UID") == ["UID:fbh-7-socialt-beredskab-workshop@bl.dk"]
    assert len(prop(ics, "ATTENDEE")) == 2
    assert len(prop(ics, "ORGANIZER")) == 1


def test_attendees_need_action_and_rsvp() -> None:
    [soren, anna] = Calendar.from_ical(build_calendar(SPEC)).events[0]["ATTENDEE"]

    assert str(soren) == "mailto:soren@boligost.dk"
    assert str(anna) == "mailto:anna.holm@bl.dk"
    assert dict(soren.params) == {
        "CN": "Søren Ærø",
        "CUTYPE": "INDIVIDUAL",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }


def test_duplicate_attendees_are_listed_once() -> None:
    twice = replace(SPEC, attendees=(*SPEC.attendees, Contact("S. Ærø", "SOREN@boligost.dk")))

    assert len(prop(build_calendar(twice), "ATTENDEE")) == 2


def test_dtstamp_is_utc() -> None:
    assert prop(build_calendar(SPEC), "DTSTAMP") == ["DTSTAMP:20270104T121500Z"]


def test_hand_built_rrule_vtimezone() -> None:
    text = "\r\n".join(lines(build_calendar(SPEC)))
    block = text[text.index("BEGIN:VTIMEZONE") : text.index("END:VTIMEZONE")]

    assert "RDATE" not in block
    assert "TZID:Europe/Copenhagen" in block
    standard = block[block.index("BEGIN:STANDARD") : block.index("END:STANDARD")]
    daylight = block[block.index("BEGIN:DAYLIGHT") : block.index("END:DAYLIGHT")]
    for expected in (
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "DTSTART:19701025T030000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
    ):
        assert expected in standard
    for expected in (
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "DTSTART:19700329T020000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    ):
        assert expected in daylight


def test_every_tzid_used_is_declared() -> None:
    for spec in (SPEC, replace(SPEC, method="CANCEL", sequence=1)):
        ics = build_calendar(spec)
        used = set(re.findall(r";TZID=([^:;]+)", "\n".join(lines(ics))))
        declared = set(re.findall(r"^TZID:(.+)$", "\n".join(lines(ics)), re.MULTILINE))
        assert used == {"Europe/Copenhagen"}
        assert used <= declared
        assert Calendar.from_ical(ics).get_missing_tzids() == set()


def test_crlf_folded_utf8() -> None:
    long_description = "Æblegrød og rødgrød med fløde. " * 20
    ics = build_calendar(replace(SPEC, description=long_description))

    assert b"\n" not in ics.replace(b"\r\n", b"")
    assert ics.endswith(b"\r\n")
    for raw in ics.split(b"\r\n"):
        assert len(raw) <= 75
        raw.decode("utf-8")  # folding never splits a multi-byte character
    [description] = prop(ics, "DESCRIPTION")
    assert description == "DESCRIPTION:" + long_description.strip()


def test_times_given_in_another_offset_are_written_in_copenhagen_time() -> None:
    utc_start = datetime(2027, 6, 14, 7, 0, tzinfo=UTC)
    spec = replace(SPEC, start=utc_start, end=utc_start + timedelta(hours=6))

    ics = build_calendar(spec)

    assert prop(ics, "DTSTART") == ["DTSTART;TZID=Europe/Copenhagen:20270614T090000"]
    assert prop(ics, "DTEND") == ["DTEND;TZID=Europe/Copenhagen:20270614T150000"]


def test_repeated_autumn_hour_is_written_in_utc() -> None:
    second_0230 = datetime(2027, 10, 31, 2, 30, tzinfo=CPH, fold=1)
    spec = replace(SPEC, start=second_0230, end=second_0230 + timedelta(hours=1))

    ics = build_calendar(spec)

    assert prop(ics, "DTSTART") == ["DTSTART:20271031T013000Z"]
    assert prop(ics, "DTEND") == ["DTEND;TZID=Europe/Copenhagen:20271031T033000"]


def test_times_before_the_eu_rule_are_written_in_utc() -> None:
    summer_1979 = datetime(1979, 7, 2, 9, 0, tzinfo=CPH)  # Denmark had no DST until 1980
    spec = replace(SPEC, start=summer_1979, end=summer_1979 + timedelta(hours=1))

    ics = build_calendar(spec)

    assert prop(ics, "DTSTART") == ["DTSTART:19790702T080000Z"]
    assert "BEGIN:VTIMEZONE" not in ics.decode()


def test_control_characters_cannot_add_properties() -> None:
    evil = "Workshop\r\nATTENDEE:mailto:evil@example.org\r\nX-EVIL:1"
    spec = replace(
        SPEC,
        summary=evil,
        location=evil,
        organizer=Contact('Anna "Boss" Holm\r\nX-EVIL:1', "anna.holm@bl.dk"),
    )

    ics = build_calendar(spec)

    assert len(prop(ics, "ATTENDEE")) == 2
    assert prop(ics, "X-EVIL") == []
    assert prop(ics, "ORGANIZER") == [
        "ORGANIZER;CN=\"Anna 'Boss' Holm X-EVIL:1\":mailto:anna.holm@bl.dk"
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"start": datetime(2027, 3, 8, 9, 0)},  # noqa: DTZ001 - naive on purpose
        {"dtstamp": datetime(2027, 1, 4, 12, 0)},  # noqa: DTZ001 - naive on purpose
        {"end": datetime(2027, 3, 8, 9, 0, tzinfo=CPH)},
        {"attendees": ()},
        {"sequence": -1},
        {"method": "PUBLISH"},
        {"uid": "two words"},
        {"organizer": Contact("X", "x@bl.dk\r\nX-EVIL:1")},
    ],
)
def test_invalid_specs_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_calendar(replace(SPEC, **change))  # type: ignore[arg-type]


def test_invite_uid_is_stable() -> None:
    first = invite_uid(7, "socialt-beredskab", "workshop", "BL.dk")

    assert first == "fbh-7-socialt-beredskab-workshop@bl.dk"
    assert first == invite_uid(7, "socialt-beredskab", "workshop", "bl.dk")
    assert first != invite_uid(8, "socialt-beredskab", "workshop", "bl.dk")
    assert first != invite_uid(7, "tilpasset", "workshop", "bl.dk")


@pytest.mark.parametrize(
    "args",
    [
        (-1, "socialt-beredskab", "workshop", "bl.dk"),
        (1, "Socialt beredskab", "workshop", "bl.dk"),
        (1, "socialt-beredskab", "work@shop", "bl.dk"),
        (1, "socialt-beredskab", "workshop", "bl dk"),
    ],
)
def test_invite_uid_refuses_odd_parts(args: tuple[int, str, str, str]) -> None:
    with pytest.raises(ValueError):
        invite_uid(*args)


_instants = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2037, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, CPH, timezone(timedelta(hours=-5))]),
)


@settings(max_examples=200, deadline=None)
@given(start=_instants, minutes=st.integers(min_value=1, max_value=60 * 48))
def test_any_instant_round_trips(start: datetime, minutes: int) -> None:
    start = start.replace(microsecond=0)
    end = start + timedelta(minutes=minutes)

    event = Calendar.from_ical(build_calendar(replace(SPEC, start=start, end=end))).events[0]

    # compare instants: PEP 495 makes inter-zone == false for times in the repeated hour
    assert event.start.astimezone(UTC) == start.astimezone(UTC)
    assert event.end.astimezone(UTC) == end.astimezone(UTC)
