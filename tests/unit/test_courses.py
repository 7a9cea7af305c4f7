"""The BASIS course calendar and the check-ins, pure parts: the CSV of registrations, the
city, the course mails and the public calendar, the check-ins' due dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from engine.domain.catchup import expiry
from engine.domain.checkins import add_months, due_at, months_of, shown_state
from engine.domain.courses import city_of, parse_csv
from engine.domain.courses import shown_state as course_state
from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact
from engine.domain.workdays import WorkingCalendar
from notifications import courses as mail
from notifications.envelope import revive
from notifications.invites import course_uid
from notifications.render import render_mail

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
FACTS = mail.CourseFacts(
    id=4,
    city="København",
    venue="BL, Studiestræde 50",
    start=datetime(2027, 3, 9, 9, 0, tzinfo=CPH),
    end=datetime(2027, 3, 9, 15, 30, tzinfo=CPH),
    capacity=20,
    minimum=8,
    decide_by=date(2027, 2, 20),
    sequence=0,
    domain="bl.dk",
    organizer=Contact("Fra bolig til hjem", "fraboligtilhjem@bl.dk"),
    installation="3f9c0a1be27d4c55",
)
SOEREN = mail.Registrant("Søren Ærø", "soren@boligost.dk", "Boligselskabet Øst", "abc123")


def test_a_danish_excel_csv_with_a_bom_and_aeoeaa_is_read() -> None:
    data = "\ufeffnavn;email;organisation\r\nÅse Ørum;Aase@Ost.dk;Bolig Øst\r\n\r\n".encode()
    people = parse_csv(data, "kursus.csv")
    assert [(p.name, p.email, p.organisation) for p in people] == [
        ("Åse Ørum", "aase@ost.dk", "Bolig Øst")
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("navn,email,organisation\r\nA,a@b.dk,C\r\n", "row 1: the header must be"),
        ("navn;email;organisation\r\nA;a@b.dk;C\r\nB;nope;C\r\n", "row 3: invalid contact"),
        ("navn;email;organisation\r\nA;a@b.dk\r\n", "row 2: expected 3 fields, got 2"),
        ("navn;email;organisation\r\nA;a@b.dk;C\r\nB;A@b.dk;D\r\n", "row 3: a@b.dk is listed"),
        ("navn;email;organisation\r\n;a@b.dk;C\r\n", "row 2: name must not be empty"),
        ('navn;email;organisation\r\n"A\r\nBcc";a@b.dk;C\r\n', "row 2: name 'A\\r\\nBcc'"),
        (f"navn;email;organisation\r\nA;a@b.dk;{'o' * 201}\r\n", "longer than 200 characters"),
    ],
)
def test_a_bad_row_refuses_the_whole_file_and_names_the_row(text: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_csv(text.encode(), "kursus.csv")
    assert problem in str(caught.value) and str(caught.value).startswith("kursus.csv: ")


def test_a_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        parse_csv("navn;email;organisation\nÅse;a@b.dk;Øst\n".encode("cp1252"), "x.csv")


def test_only_koebenhavn_and_aarhus() -> None:
    assert city_of(" københavn ") == "København" and city_of("AARHUS") == "Aarhus"
    with pytest.raises(InvalidInputError, match="BASIS is held in København or Aarhus"):
        city_of("Odense")
    with pytest.raises(InvalidInputError, match="longer than 200 characters"):
        city_of("x" * 100_000, "--city")  # the check_text limit, not a 100 KB error line
    with pytest.raises(InvalidInputError, match="control characters"):
        city_of("Aarhus\r\n")


def test_a_planned_course_that_has_ended_is_shown_as_held() -> None:
    assert course_state("planned", NOW, NOW) == "held"
    assert course_state("planned", NOW + timedelta(seconds=1), NOW) == "planned"
    assert course_state("cancelled", NOW, NOW) == "cancelled"


def test_the_course_uid_is_stable_and_names_the_installation() -> None:
    assert FACTS.uid == "fbh-3f9c0a1be27d4c55-course-4@bl.dk"
    assert course_uid(4, "BL.dk") == "fbh-course-4@bl.dk"
    with pytest.raises(ValueError, match="invalid domain"):
        course_uid(4, "bl dk")


def contexts() -> dict[str, dict[str, object]]:
    """Each course kind's context as it comes back from the outbox."""
    drafts = [
        mail.invite_draft(FACTS, SOEREN, method="REQUEST", now=NOW),
        mail.notice_draft(FACTS, SOEREN, reason="waitlisted", position=3, now=NOW),
        *mail.reminder_drafts(FACTS, SOEREN, [(5, NOW + timedelta(days=9))], NOW),
        mail.roster_draft(FACTS, Contact("Lokaler", "lokaler@bl.dk"), [SOEREN], due_at=NOW),
        mail.decision_draft(FACTS, Contact("Lead", "lead@bl.dk"), [SOEREN], due_at=NOW),
    ]
    return {d.kind: revive(d.payload["context"]) for d in drafts}


@pytest.mark.parametrize("kind", sorted(contexts()))
def test_every_course_kind_renders_in_danish(kind: str) -> None:
    rendered = render_mail(kind, contexts()[kind])
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.startswith("Kære ") and rendered.text.endswith("\n")
    assert "Boligselskabet Øst" in rendered.text + rendered.subject
    assert "9. marts 2027" in rendered.subject
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert not re.search(r"<img|<link|<script|src=", rendered.html, re.IGNORECASE)


def test_the_course_mails_say_what_happened() -> None:
    found = contexts()
    invite = render_mail("course_invite", found["course_invite"])
    assert invite.subject.startswith("Tilmeldt: BASIS-kursus i socialt beredskab, København")
    assert "tirsdag den 9. marts 2027 kl. 09.00–15.30" in invite.text
    cancel = render_mail("course_invite", found["course_invite"] | {"method": "CANCEL"})
    assert cancel.subject.startswith("Aflyst: ")
    moved_up = render_mail("course_invite", found["course_invite"] | {"promoted": True})
    assert moved_up.subject.startswith("Du har fået en plads: ")
    assert "nummer 3 på ventelisten" in render_mail("course_notice", found["course_notice"]).text
    decision = render_mail("course_decision", found["course_decision"])
    assert "har 1 tilmeldte, men skal have mindst 8" in decision.text
    assert decision.subject.startswith("Beslut senest 20. februar 2027")


def test_an_invite_names_only_its_own_attendee() -> None:
    draft = mail.invite_draft(FACTS, SOEREN, method="REQUEST", now=NOW)
    invite = draft.payload["invite"]
    assert invite["attendees"] == [{"name": "Søren Ærø", "email": "soren@boligost.dk"}]
    assert invite["uid"] == FACTS.uid and draft.dedupe_key.startswith("course:4:abc123:")


def test_a_late_course_mail_expires_with_the_course() -> None:
    found = {d.kind: d for d in [mail.invite_draft(FACTS, SOEREN, method="REQUEST", now=NOW)]}
    payload = found["course_invite"].payload
    assert expiry("course_invite", payload, CPH) == FACTS.end
    reminder = mail.reminder_drafts(FACTS, SOEREN, [(1, NOW + timedelta(days=60))], NOW)[0]
    assert expiry("course_reminder", reminder.payload, CPH) == FACTS.start


def test_the_public_ics_is_a_publish_without_attendees() -> None:
    ics = mail.publish_ics([mail.PublishedCourse(FACTS, 20, 3)], NOW)
    calendar = Calendar.from_ical(ics)
    assert str(calendar["METHOD"]) == "PUBLISH"
    (event,) = calendar.walk("VEVENT")
    assert "ATTENDEE" not in event and str(event["UID"]) == FACTS.uid
    html = mail.publish_html([mail.PublishedCourse(FACTS, 20, 3)], NOW)
    assert "Fuldt booket – venteliste" in html and 'lang="da"' in html


def test_the_public_page_escapes_the_venue() -> None:
    facts = mail.CourseFacts(**{**FACTS.__dict__, "venue": "<script>x</script> & Co"})
    html = mail.publish_html([mail.PublishedCourse(facts, 1, 0)], NOW)
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt; &amp; Co" in html
    assert "19 af 20" in html


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 3, 31), 3, date(2027, 6, 30)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2027, 4, 2), 12, date(2028, 4, 2)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_months_last(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected


def test_a_checkin_on_a_day_off_goes_out_on_the_next_working_day() -> None:
    calendar = WorkingCalendar()
    # 2027-04-02 + 3 months = Friday 2 July (a working day); 2027-03-05 + 3 months is a Saturday
    assert due_at(date(2027, 4, 2), 3, calendar, CPH) == datetime(2027, 7, 2, 9, tzinfo=CPH)
    assert due_at(date(2027, 3, 5), 3, calendar, CPH) == datetime(2027, 6, 7, 9, tzinfo=CPH)


def test_checkin_keys_and_states() -> None:
    assert months_of("checkin-3") == 3 and months_of("workshop") is None
    assert shown_state(None, False, "completed") == "planned"
    assert shown_state(None, True, "completed") == "scheduled"
    assert shown_state("done", True, "completed") == "done"
    assert shown_state(None, False, "cancelled") == "cancelled"
