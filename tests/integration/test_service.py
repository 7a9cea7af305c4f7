"""The engine's commands against real databases (SQLite file and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.domain.errors import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PlanningError,
    PrerequisiteError,
)
from engine.domain.model import Contact, OutboxDraft
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import Store

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Tovholder", "soren@oestervang.dk")


def new(org: str = "Boligselskabet Østervang", **changes: object) -> NewProgramme:
    values: dict[str, object] = {
        "workflow": "socialt-beredskab",
        "organisation": org,
        "municipality": "Helsingør",
        "consultant": ANNE,
        "tovholder": SOREN,
        "start": date(2027, 1, 4),
    }
    values.update(changes)
    return NewProgramme(**values)  # type: ignore[arg-type]


def meeting_keys(view: object) -> list[str]:
    return [m.planned.key for m in view.milestones if m.planned.is_meeting]  # type: ignore[attr-defined]


def test_create_matches_the_worked_example_and_writes_events(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)

    assert (view.start, view.end, view.state) == (date(2027, 1, 4), date(2027, 4, 2), "planned")
    workshop = next(m for m in view.milestones if m.planned.key == "workshop")
    assert workshop.planned.window_start == date(2027, 3, 8)
    assert workshop.planned.window_end == date(2027, 3, 24)
    assert workshop.planned.start == datetime(2027, 3, 8, 9, 0, tzinfo=CPH)
    assert workshop.planned.start.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    assert workshop.state == "scheduled"
    follow_up = next(m for m in view.milestones if m.planned.key == "opfoelgning")
    assert follow_up.planned.window_start == date(2027, 3, 30)
    assert follow_up.planned.start.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
    with store.transaction() as tx:
        events = tx.events.find(programme_id=view.id)
    assert events[0].event == "create" and events[0].entity == "programme"
    assert events[0].actor == "test" and events[0].at == NOW
    assert sum(e.event == "create" and e.entity == "milestone" for e in events) == 6


def test_create_queues_one_invite_per_meeting_and_attendee_and_a_summary(
    fbh: Fbh, store: Store
) -> None:
    view = fbh.create_programme(new(), NOW)
    with store.transaction() as tx:
        rows = tx.outbox.find(programme_id=view.id)
    invites = Counter((r.recipient, r.milestone_id) for r in rows if r.kind == "invite")
    meetings = [m for m in view.milestones if m.planned.is_meeting]
    assert len(meetings) == 4
    assert set(invites.values()) == {1}
    assert {r for r, _ in invites} == {"anne@bl.dk", "soren@oestervang.dk"}
    assert len(invites) == 2 * len(meetings)
    assert [r.recipient for r in rows if r.kind == "programme_summary"] == ["soren@oestervang.dk"]
    assert all(r.due_at > NOW for r in rows if r.kind == "reminder")
    assert all(r.state == "pending" for r in rows)


def test_queuing_the_same_message_twice_is_prevented_by_the_dedupe_key(
    fbh: Fbh, store: Store
) -> None:
    view = fbh.create_programme(new(), NOW)
    with store.transaction() as tx:
        rows = tx.outbox.find(programme_id=view.id)
        again = [
            OutboxDraft(
                dedupe_key=r.dedupe_key,
                kind=r.kind,
                recipient=r.recipient,
                due_at=r.due_at,
                payload=r.payload,
                message_id=r.message_id,
                programme_id=r.programme_id,
            )
            for r in rows
        ]
        assert tx.outbox.enqueue(again, NOW) == 0
        assert len(tx.outbox.find()) == len(rows)


def test_two_programmes_of_one_consultant_get_workshops_on_different_days(fbh: Fbh) -> None:
    first = fbh.create_programme(new("Boligselskabet A"), NOW)
    second = fbh.create_programme(new("Boligselskabet B", tovholder=Contact("B", "b@b.dk")), NOW)

    def day(view: object, key: str) -> date:
        found = next(m for m in view.milestones if m.planned.key == key)  # type: ignore[attr-defined]
        return found.planned.start.date()

    assert day(first, "workshop") != day(second, "workshop")
    for key in ("afsaet", "opstart", "opfoelgning"):
        assert day(first, key) != day(second, key) or key == "afsaet"


def test_tilpasset_alone_needs_an_agreement_on_social_preparedness(fbh: Fbh, store: Store) -> None:
    with pytest.raises(PrerequisiteError, match="socialt-beredskab"):
        fbh.create_programme(new(workflow="tilpasset"), NOW)
    with store.transaction() as tx:
        assert tx.programmes.find() == [] and tx.outbox.find() == []

    fbh.create_programme(new(), NOW)
    alone = fbh.create_programme(new(workflow="tilpasset", start=date(2027, 5, 3)), NOW)
    assert alone.workflow == "tilpasset" and alone.end == date(2027, 7, 30)


def test_extension_adds_six_weeks(fbh: Fbh) -> None:
    view = fbh.create_programme(new(extensions=("tilpasset",)), NOW)
    assert view.end == date(2027, 5, 14)
    afvikling = next(m for m in view.milestones if m.planned.key == "afvikling")
    assert afvikling.planned.weeks == (12, 18)


def test_move_shifts_every_open_milestone_and_logs_it(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    fbh.milestone_done(view.id, "afsaet", NOW, force=True)
    preview = fbh.move(view.id, date(2027, 1, 18), NOW, dry_run=True)
    assert preview.changes and not preview.applied
    assert fbh.show(view.id).start == date(2027, 1, 4)  # the dry run wrote nothing

    result = fbh.move(view.id, date(2027, 1, 18), NOW)
    moved = fbh.show(view.id)
    assert result.changes == preview.changes
    assert moved.start == date(2027, 1, 18) and moved.end == date(2027, 4, 16)
    by_key = {m.planned.key: m for m in moved.milestones}
    before = {m.planned.key: m for m in view.milestones}
    assert by_key["afsaet"].planned == before["afsaet"].planned  # done: kept
    for key in ("opstart", "kortlaegning", "invitationer"):
        assert (by_key[key].planned.window_start - before[key].planned.window_start).days == 14
    assert by_key["opstart"].sequence == 1
    with store.transaction() as tx:
        moves = tx.events.find(programme_id=view.id, event="move")
    programme_move = next(e for e in moves if e.entity == "programme")
    assert programme_move.data["from"] == "2027-01-04" and programme_move.data["to"] == "2027-01-18"
    assert len(programme_move.data["changes"]) == len(result.changes)


def test_reschedule_outside_the_window_needs_force(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    outside = datetime(2027, 4, 7, 9, 0, tzinfo=CPH)
    with pytest.raises(ConflictError, match="--force"):
        fbh.reschedule(view.id, "workshop", outside, NOW)
    moved = fbh.reschedule(view.id, "workshop", outside, NOW, force=True)
    workshop = next(m for m in moved.milestones if m.planned.key == "workshop")
    assert workshop.planned.start == outside
    assert workshop.planned.end == datetime(2027, 4, 7, 15, 0, tzinfo=CPH)
    assert workshop.sequence == 1
    with store.transaction() as tx:
        event = tx.events.find(programme_id=view.id, event="reschedule")[-1]
        invites = [
            r
            for r in tx.outbox.find(programme_id=view.id)
            if r.kind == "invite" and r.milestone_id == workshop.id
        ]
    assert event.data["forced"] is True
    states = Counter((r.payload["invite"]["sequence"], r.state) for r in invites)
    assert states == {(0, "cancelled"): 2, (1, "pending"): 2}  # the unsent one is superseded


def test_reschedule_on_a_holiday_and_over_another_meeting_is_refused(fbh: Fbh) -> None:
    view = fbh.create_programme(new(), NOW)
    with pytest.raises(ConflictError, match="not a working day"):
        fbh.reschedule(view.id, "workshop", datetime(2027, 3, 13, 9, tzinfo=CPH), NOW)
    other = fbh.create_programme(new("Andet selskab", tovholder=Contact("C", "c@c.dk")), NOW)
    theirs = next(m for m in other.milestones if m.planned.key == "workshop").planned.start
    assert theirs is not None
    with pytest.raises(ConflictError, match="another meeting"):
        fbh.reschedule(view.id, "workshop", theirs, NOW)


def test_tasks_cannot_be_rescheduled(fbh: Fbh) -> None:
    view = fbh.create_programme(new(), NOW)
    with pytest.raises(Exception, match="task"):
        fbh.reschedule(view.id, "kortlaegning", datetime(2027, 1, 12, 9, tzinfo=CPH), NOW)


def test_illegal_transitions_name_the_state_and_the_event(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    fbh.milestone_done(view.id, "afsaet", NOW, force=True)
    with pytest.raises(InvalidTransitionError, match="'done' cannot 'skip'"):
        fbh.milestone_skip(view.id, "afsaet", NOW)
    fbh.cancel(view.id, NOW)
    with pytest.raises(InvalidTransitionError, match="'cancelled' cannot 'pause'"):
        fbh.pause(view.id, NOW)
    with store.transaction() as tx:
        events = [e.event for e in tx.events.find(programme_id=view.id)]
    assert events.count("cancel") >= 1 and "pause" not in events


def test_cancel_cancels_open_milestones_and_pending_mail(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    cancelled = fbh.cancel(view.id, NOW, reason="Organisationen har trukket sig")
    assert cancelled.state == "cancelled"
    assert {m.state for m in cancelled.milestones} == {"cancelled"}
    with store.transaction() as tx:
        rows = tx.outbox.find(programme_id=view.id)
    # Nothing was delivered yet: the invites are withdrawn instead of cancelled by mail.
    assert {r.state for r in rows if r.kind in ("invite", "reminder")} == {"cancelled"}
    assert not [r for r in rows if r.kind == "invite" and r.payload["invite"]["method"] == "CANCEL"]
    assert sorted(r.recipient for r in rows if r.kind == "programme_cancelled") == [
        "anne@bl.dk",
        "soren@oestervang.dk",
    ]


def test_pause_holds_reminders_and_resume_queues_them_again(fbh: Fbh, store: Store) -> None:
    view = fbh.create_programme(new(), NOW)
    soon = NOW + timedelta(days=30)  # the first meetings' reminders are within the horizon
    assert fbh.top_up(soon) > 0
    fbh.pause(view.id, soon)
    with store.transaction() as tx:
        pending = [r for r in tx.outbox.find(programme_id=view.id, states=["pending"])]
    assert not [r for r in pending if r.kind in ("reminder", "task_due")]
    assert [r for r in pending if r.kind == "invite"]  # the invites stay
    assert fbh.top_up(soon + timedelta(days=1)) == 0  # a paused programme gets none

    resumed = fbh.resume(view.id, soon)
    assert resumed.state == "planned"
    with store.transaction() as tx:
        again = [r for r in tx.outbox.find(programme_id=view.id, states=["pending"])]
    assert [r for r in again if r.kind == "reminder"]


def test_programme_starts_when_its_start_date_has_come(fbh: Fbh) -> None:
    later = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    assert fbh.create_programme(new(), later).state == "running"


def test_unknown_ids_and_keys_are_not_found(fbh: Fbh) -> None:
    with pytest.raises(NotFoundError, match="programme 999"):
        fbh.show(999)
    view = fbh.create_programme(new(), NOW)
    with pytest.raises(NotFoundError, match="nope"):
        fbh.milestone_done(view.id, "nope", NOW)


def test_failed_create_leaves_nothing_behind(fbh: Fbh, store: Store) -> None:
    with pytest.raises(PlanningError):
        fbh.create_programme(new(start=date(2027, 1, 9)), NOW)  # a Saturday: week 0 is empty
    with store.transaction() as tx:
        assert tx.programmes.find() == []
        assert tx.people.find_organisation("Boligselskabet Østervang") is None
        assert tx.outbox.find() == [] and tx.events.find() == []


def test_requests_get_a_14_day_deadline(fbh: Fbh) -> None:
    view = fbh.add_request(
        organisation="Fællesbo",
        contact=Contact("Åse", "aase@faellesbo.dk"),
        wished_start=date(2027, 2, 1),
        received=date(2026, 11, 25),
        now=NOW,
    )
    assert view.deadline == date(2026, 12, 9) and view.state == "received"
    assert view.days_left == 8
    assert [r.id for r in fbh.list_requests(NOW)] == [view.id]


def test_a_key_in_both_workflows_needs_its_workflow(fbh: Fbh) -> None:
    view = fbh.create_programme(new(extensions=("tilpasset",)), NOW)
    with pytest.raises(
        InvalidInputError, match=r"use socialt-beredskab\.afsaet or tilpasset\.afsaet"
    ):
        fbh.milestone_done(view.id, "afsaet", NOW, force=True)
    done = fbh.milestone_done(view.id, "tilpasset.afsaet", NOW, force=True)
    states = {(m.planned.workflow, m.planned.key): m.state for m in done.milestones}
    assert states[("tilpasset", "afsaet")] == "done"
    assert states[("socialt-beredskab", "afsaet")] == "scheduled"
