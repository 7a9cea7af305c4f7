"""Planning: windows, meetings, extensions, reminders and the plan JSON (docs/workflows.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from itertools import combinations
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from _defs import meeting, task, workflow
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.errors import PlanningError
from engine.domain.model import MilestoneKind, Placement, Role
from engine.domain.planning import (
    CPH,
    BusySlot,
    Plan,
    PlannedMilestone,
    milestone_to_json,
    plan_programme,
    plan_to_json,
    reminder_times,
)
from engine.domain.workdays import WorkingCalendar, week_friday, week_monday
from engine.domain.workflow import ExtensionDef, Offset, ReminderDef, WorkflowDefinition

Workflows = dict[str, WorkflowDefinition]
CAL = WorkingCalendar.danish()
S = date(2027, 1, 4)
UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def sb(python_workflows: Workflows) -> WorkflowDefinition:
    return python_workflows["socialt-beredskab"]


@pytest.fixture(scope="module")
def tp(python_workflows: Workflows) -> WorkflowDefinition:
    return python_workflows["tilpasset"]


@pytest.fixture(scope="module")
def example(sb: WorkflowDefinition) -> Plan:
    return plan_programme(sb, S, CAL)


# --- the worked example -------------------------------------------------------------------


def test_worked_example_workshop_window_and_time(example: Plan) -> None:
    workshop = example.milestone("socialt-beredskab", "workshop")
    assert workshop.weeks == (9, 11)
    assert (workshop.window_start, workshop.window_end) == (date(2027, 3, 8), date(2027, 3, 24))
    assert workshop.start is not None and workshop.end is not None
    assert workshop.start.isoformat() == "2027-03-08T09:00:00+01:00"
    assert workshop.end.isoformat() == "2027-03-08T15:00:00+01:00"


def test_worked_example_week_12_starts_after_easter_at_summer_time(example: Plan) -> None:
    follow_up = example.milestone("socialt-beredskab", "opfoelgning")
    assert follow_up.window_start == date(2027, 3, 30)  # 29 March is Anden påskedag
    assert follow_up.window_end == date(2027, 4, 2)
    assert follow_up.start is not None
    assert follow_up.start.isoformat() == "2027-03-30T10:00:00+02:00"
    assert example.end == date(2027, 4, 2)


def test_worked_example_with_tilpasset_ends_in_week_18(
    sb: WorkflowDefinition, tp: WorkflowDefinition
) -> None:
    plan = plan_programme(sb, S, CAL, extensions=[tp])
    assert plan.end == date(2027, 5, 14)
    assert plan.extensions == ("tilpasset",)
    course = plan.milestone("tilpasset", "afvikling")
    assert course.weeks == (12, 18)
    assert course.window_end == date(2027, 5, 14)
    assert plan.milestone("tilpasset", "afsaet").weeks == (6, 6)
    assert plan.milestone("tilpasset", "program").weeks == (10, 10)
    # The base timeline is unchanged by the extension.
    workshop = plan.milestone("socialt-beredskab", "workshop")
    assert workshop.start == at("2027-03-08T09:00:00+01:00")


def test_the_toml_workflows_plan_the_worked_example() -> None:
    root = Path(__file__).resolve().parents[2] / "workflows"
    paths = [root / "socialt-beredskab.toml", root / "tilpasset.toml"]
    if not all(path.exists() for path in paths):
        pytest.skip("workflows/*.toml not present")
    definitions = pytest.importorskip("engine.domain.definitions")
    sb, tp = (definitions.load_file(path) for path in paths)
    plan = plan_programme(sb, S, CAL, extensions=[tp])
    workshop = plan.milestone("socialt-beredskab", "workshop")
    assert (workshop.window_start, workshop.window_end) == (date(2027, 3, 8), date(2027, 3, 24))
    assert workshop.start == at("2027-03-08T09:00:00+01:00")
    assert workshop.end == at("2027-03-08T15:00:00+01:00")
    assert plan.milestone("socialt-beredskab", "opfoelgning").window_start == date(2027, 3, 30)
    assert plan.milestone("tilpasset", "afvikling").weeks == (12, 18)
    assert plan.end == date(2027, 5, 14)
    assert plan_programme(sb, S, CAL).end == date(2027, 4, 2)


def test_plan_json_has_the_contract_shape(example: Plan) -> None:
    data = plan_to_json(example)
    assert {k: data[k] for k in ("workflow", "start", "end")} == {
        "workflow": "socialt-beredskab",
        "start": "2027-01-04",
        "end": "2027-04-02",
    }
    assert "id" not in data and "state" not in data
    workshop = next(m for m in data["milestones"] if m["key"] == "workshop")
    assert workshop == {
        "workflow": "socialt-beredskab",
        "key": "workshop",
        "title": "Workshop",
        "kind": "meeting",
        "weeks": [9, 11],
        "window_start": "2027-03-08",
        "window_end": "2027-03-24",
        "start": "2027-03-08T09:00:00+01:00",
        "end": "2027-03-08T15:00:00+01:00",
    }
    tasks = [m for m in data["milestones"] if m["kind"] == "task"]
    assert tasks and all("start" not in m and "end" not in m for m in tasks)


def test_milestone_json_can_show_times_in_a_zone(example: Plan) -> None:
    workshop = example.milestone("socialt-beredskab", "workshop")
    assert workshop.start is not None
    in_utc = replace(workshop, start=workshop.start.astimezone(UTC))
    assert milestone_to_json(in_utc)["start"] == "2027-03-08T08:00:00+00:00"
    assert milestone_to_json(in_utc, CPH)["start"] == "2027-03-08T09:00:00+01:00"


def test_milestones_come_in_timeline_order(example: Plan) -> None:
    assert [m.key for m in example.milestones] == [
        "afsaet",
        "opstart",
        "kortlaegning",
        "invitationer",
        "workshop",
        "opfoelgning",
    ]
    starts = [m.window_start for m in example.milestones]
    assert starts == sorted(starts)


def test_extension_milestones_interleave_by_window(
    sb: WorkflowDefinition, tp: WorkflowDefinition
) -> None:
    plan = plan_programme(sb, S, CAL, extensions=[tp])
    keys = [f"{m.workflow}.{m.key}" for m in plan.milestones]
    assert keys.index("tilpasset.afsaet") < keys.index("socialt-beredskab.workshop")
    assert keys.index("socialt-beredskab.opfoelgning") < keys.index("tilpasset.afvikling")


# --- windows ------------------------------------------------------------------------------


def test_a_mid_week_start_never_puts_a_window_before_it(sb: WorkflowDefinition) -> None:
    start = date(2027, 1, 6)  # a Wednesday
    plan = plan_programme(sb, start, CAL)
    first = plan.milestone("socialt-beredskab", "afsaet")
    assert first.window_start == start
    assert first.start == at("2027-01-06T10:00:00+01:00")
    assert plan.milestone("socialt-beredskab", "opstart").window_start == date(2027, 1, 11)
    assert plan.end == date(2027, 4, 2)
    assert all(m.window_start >= start for m in plan.milestones)


def test_a_weekend_start_leaves_week_0_empty(sb: WorkflowDefinition) -> None:
    with pytest.raises(PlanningError, match=r"socialt-beredskab\.afsaet: no working day") as info:
        plan_programme(sb, date(2027, 1, 9), CAL)
    assert info.value.workflow == "socialt-beredskab"
    assert info.value.milestone == "afsaet"
    assert "on or after the start 2027-01-09" in str(info.value)


def test_a_window_of_only_holidays_names_the_milestone(sb: WorkflowDefinition) -> None:
    # Start on Skærtorsdag: week 0 has only Skærtorsdag and Langfredag left.
    with pytest.raises(PlanningError) as info:
        plan_programme(sb, date(2027, 3, 25), CAL)
    assert info.value.milestone == "afsaet"
    assert "week 0 (2027-03-22 … 2027-03-26)" in str(info.value)


def test_a_window_of_only_optional_and_public_holidays_raises() -> None:
    single = workflow("jul", 1, (task("jul", (0, 0)),))
    christmas_eve = date(2026, 12, 24)  # Thursday; the Friday is Juledag
    with pytest.raises(PlanningError, match=r"^jul\.jul: no working day in week 0"):
        plan_programme(single, christmas_eve, WorkingCalendar.danish(["juleaftensdag"]))
    planned = plan_programme(single, christmas_eve, CAL).milestones[0]
    assert (planned.window_start, planned.window_end) == (christmas_eve, christmas_eve)


@pytest.mark.parametrize(
    ("start", "key", "window"),
    [
        # Kristi himmelfartsdag 2027-05-06 inside week 1 of a programme started 2027-04-26.
        (date(2027, 4, 26), "opstart", (date(2027, 5, 3), date(2027, 5, 7))),
        # Anden pinsedag 2027-05-17 on the Monday of week 1 (start 2027-05-10).
        (date(2027, 5, 10), "opstart", (date(2027, 5, 18), date(2027, 5, 21))),
        # Easter 2028 (13, 14, 17 April) in weeks 9–11 of a start on 2028-02-07.
        (date(2028, 2, 7), "workshop", (date(2028, 4, 10), date(2028, 4, 28))),
        # Easter 2030: week 12 of a start on 2030-01-28 is 22–26 April, the 22nd is off.
        (date(2030, 1, 28), "opfoelgning", (date(2030, 4, 23), date(2030, 4, 26))),
        # Easter 2038: Langfredag 23 April ends week 9 of a start on 2038-02-15 early.
        (date(2038, 2, 15), "workshop", (date(2038, 4, 19), date(2038, 5, 7))),
        # New Year: week 1 of a start on 2026-12-21 is 28 Dec–1 Jan; 1 Jan is off.
        (date(2026, 12, 21), "opstart", (date(2026, 12, 28), date(2026, 12, 31))),
    ],
)
def test_windows_skip_moving_holidays(
    sb: WorkflowDefinition, start: date, key: str, window: tuple[date, date]
) -> None:
    planned = plan_programme(sb, start, CAL).milestone("socialt-beredskab", key)
    assert (planned.window_start, planned.window_end) == window
    assert planned.start is not None
    assert CAL.is_working_day(planned.start.date())


def test_optional_days_shrink_windows_only_when_configured(sb: WorkflowDefinition) -> None:
    start = date(2026, 12, 14)  # week 2 = 28 Dec–1 Jan; week 1 = 21–25 Dec
    plain = plan_programme(sb, start, CAL).milestone("socialt-beredskab", "opstart")
    assert (plain.window_start, plain.window_end) == (date(2026, 12, 21), date(2026, 12, 24))
    strict = WorkingCalendar.danish(["juleaftensdag", "nytaarsaftensdag"])
    planned = plan_programme(sb, start, strict).milestone("socialt-beredskab", "kortlaegning")
    assert (planned.window_start, planned.window_end) == (date(2026, 12, 21), date(2027, 1, 8))
    opstart = plan_programme(sb, start, strict).milestone("socialt-beredskab", "opstart")
    assert opstart.window_end == date(2026, 12, 23)


# --- meetings -----------------------------------------------------------------------------


def test_meetings_keep_local_time_across_the_october_dst_change(sb: WorkflowDefinition) -> None:
    # Last Sunday of October 2027 is the 31st. Week 12 of a start on 2027-08-09 is 1–5 Nov.
    plan = plan_programme(sb, date(2027, 8, 9), CAL)
    workshop = plan.milestone("socialt-beredskab", "workshop")
    follow_up = plan.milestone("socialt-beredskab", "opfoelgning")
    assert workshop.start == at("2027-10-11T09:00:00+02:00")
    assert follow_up.start == at("2027-11-01T10:00:00+01:00")
    assert follow_up.end == at("2027-11-01T11:30:00+01:00")


def test_meetings_right_around_the_march_dst_change() -> None:
    short = workflow(
        "dst",
        1,
        (
            meeting("fredag", (0, 0), time(9, 0), 6, placement=Placement.LATEST),
            meeting("mandag", (1, 1), time(9, 0), 6),
        ),
    )
    plan = plan_programme(short, date(2026, 3, 23), CAL)  # DST starts Sunday 29 March 2026
    friday, monday = plan.milestones
    assert friday.start == at("2026-03-27T09:00:00+01:00")
    assert monday.start == at("2026-03-30T09:00:00+02:00")
    for m in plan.milestones:
        assert m.start is not None and m.end is not None
        assert m.start.astimezone(CPH).time() == time(9, 0)
        assert m.end - m.start == timedelta(hours=6)
        assert m.end.astimezone(UTC) - m.start.astimezone(UTC) == timedelta(hours=6)


def test_latest_placement_takes_the_last_working_day() -> None:
    late = workflow("sen", 3, (meeting("sen", (0, 2), time(13, 0), 1, placement=Placement.LATEST),))
    planned = plan_programme(late, date(2027, 3, 8), CAL).milestones[0]
    assert planned.start == at("2027-03-24T13:00:00+01:00")  # 25/26 are Easter holidays


def test_a_busy_consultant_gets_the_next_free_day(sb: WorkflowDefinition) -> None:
    busy = [BusySlot(at("2027-03-08T14:00:00+01:00"), at("2027-03-08T16:00:00+01:00"))]
    workshop = plan_programme(sb, S, CAL, busy=busy).milestone("socialt-beredskab", "workshop")
    assert workshop.start == at("2027-03-09T09:00:00+01:00")


def test_busy_slots_are_half_open(sb: WorkflowDefinition) -> None:
    busy = [
        BusySlot(at("2027-03-08T07:00:00+01:00"), at("2027-03-08T09:00:00+01:00")),
        BusySlot(at("2027-03-08T15:00:00+01:00"), at("2027-03-08T17:00:00+01:00")),
    ]
    workshop = plan_programme(sb, S, CAL, busy=busy).milestone("socialt-beredskab", "workshop")
    assert workshop.start == at("2027-03-08T09:00:00+01:00")


def test_busy_slots_in_utc_are_compared_as_instants(sb: WorkflowDefinition) -> None:
    busy = [BusySlot(at("2027-03-08T13:59:00+00:00"), at("2027-03-08T14:30:00+00:00"))]
    workshop = plan_programme(sb, S, CAL, busy=busy).milestone("socialt-beredskab", "workshop")
    assert workshop.start == at("2027-03-09T09:00:00+01:00")  # 14:59 local clashes


def test_a_plan_is_clear_of_busy_slots_only_when_no_meeting_overlaps_them(
    sb: WorkflowDefinition,
) -> None:
    free = plan_programme(sb, S, CAL)
    workshop = free.milestone("socialt-beredskab", "workshop")
    assert workshop.start is not None and workshop.end is not None
    touching = BusySlot(workshop.end, workshop.end + timedelta(hours=1))  # half-open
    clashing = BusySlot(workshop.end - timedelta(minutes=1), workshop.end)
    assert free.clear_of([]) and free.clear_of([touching])
    assert not free.clear_of([touching, clashing])


@settings(max_examples=150, deadline=None)
@given(
    days=st.lists(st.integers(0, 7 * 14), min_size=0, max_size=12),
    hours=st.lists(st.integers(7 * 4, 17 * 4), min_size=12, max_size=12),
    lengths=st.lists(st.integers(1, 16), min_size=12, max_size=12),
    extended=st.booleans(),
)
def test_a_plan_clear_of_the_busy_slots_is_the_plan_made_around_them(
    python_workflows: Workflows,
    days: list[int],
    hours: list[int],
    lengths: list[int],
    extended: bool,
) -> None:
    """What bulk creation relies on to reuse one plan per (workflows, start): planning with
    busy slots that no meeting of the plan made without them overlaps gives that plan."""
    sb, tp = python_workflows["socialt-beredskab"], python_workflows["tilpasset"]
    extensions = (tp,) if extended else ()
    start = datetime.combine(S, time(0), tzinfo=CPH)
    busy = [
        BusySlot(begin, begin + timedelta(minutes=15 * length))
        for day, quarter, length in zip(days, hours, lengths, strict=False)
        for begin in [start + timedelta(days=day, minutes=15 * quarter)]
    ]
    free = plan_programme(sb, S, CAL, extensions=extensions)
    try:
        planned = plan_programme(sb, S, CAL, extensions=extensions, busy=busy)
    except PlanningError:
        assert not free.clear_of(busy)
        return
    if free.clear_of(busy):
        assert planned == free


def test_no_free_day_names_the_milestone_and_window(sb: WorkflowDefinition) -> None:
    busy = [BusySlot(at("2027-03-08T00:00:00+01:00"), at("2027-03-25T00:00:00+01:00"))]
    with pytest.raises(PlanningError) as info:
        plan_programme(sb, S, CAL, busy=busy)
    assert str(info.value) == (
        "socialt-beredskab.workshop: no free working day in weeks 9–11 "
        "(2027-03-08 … 2027-03-24) for the consultant"
    )
    assert info.value.milestone == "workshop"


def test_two_plans_for_one_consultant_do_not_overlap(sb: WorkflowDefinition) -> None:
    first = plan_programme(sb, S, CAL)
    second = plan_programme(sb, S, CAL, busy=first.busy_slots())
    one = first.milestone("socialt-beredskab", "workshop")
    two = second.milestone("socialt-beredskab", "workshop")
    assert one.start is not None and two.start is not None
    assert one.start.date() != two.start.date()
    assert two.start == at("2027-03-09T09:00:00+01:00")
    _assert_no_overlaps([*first.meetings, *second.meetings])


def test_meetings_of_one_plan_never_overlap(sb: WorkflowDefinition, tp: WorkflowDefinition) -> None:
    plan = plan_programme(sb, S, CAL, extensions=[tp])
    _assert_no_overlaps(plan.meetings)
    # Week 12: opfoelgning takes 30 March 10:00, so the course (09:00–15:00) moves a day.
    course = plan.milestone("tilpasset", "afvikling")
    assert course.start == at("2027-03-31T09:00:00+02:00")


def test_a_naive_busy_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BusySlot(datetime(2027, 3, 8, 9), datetime(2027, 3, 8, 10))  # noqa: DTZ001
    with pytest.raises(ValueError, match="before it starts"):
        BusySlot(at("2027-03-08T10:00+01:00"), at("2027-03-08T09:00+01:00"))


# --- dependencies -------------------------------------------------------------------------


def test_a_meeting_starts_after_the_meeting_it_depends_on() -> None:
    flow = workflow(
        "raekkefoelge",
        1,
        (
            meeting("b", (0, 0), time(9, 0), 1, after=("a",)),
            meeting("a", (0, 0), time(10, 0), 2),
        ),
    )
    plan = plan_programme(flow, S, CAL)
    a, b = plan.milestone("raekkefoelge", "a"), plan.milestone("raekkefoelge", "b")
    assert a.start == at("2027-01-04T10:00:00+01:00")
    assert b.start == at("2027-01-05T09:00:00+01:00")  # 09:00 on the 4th is before a ends


def test_a_meeting_waits_for_the_window_of_a_task_it_depends_on() -> None:
    flow = workflow(
        "opgave",
        3,
        (meeting("moede", (1, 3), time(9, 0), 1, after=("opgave",)), task("opgave", (2, 3))),
    )
    plan = plan_programme(flow, S, CAL)
    assert plan.milestone("opgave", "moede").start == at("2027-01-18T09:00:00+01:00")


def test_a_dependency_that_cannot_be_met_is_explained() -> None:
    flow = workflow(
        "umulig",
        1,
        (meeting("a", (1, 1), time(9, 0), 1), meeting("b", (0, 0), time(9, 0), 1, after=("a",))),
    )
    with pytest.raises(PlanningError, match=r"umulig\.b: .*comes after a"):
        plan_programme(flow, S, CAL)


def test_cycles_and_unknown_dependencies_are_refused() -> None:
    cyclic = workflow(
        "ring",
        1,
        (task("a", (0, 0), after=("b",)), task("b", (0, 0), after=("a",))),
    )
    with pytest.raises(PlanningError, match="cycle"):
        plan_programme(cyclic, S, CAL)
    dangling = workflow("loes", 1, (task("a", (0, 0), after=("x",)),))
    with pytest.raises(PlanningError, match=r"loes\.a: comes after unknown milestone 'x'"):
        plan_programme(dangling, S, CAL)


# --- extensions ---------------------------------------------------------------------------


def test_tilpasset_on_its_own_uses_its_own_weeks(tp: WorkflowDefinition) -> None:
    plan = plan_programme(tp, S, CAL)
    assert plan.end == date(2027, 4, 2)
    assert plan.milestone("tilpasset", "afvikling").weeks == (6, 12)
    assert plan.extensions == ()


def test_an_extension_must_extend_this_workflow(
    sb: WorkflowDefinition, tp: WorkflowDefinition
) -> None:
    with pytest.raises(PlanningError, match=r"^socialt-beredskab: cannot extend 'tilpasset'"):
        plan_programme(tp, S, CAL, extensions=[sb])
    other = workflow("andet", 2, (), extends=ExtensionDef("noget-andet", 1))
    with pytest.raises(PlanningError, match="andet: cannot extend 'socialt-beredskab'"):
        plan_programme(sb, S, CAL, extensions=[other])
    with pytest.raises(PlanningError, match="more than once"):
        plan_programme(sb, S, CAL, extensions=[tp, tp])


def test_the_programme_end_covers_the_longest_part(sb: WorkflowDefinition) -> None:
    short = workflow("kort", 2, (task("x", (0, 0)),), extends=ExtensionDef(sb.key, 1))
    assert plan_programme(sb, S, CAL, extensions=[short]).end == date(2027, 4, 2)


# --- fixed milestones ---------------------------------------------------------------------


def test_fixed_milestones_are_kept_and_block_others(sb: WorkflowDefinition) -> None:
    moved = PlannedMilestone(
        workflow="socialt-beredskab",
        key="workshop",
        title="Workshop (flyttet)",
        kind=MilestoneKind.MEETING,
        weeks=(9, 11),
        window_start=date(2027, 3, 8),
        window_end=date(2027, 3, 24),
        start=at("2027-03-30T09:30:00+02:00"),
        end=at("2027-03-30T15:30:00+02:00"),
    )
    plan = plan_programme(sb, S, CAL, fixed={moved.ident: moved})
    assert plan.milestone("socialt-beredskab", "workshop") is moved
    follow_up = plan.milestone("socialt-beredskab", "opfoelgning")
    assert follow_up.start == at("2027-03-31T10:00:00+02:00")


def test_a_fixed_milestone_outside_the_plan_is_refused(
    sb: WorkflowDefinition, example: Plan
) -> None:
    stray = replace(example.milestones[0], workflow="tilpasset")
    with pytest.raises(PlanningError, match="not part of this plan"):
        plan_programme(sb, S, CAL, fixed={stray.ident: stray})


# --- reminders ----------------------------------------------------------------------------


def _reminder(text: str) -> ReminderDef:
    return ReminderDef(Offset.parse(text), (Role.CONSULTANT,))


@pytest.mark.parametrize(
    ("key", "before", "due"),
    [
        ("workshop", "1w", "2027-03-01T09:00:00+01:00"),
        ("workshop", "2d", "2027-03-04T09:00:00+01:00"),
        ("workshop", "2h", "2027-03-08T07:00:00+01:00"),
        ("workshop", "1w2d1h30m", "2027-02-25T07:30:00+01:00"),
        ("opfoelgning", "1w", "2027-03-23T10:00:00+01:00"),  # local time kept across DST
        ("opfoelgning", "1d", "2027-03-24T10:00:00+01:00"),  # skips Easter
        ("kortlaegning", "2d", "2027-01-27T16:00:00+01:00"),  # task: window end at 16:00
        ("invitationer", "1w", "2027-01-29T16:00:00+01:00"),
    ],
)
def test_reminder_times(example: Plan, key: str, before: str, due: str) -> None:
    planned = example.milestone("socialt-beredskab", key)
    assert reminder_times(planned, _reminder(before), CAL, CPH).isoformat() == due


def test_minute_reminders_count_real_elapsed_time_across_dst(example: Plan) -> None:
    planned = replace(
        example.milestone("socialt-beredskab", "afsaet"), start=at("2027-03-28T04:00:00+02:00")
    )
    due = reminder_times(planned, _reminder("3h"), CAL, CPH)
    assert due.isoformat() == "2027-03-28T00:00:00+01:00"


def test_a_meeting_without_a_start_has_no_reminder(example: Plan) -> None:
    planned = replace(example.milestone("socialt-beredskab", "afsaet"), start=None)
    with pytest.raises(PlanningError, match="afsaet"):
        reminder_times(planned, _reminder("1h"), CAL)


# --- properties ---------------------------------------------------------------------------


def _assert_no_overlaps(meetings: tuple[PlannedMilestone, ...] | list[PlannedMilestone]) -> None:
    for one, two in combinations(meetings, 2):
        assert one.start and one.end and two.start and two.end
        assert one.end <= two.start or two.end <= one.start, (one, two)


def _check_plan(
    plan: Plan, parts: list[tuple[WorkflowDefinition, int]], start: date, calendar: WorkingCalendar
) -> None:
    assert plan.end.weekday() == 4
    assert plan.end == week_friday(start, max(offset + wf.weeks for wf, offset in parts))
    definitions = {(wf.key, m.key): m for wf, _ in parts for m in wf.milestones}
    assert {m.ident for m in plan.milestones} == set(definitions)
    for planned in plan.milestones:
        definition = definitions[planned.ident]
        first, last = planned.weeks
        assert start <= planned.window_start <= planned.window_end
        assert week_monday(start, first) <= planned.window_start
        assert planned.window_end <= week_friday(start, last)
        assert calendar.is_working_day(planned.window_start)
        assert calendar.is_working_day(planned.window_end)
        if definition.is_meeting:
            assert planned.start is not None and planned.end is not None
            local = planned.start.astimezone(CPH)
            assert local.utcoffset() == planned.start.utcoffset()
            assert local.time() == definition.local_time
            assert planned.end - planned.start == definition.duration
            assert calendar.is_working_day(local.date())
            assert planned.window_start <= local.date() <= planned.window_end
        else:
            assert planned.start is None and planned.end is None
    _assert_no_overlaps(plan.meetings)


def _empty_window(
    exc: PlanningError,
    parts: list[tuple[WorkflowDefinition, int]],
    start: date,
    calendar: WorkingCalendar,
) -> bool:
    for wf, offset in parts:
        if wf.key == exc.workflow:
            m = wf.milestone(exc.milestone or "")
            first = max(week_monday(start, m.first_week + offset), start)
            return not calendar.working_days(first, week_friday(start, m.last_week + offset))
    return False


starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
optionals = st.sets(st.sampled_from(["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"]))


@settings(max_examples=300, deadline=None)
@given(start=starts, second=starts, optional=optionals, extended=st.booleans())
def test_property_plans_respect_the_week_arithmetic(
    python_workflows: Workflows, start: date, second: date, optional: set[str], extended: bool
) -> None:
    sb, tp = python_workflows["socialt-beredskab"], python_workflows["tilpasset"]
    calendar = WorkingCalendar.danish(optional)
    extensions = [tp] if extended else []
    parts = [(sb, 0)] + [(tp, 6)] * extended
    try:
        plan = plan_programme(sb, start, calendar, extensions=extensions)
    except PlanningError as exc:
        assert exc.milestone is not None
        assert _empty_window(exc, parts, start, calendar)
        return
    _check_plan(plan, parts, start, calendar)
    # A second programme for the same consultant, possibly overlapping in time.
    try:
        other = plan_programme(sb, second, calendar, busy=plan.busy_slots())
    except PlanningError as exc:
        # Week 0 may be empty, or fully taken when both start on the same last working day.
        assert exc.milestone is not None
        assert _empty_window(exc, [(sb, 0)], second, calendar) or "no free working day" in str(exc)
        return
    _check_plan(other, [(sb, 0)], second, calendar)
    _assert_no_overlaps([*plan.meetings, *other.meetings])
