"""The course calendar's store and services on SQLite and PostgreSQL: the waiting list, the
lead's question, the venue's roster, and ``tx.courses.forget``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.domain.courses import registrant
from engine.domain.errors import ConflictError, InvalidInputError, NotFoundError
from engine.domain.model import Contact
from engine.services.courses import NewCourse
from engine.services.facade import Fbh

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
PEOPLE = [registrant(f"Person {n}", f"p{n}@org.dk", "Bolig Øst") for n in range(4)]


def new_course(**changes: object) -> NewCourse:
    values: dict[str, object] = {
        "city": "Aarhus",
        "venue": "Kursuscentret",
        "start": datetime(2027, 3, 9, 9, 0, tzinfo=CPH),
        "end": datetime(2027, 3, 9, 15, 0, tzinfo=CPH),
        "capacity": 2,
        "minimum": 2,
        "decide_by": date(2027, 2, 20),
        "venue_email": Contact("Kursuscentret", "lokaler@kursus.dk"),
    }
    return NewCourse(**(values | changes))  # type: ignore[arg-type]


def pending(fbh: Fbh, kind: str) -> list[dict[str, object]]:
    with fbh.store.transaction() as tx:
        rows = tx.outbox.find(states=["pending"])
    return [r.payload["context"] | {"_due": r.due_at} for r in rows if r.kind == kind]


def test_the_lead_is_asked_only_while_the_course_is_under_its_minimum(fbh: Fbh) -> None:
    course = fbh.courses.add(new_course(), NOW)
    (question,) = pending(fbh, "course_decision")
    assert question["registered"] == 0 and question["missing"] == 2
    # 3 working days before 20 February 2027 (a Saturday): Wednesday 17 February, 09:00
    assert question["_due"] == datetime(2027, 2, 17, 9, 0, tzinfo=CPH)
    fbh.courses.register(course.id, PEOPLE[0], NOW)
    assert [q["registered"] for q in pending(fbh, "course_decision")] == [1]
    fbh.courses.register(course.id, PEOPLE[1], NOW)
    assert pending(fbh, "course_decision") == []
    fbh.courses.unregister(course.id, PEOPLE[1].email, NOW)
    assert [q["registered"] for q in pending(fbh, "course_decision")] == [1]


def test_the_roster_follows_the_registrations(fbh: Fbh) -> None:
    course = fbh.courses.add(new_course(capacity=3, minimum=None, decide_by=None), NOW)
    fbh.courses.register_many(course.id, PEOPLE, NOW)
    (roster,) = pending(fbh, "course_roster")
    assert [p["name"] for p in roster["participants"]] == ["Person 0", "Person 1", "Person 2"]
    assert roster["_due"] == datetime(2027, 3, 5, 9, 0, tzinfo=CPH)  # 2 working days before
    promoted = fbh.courses.unregister(course.id, "P1@org.dk", NOW)
    assert promoted is not None and promoted.email == "p3@org.dk"
    (roster,) = pending(fbh, "course_roster")
    assert [p["name"] for p in roster["participants"]] == ["Person 0", "Person 2", "Person 3"]


def test_registering_twice_or_an_unknown_person_is_refused(fbh: Fbh) -> None:
    course = fbh.courses.add(new_course(), NOW)
    fbh.courses.register(course.id, PEOPLE[0], NOW)
    with pytest.raises(ConflictError, match="already registered"):
        fbh.courses.register_many(course.id, [PEOPLE[1], PEOPLE[0]], NOW)
    assert [p.email for p in fbh.courses.show(course.id, NOW).registered] == ["p0@org.dk"]
    with pytest.raises(NotFoundError):
        fbh.courses.unregister(course.id, "nobody@org.dk", NOW)
    with pytest.raises(NotFoundError):
        fbh.courses.show(999, NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": datetime(2027, 3, 9, 8, 0, tzinfo=CPH)}, "is not after"),
        ({"minimum": 3}, "--minimum must be 1 to the capacity"),
        ({"decide_by": None}, "go together"),
        ({"decide_by": date(2027, 3, 10)}, "must be from today until before the course"),
        (
            {
                "start": datetime(2026, 12, 1, 9, tzinfo=CPH),
                "end": datetime(2026, 12, 1, 15, tzinfo=CPH),
            },
            "lies in the past",
        ),
    ],
)
def test_a_bad_course_is_refused(fbh: Fbh, changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        fbh.courses.add(new_course(**changes), NOW)
    assert fbh.courses.find(NOW) == []


def test_forget_erases_every_registration_of_a_person(fbh: Fbh) -> None:
    first = fbh.courses.add(new_course(), NOW)
    second = fbh.courses.add(new_course(capacity=1, minimum=None, decide_by=None), NOW)
    fbh.courses.register_many(first.id, PEOPLE[:2], NOW)
    fbh.courses.register_many(second.id, PEOPLE[:2], NOW)
    with fbh.store.transaction() as tx:
        assert tx.courses.forget(" P1@Org.dk ") == 2
    for course in (first, second):
        shown = fbh.courses.show(course.id, NOW)
        emails = [p.email for p in (*shown.registered, *shown.waitlist)]
        assert emails == ["p0@org.dk"]
    with fbh.store.transaction() as tx:
        assert tx.courses.forget("p1@org.dk") == 0


def test_a_course_that_has_ended_is_held_and_closed(fbh: Fbh) -> None:
    course = fbh.courses.add(new_course(), NOW)
    later = datetime(2027, 3, 10, tzinfo=UTC)
    assert fbh.courses.show(course.id, later).state == "held"
    with pytest.raises(ConflictError, match="is held"):
        fbh.courses.register(course.id, PEOPLE[0], later)
    assert fbh.courses.find(later, ending_after=later) == []
    assert [c.id for c in fbh.courses.find(later, ending_after=later - timedelta(days=2))] == [
        course.id
    ]


def test_the_leads_digest_shows_the_calendar_and_warns_under_two_courses(fbh: Fbh) -> None:
    from engine.services.digests import lead_digest
    from notifications.digests import digest_context
    from notifications.render import render_mail

    lead = Contact("Programleder", "lead@bl.dk")
    first = fbh.courses.add(new_course(), NOW)
    fbh.courses.register(first.id, PEOPLE[0], NOW)
    digest = lead_digest(fbh, NOW, lead)
    assert [(c.city, c.registered) for c in digest.courses] == [("Aarhus", 1)]
    text = render_mail("digest_lead", digest_context(digest, fbh.tz)).text
    assert "ADVARSEL: Der er kun 1 BASIS-kursus planlagt de næste 12 måneder" in text
    assert "9. marts 2027 kl. 09.00, Aarhus (Kursuscentret): 1 af 2 pladser" in text
    assert "under minimum (2)" in text
    far = new_course(
        start=datetime(2028, 2, 1, 9, tzinfo=CPH), end=datetime(2028, 2, 1, 15, tzinfo=CPH)
    )
    fbh.courses.add(far, NOW)  # beyond 12 months: does not count
    assert lead_digest(fbh, NOW, lead).too_few_courses
    fbh.courses.add(new_course(city="København", minimum=None, decide_by=None), NOW)
    digest = lead_digest(fbh, NOW, lead)
    assert not digest.too_few_courses and len(digest.courses) == 2
    assert "ADVARSEL" not in render_mail("digest_lead", digest_context(digest, fbh.tz)).text


def test_participant_forget_erases_course_registrations_and_their_names_in_mail(
    fbh: Fbh,
) -> None:
    course = fbh.courses.add(new_course(capacity=3), NOW)
    fbh.courses.register_many(course.id, PEOPLE[:2], NOW)
    found = fbh.participants.forget("p1@org.dk", NOW)
    assert found["course_registrations"] == 1
    shown = fbh.courses.show(course.id, NOW)
    assert [p.email for p in shown.registered] == ["p0@org.dk"]
    with fbh.store.transaction() as tx:
        rows = tx.outbox.find()
    assert not [r for r in rows if r.recipient == "p1@org.dk"]
    for row in rows:  # the venue's roster and the lead's question no longer name Person 1
        assert "Person 1" not in str(row.payload) and "p1@org.dk" not in str(row.payload)
