"""Workflow definitions: the shipped TOML files, every kind of problem, and robustness."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.definitions import (
    WorkflowRegistry,
    check_paths,
    load_file,
    load_registry,
    parse_definition,
)
from engine.domain.errors import DefinitionError, DefinitionProblem, NotFoundError
from engine.domain.model import MilestoneKind, Placement, Role

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PROBLEM_LINE = re.compile(r"^[^:]+: [^:]+: .+")
MILESTONE_KEYS = (
    "after, attendees, description, duration, key, kind, location, owner, placement, "
    "reminders, time, title, weeks"
)


@pytest.fixture(scope="module")
def registry() -> WorkflowRegistry:
    return load_registry(WORKFLOWS)


# ---------------------------------------------------------------------------------------------
# Helpers to write small definitions
# ---------------------------------------------------------------------------------------------

WORKFLOW = {"key": '"demo"', "version": '"1.0"', "title": '"Demo"', "weeks": "4"}
MEETING = {
    "key": '"m"',
    "title": '"Møde"',
    "kind": '"meeting"',
    "weeks": "1",
    "attendees": '["consultant", "tovholder"]',
    "time": '"10:00"',
    "duration": '"1h"',
}
TASK = {"key": '"t"', "title": '"Opgave"', "kind": '"task"', "weeks": "2", "owner": '"tovholder"'}


def table(base: dict[str, str], **override: str | None) -> str:
    """TOML ``key = value`` lines; an override of ``None`` leaves the key out."""
    merged = {**base, **override}
    return "".join(f"{key} = {value}\n" for key, value in merged.items() if value is not None)


def doc(*milestones: str, workflow: str | None = None, tail: str = "") -> str:
    """A definition: the [workflow] table, then one [[milestones]] per argument."""
    text = "[workflow]\n" + (workflow if workflow is not None else table(WORKFLOW)) + tail
    return text + "".join(f"\n[[milestones]]\n{m}" for m in milestones)


def problems_of(text: str, source: str = "demo.toml") -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, source)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------------------------------------
# The shipped workflows encode the facts of BL's pages (see the comments in workflows/*.toml)
# ---------------------------------------------------------------------------------------------


def test_the_shipped_directory_loads(registry: WorkflowRegistry) -> None:
    assert registry.keys() == ["socialt-beredskab", "tilpasset"]
    assert [d.key for d in registry] == ["socialt-beredskab", "tilpasset"]
    assert "tilpasset" in registry and "basis" not in registry
    assert len(registry) == 2
    assert check_paths([WORKFLOWS]) == []


def test_socialt_beredskab_timeline(registry: WorkflowRegistry) -> None:
    defn = registry.get("socialt-beredskab")
    assert defn.weeks == 12
    assert defn.request_answer_days == 14
    assert defn.requires == () and defn.extends is None
    timeline = [(m.key, m.weeks, m.kind) for m in defn.milestones]
    assert timeline == [
        ("afsaet", (0, 0), MilestoneKind.MEETING),
        ("opstart", (1, 1), MilestoneKind.MEETING),
        ("kortlaegning", (1, 3), MilestoneKind.TASK),
        ("invitationer", (4, 4), MilestoneKind.TASK),
        ("workshop", (9, 11), MilestoneKind.MEETING),
        ("opfoelgning", (12, 12), MilestoneKind.MEETING),
    ]
    durations = {m.key: m.duration for m in defn.milestones if m.is_meeting}
    assert durations == {
        "afsaet": timedelta(hours=1),
        "opstart": timedelta(hours=2),
        "workshop": timedelta(hours=6),
        "opfoelgning": timedelta(hours=1, minutes=30),
    }
    assert defn.milestone("kortlaegning").owner is Role.TOVHOLDER
    assert defn.milestone("invitationer").owner is Role.TOVHOLDER


def test_the_workshop(registry: WorkflowRegistry) -> None:
    workshop = registry.get("socialt-beredskab").milestone("workshop")
    assert workshop.local_time == time(9, 0)
    assert workshop.duration == timedelta(hours=6)
    assert "6 timer inkl. frokost" in workshop.description
    assert "lokalt" in workshop.location.lower()
    assert workshop.attendees == (Role.CONSULTANT, Role.TOVHOLDER, Role.PARTICIPANTS)
    assert workshop.placement is Placement.EARLIEST
    assert "invitationer" in workshop.after


def test_socialt_beredskab_budget_is_two_to_three_days(registry: WorkflowRegistry) -> None:
    budget = registry.get("socialt-beredskab").budget
    assert budget is not None and budget.role is Role.TOVHOLDER
    assert budget.minimum.to_hours(7.4) == pytest.approx(14.8)
    assert budget.maximum.to_hours(7.4) == pytest.approx(22.2)


def test_tilpasset(registry: WorkflowRegistry) -> None:
    defn = registry.get("tilpasset")
    assert defn.weeks == 12
    assert defn.requires == ("socialt-beredskab",)
    assert defn.extends is not None
    assert (defn.extends.workflow, defn.extends.at_week) == ("socialt-beredskab", 6)
    assert defn.budget is not None and defn.budget.role is Role.TOVHOLDER
    assert defn.budget.minimum.to_hours(7.4) == 5
    assert defn.budget.maximum.to_hours(7.4) == 10
    timeline = [(m.key, m.weeks, m.kind) for m in defn.milestones]
    assert timeline == [
        ("afsaet", (0, 0), MilestoneKind.MEETING),
        ("aftaler", (1, 1), MilestoneKind.TASK),
        ("undervisning", (2, 2), MilestoneKind.TASK),
        ("materialer", (3, 3), MilestoneKind.TASK),
        ("program", (4, 4), MilestoneKind.TASK),
        ("afvikling", (6, 12), MilestoneKind.MEETING),
    ]


def test_every_shipped_milestone_is_complete(registry: WorkflowRegistry) -> None:
    for defn in registry:
        for m in defn.milestones:
            assert m.title and m.description and m.reminders, (defn.key, m.key)
            if m.is_meeting:
                assert m.local_time and m.duration and m.attendees and m.location
            else:
                assert m.owner is not None and m.local_time is None and not m.attendees


def test_registry_lookups(registry: WorkflowRegistry) -> None:
    assert [d.key for d in registry.extensions_of("socialt-beredskab")] == ["tilpasset"]
    assert registry.extensions_of("tilpasset") == []
    with pytest.raises(NotFoundError, match="workflow 'basis' not found"):
        registry.get("basis")


def test_a_registry_applies_the_cross_file_rules(registry: WorkflowRegistry) -> None:
    with pytest.raises(DefinitionError, match="unknown workflow 'socialt-beredskab'"):
        WorkflowRegistry([registry.get("tilpasset")])


def test_load_file() -> None:
    defn = load_file(WORKFLOWS / "socialt-beredskab.toml")
    assert defn.key == "socialt-beredskab"
    assert defn.source_path == str(WORKFLOWS / "socialt-beredskab.toml")


# ---------------------------------------------------------------------------------------------
# Versions and snapshots
# ---------------------------------------------------------------------------------------------


def test_version_is_declared_version_plus_content_hash(registry: WorkflowRegistry) -> None:
    defn = registry.get("socialt-beredskab")
    text = (WORKFLOWS / "socialt-beredskab.toml").read_text(encoding="utf-8")
    assert defn.source_text == text
    assert defn.content_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert defn.version == f"1.0+{defn.content_hash[:12]}"


def test_version_changes_with_the_text(registry: WorkflowRegistry) -> None:
    defn = registry.get("socialt-beredskab")
    edited = parse_definition(defn.source_text + "\n# a comment\n", "edited.toml")
    assert edited.declared_version == defn.declared_version
    assert edited.version != defn.version
    assert (
        parse_definition(doc(table(MEETING)), "a").version
        == parse_definition(doc(table(MEETING)), "b").version
    )


def test_a_snapshot_parses_back_to_the_same_definition(registry: WorkflowRegistry) -> None:
    for defn in registry:
        again = parse_definition(defn.source_text, defn.source_path)
        assert again == defn
        assert again.version == defn.version
        snapshot = parse_definition(defn.source_text, f"snapshot:{defn.key}")
        assert snapshot.source_path == f"snapshot:{defn.key}"
        assert dataclasses.replace(snapshot, source_path=defn.source_path) == defn


# ---------------------------------------------------------------------------------------------
# Every kind of problem, as `file: path: message`
# ---------------------------------------------------------------------------------------------

REMINDER = '[[milestones.reminders]]\nbefore = "{before}"\nto = {to}\n'

PROBLEM_CASES: list[tuple[str, str, str]] = [
    (
        "toml-syntax",
        "[workflow]\nkey = \nversion = '1'\n",
        "demo.toml: line 2, column 7: TOML syntax error: Invalid value",
    ),
    (
        "toml-syntax-at-end",
        '[workflow]\ntitle = "x',
        "demo.toml: line 2, column 11: TOML syntax error: Unterminated string at end of file",
    ),
    (
        "unknown-key-milestone",
        doc(table(MEETING, titel='"x"')),
        f"demo.toml: milestones[0]: unknown key 'titel' (allowed: {MILESTONE_KEYS})",
    ),
    (
        "unknown-key-workflow",
        doc(table(MEETING), workflow=table(WORKFLOW, weks="4")),
        "demo.toml: workflow: unknown key 'weks' (allowed: budget, checkins, description, "
        "extends, key, participants, request_answer_days, requires, title, version, weeks)",
    ),
    (
        "checkins-typo",
        doc(table(MEETING), workflow=table(WORKFLOW, checkin="[3, 6]")),
        "demo.toml: workflow: unknown key 'checkin' (allowed: budget, checkins, description, "
        "extends, key, participants, request_answer_days, requires, title, version, weeks)",
    ),
    (
        "checkins-zero",
        doc(table(MEETING), workflow=table(WORKFLOW, checkins="[3, 0]")),
        "demo.toml: workflow.checkins[1]: must be between 1 and 120, got 0",
    ),
    (
        "checkins-not-a-number",
        doc(table(MEETING), workflow=table(WORKFLOW, checkins='["3m"]')),
        "demo.toml: workflow.checkins[0]: expected an integer, got string '3m'",
    ),
    (
        "checkins-order",
        doc(table(MEETING), workflow=table(WORKFLOW, checkins="[6, 3]")),
        "demo.toml: workflow.checkins[1]: check-ins must be in increasing order without "
        "repeats, got 3 after 6",
    ),
    (
        "unknown-key-top-level",
        "note = 1\n" + doc(table(MEETING)),
        "demo.toml: <root>: unknown key 'note' (allowed: milestones, workflow)",
    ),
    (
        "unknown-key-budget",
        doc(
            table(MEETING),
            tail='[workflow.budget]\nrole = "tovholder"\nmin = "1d"\nmax = "2d"\nmaks = "3d"\n',
        ),
        "demo.toml: workflow.budget: unknown key 'maks' (allowed: max, min, role)",
    ),
    (
        "unknown-key-reminder",
        doc(
            table(MEETING)
            + '[[milestones.reminders]]\nbefore = "2d"\nto = ["consultant"]\ntil = 1\n'
        ),
        "demo.toml: milestones[0].reminders[0]: unknown key 'til' (allowed: before, to)",
    ),
    (
        "missing-key",
        doc(table(MEETING, title=None)),
        "demo.toml: milestones[0].title: required key is missing",
    ),
    (
        "missing-workflow-table",
        "[[milestones]]\n" + table(MEETING),
        "demo.toml: workflow: required key is missing",
    ),
    (
        "no-milestones",
        doc(),
        "demo.toml: milestones: required key is missing",
    ),
    (
        "milestones-not-an-array-of-tables",
        doc(workflow=table(WORKFLOW)) + "\n[milestones]\nkey = 'a'\n",
        "demo.toml: milestones: expected an array, got table; write each milestone as a "
        "[[milestones]] table",
    ),
    (
        "wrong-type-window",
        doc(table(MEETING, weeks='"nine"')),
        "demo.toml: milestones[0].weeks: expected a week number or [first, last], "
        "got string 'nine'",
    ),
    (
        "wrong-type-workflow-weeks",
        doc(table(MEETING), workflow=table(WORKFLOW, weeks="12.5")),
        "demo.toml: workflow.weeks: expected an integer, got float 12.5",
    ),
    (
        "wrong-type-list",
        doc(table(MEETING, attendees='"consultant"')),
        "demo.toml: milestones[0].attendees: expected an array, got string 'consultant'",
    ),
    (
        "wrong-type-boolean-for-integer",
        doc(table(MEETING), workflow=table(WORKFLOW, request_answer_days="true")),
        "demo.toml: workflow.request_answer_days: expected an integer, got boolean True",
    ),
    (
        "bad-duration",
        doc(table(MEETING, duration='"2d"')),
        "demo.toml: milestones[0].duration: invalid duration '2d': use hours and minutes, "
        "e.g. '6h' or '1h30m'",
    ),
    (
        "bad-offset",
        doc(table(MEETING) + REMINDER.format(before="2 days", to='["consultant"]')),
        "demo.toml: milestones[0].reminders[0].before: invalid offset '2 days': use weeks, "
        "working days, hours and minutes, e.g. '1w', '2d', '2h' or '1h30m'",
    ),
    (
        "bad-amount",
        doc(
            table(MEETING),
            tail='[workflow.budget]\nrole = "tovholder"\nmin = "2 dage"\nmax = "3d"\n',
        ),
        "demo.toml: workflow.budget.min: invalid amount '2 dage': use working days or hours, "
        "e.g. '2d' or '5h' (combine as '1d4h'; decimals allowed, e.g. '2.5d')",
    ),
    (
        "bad-time",
        doc(table(MEETING, time='"25:00"')),
        "demo.toml: milestones[0].time: invalid time '25:00': use 'HH:MM' from 00:00 to 23:59, "
        "e.g. '09:00'",
    ),
    (
        "window-after-the-programme",
        doc(table(MEETING, weeks="[3, 5]")),
        "demo.toml: milestones[0].weeks: week 5 is after the programme's last week (4)",
    ),
    (
        "window-negative",
        doc(table(MEETING, weeks="-1")),
        "demo.toml: milestones[0].weeks: weeks cannot be negative, got [-1, -1]",
    ),
    (
        "window-reversed",
        doc(table(MEETING, weeks="[3, 1]")),
        "demo.toml: milestones[0].weeks: the first week (3) is after the last (1)",
    ),
    (
        "window-not-a-pair",
        doc(table(MEETING, weeks="[1, 2, 3]")),
        "demo.toml: milestones[0].weeks: expected a week number or [first, last] (two integers), "
        "got array",
    ),
    (
        "meeting-without-time",
        doc(table(MEETING, time=None)),
        "demo.toml: milestones[0].time: a meeting needs a start time 'HH:MM' (Europe/Copenhagen)",
    ),
    (
        "meeting-without-duration",
        doc(table(MEETING, duration=None)),
        "demo.toml: milestones[0].duration: a meeting needs a duration, e.g. '2h'",
    ),
    (
        "meeting-with-owner",
        doc(table(MEETING, owner='"tovholder"')),
        "demo.toml: milestones[0].owner: only tasks have 'owner'; this milestone is a meeting",
    ),
    (
        "task-with-time",
        doc(table(TASK, time='"09:00"')),
        "demo.toml: milestones[0].time: only meetings have 'time'; this milestone is a task",
    ),
    (
        "task-with-attendees",
        doc(table(TASK, attendees='["consultant"]')),
        "demo.toml: milestones[0].attendees: only meetings have 'attendees'; "
        "this milestone is a task",
    ),
    (
        "task-without-owner",
        doc(table(TASK, owner=None)),
        "demo.toml: milestones[0].owner: a task needs an owner, e.g. 'tovholder'",
    ),
    (
        "meeting-past-midnight",
        doc(table(MEETING, time='"20:00"', duration='"6h"')),
        "demo.toml: milestones[0].duration: the meeting would end after midnight",
    ),
    (
        "unknown-role",
        doc(table(MEETING, attendees='["konsulent"]')),
        "demo.toml: milestones[0].attendees[0]: unknown role 'konsulent' "
        "(allowed: consultant, lead, participants, tovholder)",
    ),
    (
        "participants-cannot-be-reminded",
        doc(table(MEETING) + REMINDER.format(before="2d", to='["participants"]')),
        "demo.toml: milestones[0].reminders[0].to[0]: fbh has no address for 'participants'; "
        "use a person (consultant, tovholder, lead)",
    ),
    (
        "unknown-kind",
        doc(table(MEETING, kind='"møde"')),
        "demo.toml: milestones[0].kind: unknown kind 'møde' (allowed: meeting, task)",
    ),
    (
        "unknown-after",
        doc(table(MEETING), table(TASK, after='["opstart"]')),
        "demo.toml: milestones[1].after[0]: unknown milestone 'opstart' (milestones: m)",
    ),
    (
        "after-itself",
        doc(table(TASK, after='["t"]')),
        "demo.toml: milestones[0].after[0]: a milestone cannot come after itself",
    ),
    (
        "dependency-cycle",
        doc(
            table(TASK, key='"a"', after='["c"]'),
            table(TASK, key='"b"', after='["a"]'),
            table(TASK, key='"c"', after='["b"]'),
        ),
        "demo.toml: milestones[0].after: dependency cycle: a -> c -> b -> a",
    ),
    (
        "impossible-order",
        doc(table(MEETING, weeks="3"), table(TASK, weeks="[1, 2]", after='["m"]')),
        "demo.toml: milestones[1].after[0]: impossible order: 'm' starts in week 3, after this "
        "milestone's window ends (week 2)",
    ),
    (
        "duplicate-milestone-key",
        doc(table(MEETING), table(TASK, key='"m"')),
        "demo.toml: milestones[1].key: duplicate milestone key 'm' (also milestones[0])",
    ),
    (
        "budget-min-above-max",
        doc(
            table(MEETING), tail='[workflow.budget]\nrole = "tovholder"\nmin = "2d"\nmax = "10h"\n'
        ),
        "demo.toml: workflow.budget.min: min 2d is more than max 10h "
        "(compared at 7.4 hours per working day)",
    ),
    (
        "bad-milestone-key",
        doc(table(MEETING, key='"Work Shop"')),
        "demo.toml: milestones[0].key: invalid milestone key 'Work Shop': use a-z, 0-9 and '_', "
        "e.g. 'workshop'",
    ),
    (
        "bad-workflow-key",
        doc(table(MEETING), workflow=table(WORKFLOW, key='"socialt_beredskab"')),
        "demo.toml: workflow.key: invalid workflow key 'socialt_beredskab': use a-z, 0-9 and '-', "
        "e.g. 'socialt-beredskab'",
    ),
    (
        "bad-version",
        doc(table(MEETING), workflow=table(WORKFLOW, version='"1.0 beta"')),
        "demo.toml: workflow.version: invalid version '1.0 beta': use digits and letters "
        "separated by '.', e.g. '1.0'",
    ),
    (
        "requires-itself",
        doc(table(MEETING), workflow=table(WORKFLOW, requires='["demo"]')),
        "demo.toml: workflow.requires[0]: a workflow cannot require itself",
    ),
    (
        "extends-at-negative-week",
        doc(table(MEETING), tail='[workflow.extends]\nworkflow = "base"\nat_week = -2\n'),
        "demo.toml: workflow.extends.at_week: must be between 0 and 260, got -2",
    ),
    (
        "title-on-two-lines",
        doc(table(MEETING, title='"Møde\\nto"')),
        "demo.toml: milestones[0].title: must be a single line",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in PROBLEM_CASES], ids=[c[0] for c in PROBLEM_CASES]
)
def test_each_kind_of_problem(text: str, expected: str) -> None:
    found = problems_of(text)
    assert expected in found
    assert all(PROBLEM_LINE.match(line) for line in found)


def test_the_problem_cases_start_from_a_valid_definition() -> None:
    assert parse_definition(doc(table(MEETING), table(TASK)), "ok.toml").key == "demo"


def test_every_problem_is_reported_at_once() -> None:
    text = doc(
        table(MEETING, time='"25:00"', titel='"x"'),
        table(TASK, weeks="[3, 9]", after='["nope"]'),
        table(TASK, key='"m"'),
        workflow=table(WORKFLOW, weeks='"four"'),
    )
    assert problems_of(text) == [
        "demo.toml: workflow.weeks: expected an integer, got string 'four'",
        "demo.toml: milestones[0].time: invalid time '25:00': use 'HH:MM' from 00:00 to 23:59, "
        "e.g. '09:00'",
        f"demo.toml: milestones[0]: unknown key 'titel' (allowed: {MILESTONE_KEYS})",
        "demo.toml: milestones[1].after[0]: unknown milestone 'nope' (milestones: m)",
        "demo.toml: milestones[2].key: duplicate milestone key 'm' (also milestones[0])",
    ]


def test_a_bad_table_does_not_hide_the_others() -> None:
    # milestones[0] fails the schema; milestones[1] is still checked, and may refer to it
    text = doc(table(MEETING, kind='"møde"'), table(TASK, weeks="[3, 9]", after='["m"]'))
    assert problems_of(text) == [
        "demo.toml: milestones[0].kind: unknown kind 'møde' (allowed: meeting, task)",
        "demo.toml: milestones[1].weeks: week 9 is after the programme's last week (4)",
    ]


def test_a_definition_error_lists_its_problems() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(doc(table(MEETING, time=None, duration=None)), "demo.toml")
    assert str(info.value) == (
        "demo.toml: milestones[0].time: a meeting needs a start time 'HH:MM' (Europe/Copenhagen); "
        "demo.toml: milestones[0].duration: a meeting needs a duration, e.g. '2h'"
    )


def test_an_empty_text() -> None:
    assert problems_of("  \n") == [
        "demo.toml: <root>: the file is empty; a workflow needs a [workflow] table "
        "and [[milestones]]"
    ]


def test_a_toml_local_time_is_accepted() -> None:
    defn = parse_definition(doc(table(MEETING, time="09:30:00")), "demo.toml")
    assert defn.milestones[0].local_time == time(9, 30)


def test_defaults() -> None:
    defn = parse_definition(doc(table(MEETING), table(TASK)), "demo.toml")
    meeting, task = defn.milestones
    assert meeting.placement is Placement.EARLIEST and meeting.location == ""
    assert task.attendees == () and task.local_time is None and task.duration is None
    assert defn.budget is None and defn.requires == () and defn.request_answer_days is None


# ---------------------------------------------------------------------------------------------
# Files, directories and the rules across files
# ---------------------------------------------------------------------------------------------


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def base_and_extension(tmp_path: Path, *, requires: str, extends: str, at_week: int) -> None:
    write(tmp_path, "base.toml", doc(table(MEETING), workflow=table(WORKFLOW, key='"base"')))
    extension = table(WORKFLOW, key='"ext"', requires=requires)
    tail = f'[workflow.extends]\nworkflow = "{extends}"\nat_week = {at_week}\n'
    write(tmp_path, "ext.toml", doc(table(MEETING), workflow=extension, tail=tail))


def test_check_paths_on_a_directory(tmp_path: Path) -> None:
    base_and_extension(tmp_path, requires='["base"]', extends="base", at_week=4)
    assert check_paths([tmp_path]) == []
    registry = load_registry(tmp_path)
    assert [d.key for d in registry.extensions_of("base")] == ["ext"]


def test_unknown_requires_and_extends(tmp_path: Path) -> None:
    base_and_extension(tmp_path, requires='["basis"]', extends="basic", at_week=1)
    ext = str(tmp_path / "ext.toml")
    assert [str(p) for p in check_paths([tmp_path])] == [
        f"{ext}: workflow.requires[0]: unknown workflow 'basis' (known: base, ext)",
        f"{ext}: workflow.extends.workflow: unknown workflow 'basic' (known: base, ext)",
    ]


def test_extension_outside_the_base_programme(tmp_path: Path) -> None:
    base_and_extension(tmp_path, requires="[]", extends="base", at_week=5)
    with pytest.raises(DefinitionError) as info:
        load_registry(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'ext.toml'}: workflow.extends.at_week: week 5 is after 'base''s last week (4)"
    ]


def test_duplicate_workflow_key_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", doc(table(MEETING)))
    write(tmp_path, "b.toml", doc(table(TASK)))
    assert [str(p) for p in check_paths([tmp_path])] == [
        f"{tmp_path / 'b.toml'}: workflow.key: duplicate workflow key 'demo' "
        f"(also in {tmp_path / 'a.toml'})"
    ]


def test_requires_cycle_across_files(tmp_path: Path) -> None:
    write(
        tmp_path, "a.toml", doc(table(TASK), workflow=table(WORKFLOW, key='"a"', requires='["b"]'))
    )
    write(
        tmp_path, "b.toml", doc(table(TASK), workflow=table(WORKFLOW, key='"b"', requires='["a"]'))
    )
    assert [str(p) for p in check_paths([tmp_path])] == [
        f"{tmp_path / 'a.toml'}: workflow.requires: requires cycle: a -> b -> a"
    ]


def test_a_broken_file_still_counts_as_known(tmp_path: Path) -> None:
    base_and_extension(tmp_path, requires='["base"]', extends="base", at_week=1)
    write(
        tmp_path,
        "base.toml",
        doc(table(MEETING, time='"9"'), workflow=table(WORKFLOW, key='"base"')),
    )
    problems = [str(p) for p in check_paths([tmp_path])]
    assert len(problems) == 1 and "milestones[0].time: invalid time '9'" in problems[0]


def test_file_level_problems(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes('[workflow]\ntitle = "Afsæt"\n'.encode("latin-1"))
    write(tmp_path, "empty.toml", "")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    found = check_paths(
        [tmp_path / "latin1.toml", tmp_path / "empty.toml", tmp_path / "gone.toml", empty_dir]
    )
    assert sorted(str(p) for p in found) == sorted(
        [
            f"{tmp_path / 'latin1.toml'}: line 2: the file is not UTF-8 text (byte 0xe6)",
            f"{tmp_path / 'empty.toml'}: <root>: the file is empty; a workflow needs a [workflow] "
            "table and [[milestones]]",
            f"{tmp_path / 'gone.toml'}: <root>: no such file or directory",
            f"{empty_dir}: <root>: no workflow definitions (*.toml) in this directory",
        ]
    )


def test_load_file_and_registry_raise_definition_errors(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no such file"):
        load_file(tmp_path / "gone.toml")
    with pytest.raises(DefinitionError, match="no workflow definitions"):
        load_registry(tmp_path)
    with pytest.raises(DefinitionError, match="not a directory"):
        load_registry(tmp_path / "gone")


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + doc(table(MEETING)).encode("utf-8"))
    assert load_file(path).key == "demo"


def test_check_paths_deduplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "a.toml", doc(table(MEETING)))
    assert check_paths([path, tmp_path]) == []


# ---------------------------------------------------------------------------------------------
# Robustness: any input gives a definition or a DefinitionError with well-formed problems
# ---------------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A tiny TOML writer (inline tables) for the mutation test."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in data.items())


SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(
        ["2d", "5h", "1h30m", "09:00", "25:00", "meeting", "task", "tovholder", "a", "-1"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SHIPPED = tomllib.loads((WORKFLOWS / "socialt-beredskab.toml").read_text(encoding="utf-8"))


def mutate(data: Any, draw: Callable[[st.SearchStrategy[Any]], Any], depth: int = 0) -> Any:
    """Change one place in a parsed definition: drop, replace or add a key, or recurse."""
    if isinstance(data, dict) and data:
        key = draw(st.sampled_from(sorted(data)))
        action = draw(st.sampled_from(["drop", "replace", "add", "recurse", "recurse"]))
        copy = dict(data)
        if action == "drop":
            del copy[key]
        elif action == "replace":
            copy[key] = draw(VALUES)
        elif action == "add":
            copy[draw(st.text(max_size=8))] = draw(VALUES)
        else:
            copy[key] = mutate(data[key], draw, depth + 1)
        return copy
    if isinstance(data, list) and data:
        index = draw(st.integers(0, len(data) - 1))
        copy_list = list(data)
        copy_list[index] = mutate(data[index], draw, depth + 1)
        return copy_list
    return draw(VALUES)


def assert_well_formed(text: str) -> None:
    try:
        parse_definition(text, "fuzz.toml")
    except DefinitionError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert isinstance(problem, DefinitionProblem)
            assert PROBLEM_LINE.match(str(problem)), str(problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    assert_well_formed(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_definitions_never_crash(data: st.DataObject) -> None:
    mutated = SHIPPED
    for _ in range(data.draw(st.integers(1, 3))):
        mutated = mutate(mutated, data.draw)
    text = toml_document(mutated) if isinstance(mutated, dict) else toml_value(mutated)
    assert_well_formed(text)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["[workflow]", "[[milestones]]", 'key = "a"', "weeks = 1", "x = [", "=", "'"]
        ),
        max_size=8,
    )
)
def test_toml_fragments_never_crash(lines: list[str]) -> None:
    assert_well_formed("\n".join(lines))


# ----- [workflow.participants] (issue 11) -------------------------------------------------------

PARTICIPANTS_MEETING = table(MEETING, attendees='["consultant", "tovholder", "participants"]')
KOMMUNE = 'kinds = [{ key = "municipality", label = "Kommune" }]\n'


def _with_participants(lines: str, meeting: str = PARTICIPANTS_MEETING) -> str:
    return doc(meeting, tail="\n[workflow.participants]\n" + lines)


def test_participants_build_with_kinds_role_and_offsets() -> None:
    text = _with_participants(KOMMUNE + 'reminder = "5d"\nheadcount = "3d"\n')
    definition = parse_definition(text, "d.toml")
    spec = definition.participants
    assert spec is not None and spec.attendee_role == "REQ-PARTICIPANT"
    assert str(spec.reminder) == "5d" and str(spec.headcount) == "3d"
    assert spec.kind("KOMMUNE") == spec.kind("municipality") == spec.kinds[0]
    assert [m.key for m in definition.participant_meetings] == ["m"]


@pytest.mark.parametrize(
    ("lines", "meeting", "expected"),
    [
        (
            KOMMUNE + 'headcont = "3d"\n',
            PARTICIPANTS_MEETING,
            "demo.toml: workflow.participants: unknown key 'headcont' "
            "(allowed: attendee_role, headcount, kinds, reminder)",
        ),
        (
            'kinds = [{ key = "x", lable = "X" }]\n',
            PARTICIPANTS_MEETING,
            "demo.toml: workflow.participants.kinds[0]: unknown key 'lable' (allowed: key, label)",
        ),
        (
            KOMMUNE + 'attendee_role = "GUEST"\n',
            PARTICIPANTS_MEETING,
            "demo.toml: workflow.participants.attendee_role: unknown attendee role 'GUEST' "
            "(allowed: REQ-PARTICIPANT, OPT-PARTICIPANT, NON-PARTICIPANT, CHAIR)",
        ),
        (
            KOMMUNE + 'reminder = "2d"\nheadcount = "3d"\n',
            PARTICIPANTS_MEETING,
            "demo.toml: workflow.participants.reminder: the reminder (2d before) must come "
            "before the headcount (3d before)",
        ),
        (
            KOMMUNE,
            table(MEETING),
            "demo.toml: workflow.participants: no meeting has 'participants' among its attendees",
        ),
        (
            'kinds = [{ key = "a", label = "A" }, { key = "a", label = "B" }]\n',
            PARTICIPANTS_MEETING,
            "demo.toml: workflow.participants.kinds[1].key: kind 'a' is listed twice",
        ),
    ],
)
def test_participant_problems_name_the_key(lines: str, meeting: str, expected: str) -> None:
    assert expected in problems_of(_with_participants(lines, meeting))


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("a = [[1, 2], {b = [3]}]", 3),
        ('a = "[[[[" # [[[[', 0),
        ("a = '[[{{'", 0),
        ('a = """\n[[[\\"""\n"""', 0),
        ("[[milestones]]\nx = {a = [1, {b = 2}]}", 3),
        ("x = " + "[" * 400 + "1" + "]" * 400, 400),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings_and_comments(text: str, depth: int) -> None:
    from engine.domain.definitions.parse import nesting_depth

    assert nesting_depth(text) == depth


@pytest.mark.parametrize("depth", [33, 300, 400, 3000])
def test_deep_nesting_is_refused_at_one_limit_however_deep_the_stack(depth: int) -> None:
    """tomllib recurses per level: without the limit, depth 300–400 parsed in the CLI but raised
    RecursionError under a deeper test stack, so the two reported different errors."""
    from engine.domain.definitions.parse import MAX_NESTING, parse_toml
    from engine.domain.definitions.schema import Problems

    text = "x = " + "[" * depth + "1" + "]" * depth + "\n"

    def messages_at(stack: int) -> list[str]:
        if stack:
            return messages_at(stack - 1)
        problems = Problems("f.toml")
        assert parse_toml(text, problems) is None
        return [item.message for item in problems.items]

    assert (
        messages_at(0)
        == messages_at(600)
        == [f"TOML syntax error: values are nested more than {MAX_NESTING} deep"]
    )
