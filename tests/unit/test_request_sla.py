"""The request SLA: reminders on days 10 and 13 after receipt, escalation after the deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from engine.domain.model import Contact, MilestoneKind
from engine.domain.planning import PlannedMilestone
from notifications.compose_requests import (
    ESCALATION,
    REMINDER,
    Proposal,
    RequestFacts,
    main_meeting,
    proposal_draft,
    sla_drafts,
    sla_schedule,
)
from notifications.envelope import revive
from notifications.render import render_mail

CPH = ZoneInfo("Europe/Copenhagen")
LEAD = Contact("Programleder", "lead@bl.dk")
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
AT = time(8, 0)


def facts(consultant: Contact | None = None) -> RequestFacts:
    return RequestFacts(
        id=4,
        workflow_title="Socialt beredskab",
        organisation="Boligselskabet Østervang",
        contact=Contact("Kirsten Kontakt", "kirsten@oestervang.dk"),
        wished_start=date(2027, 4, 5),
        received=date(2027, 3, 18),
        deadline=date(2027, 4, 1),
        domain="bl.dk",
        consultant=consultant,
    )


def test_schedule_is_in_copenhagen_time_across_dst() -> None:
    schedule = sla_schedule(
        date(2027, 3, 18), date(2027, 4, 1), reminder_days=(13, 10), at=AT, tz=CPH
    )
    assert [(n.kind, n.days) for n in schedule] == [
        (REMINDER, 10),
        (REMINDER, 13),
        (ESCALATION, None),
    ]
    # day 10 (28 March) is the DST switch: 08:00 local is 06:00 UTC from then on
    assert [n.due_at.astimezone(UTC) for n in schedule] == [
        datetime(2027, 3, 28, 6, 0, tzinfo=UTC),
        datetime(2027, 3, 31, 6, 0, tzinfo=UTC),
        datetime(2027, 4, 2, 6, 0, tzinfo=UTC),
    ]


def test_reminders_after_the_deadline_are_left_out() -> None:
    schedule = sla_schedule(
        date(2027, 3, 18), date(2027, 3, 25), reminder_days=(10, 13), at=AT, tz=CPH
    )
    assert [n.kind for n in schedule] == [ESCALATION]


def test_reminders_go_to_the_lead_until_someone_is_assigned() -> None:
    schedule = sla_schedule(
        date(2027, 3, 18), date(2027, 4, 1), reminder_days=(10, 13), at=AT, tz=CPH
    )
    now = datetime(2027, 3, 18, 12, tzinfo=UTC)
    unassigned = sla_drafts(facts(), schedule, lead=LEAD, now=now)
    assert [(d.kind, d.recipient) for d in unassigned] == [
        (REMINDER, "lead@bl.dk"),
        (REMINDER, "lead@bl.dk"),
        (ESCALATION, "lead@bl.dk"),
    ]
    assigned = sla_drafts(facts(ANNE), schedule, lead=LEAD, now=now)
    assert [d.recipient for d in assigned] == ["anne@bl.dk", "anne@bl.dk", "lead@bl.dk"]
    assert len({d.dedupe_key for d in unassigned + assigned}) == 5  # the escalation is shared


def test_past_reminders_are_skipped_and_a_breach_escalates_at_once() -> None:
    schedule = sla_schedule(
        date(2027, 3, 18), date(2027, 4, 1), reminder_days=(10, 13), at=AT, tz=CPH
    )
    now = datetime(2027, 4, 5, 9, tzinfo=UTC)
    drafts = sla_drafts(facts(ANNE), schedule, lead=LEAD, now=now)
    assert [(d.kind, d.due_at) for d in drafts] == [(ESCALATION, now)]
    assert drafts[0].payload["context"]["days_over"] == 4


def test_nobody_to_tell_queues_nothing() -> None:
    schedule = sla_schedule(date(2027, 3, 18), date(2027, 4, 1), reminder_days=(10,), at=AT, tz=CPH)
    assert sla_drafts(facts(), schedule, lead=None, now=datetime(2027, 3, 18, tzinfo=UTC)) == []


def test_reminder_and_escalation_render_in_danish() -> None:
    schedule = sla_schedule(date(2027, 3, 18), date(2027, 4, 1), reminder_days=(10,), at=AT, tz=CPH)
    reminder, escalation = sla_drafts(
        facts(), schedule, lead=LEAD, now=datetime(2027, 3, 18, tzinfo=UTC)
    )
    mail = render_mail(reminder.kind, revive(reminder.payload["context"]))
    assert "senest 1. april 2027" in mail.subject
    assert "4 dage tilbage" in mail.subject
    assert "endnu ingen konsulent" in mail.text
    assert "fbh request propose 4" in mail.text
    mail = render_mail(escalation.kind, revive(escalation.payload["context"]))
    assert mail.subject.startswith(
        "Svarfrist overskredet: henvendelse fra Boligselskabet Østervang"
    )
    assert "overskredet med 1 dag." in mail.text


def test_proposal_lists_each_start_with_the_workshop_window() -> None:
    workshop = PlannedMilestone(
        workflow="socialt-beredskab",
        key="workshop",
        title="Workshop om socialt beredskab",
        kind=MilestoneKind.MEETING,
        weeks=(9, 11),
        window_start=date(2027, 3, 8),
        window_end=date(2027, 3, 24),
        start=datetime(2027, 3, 8, 9, tzinfo=CPH),
        end=datetime(2027, 3, 8, 15, tzinfo=CPH),
    )
    draft = proposal_draft(
        facts(ANNE),
        [Proposal(date(2027, 1, 4), date(2027, 4, 2), workshop)],
        revision=1,
        contact_person=ANNE,
        tz=CPH,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert draft.recipient == "kirsten@oestervang.dk"
    assert draft.dedupe_key == "request-proposal:4:1"
    mail = render_mail(draft.kind, revive(draft.payload["context"]))
    assert "Start mandag den 4. januar 2027 (uge 1)" in mail.text
    assert "forløbet slutter fredag den 2. april 2027" in mail.text
    assert (
        "Workshop om socialt beredskab forventes at ligge 8.–24. marts 2027 (uge 10–12)"
        in mail.text
    )
    assert "anne@bl.dk" in mail.html


def test_the_main_meeting_is_the_longest() -> None:
    assert main_meeting([]) is None
