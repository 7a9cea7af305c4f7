"""Stage 4: the rules within one file that span keys and milestones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from engine.domain.definitions.parse import Parsed
from engine.domain.definitions.schema import (
    BudgetTable,
    MilestoneTable,
    ParticipantsTable,
    Problems,
    WorkflowTable,
)
from engine.domain.definitions.values import (
    COMPARE_HOURS_PER_WORKDAY,
    MEETING_ONLY,
    PERSON_ROLES,
    TASK_ONLY,
    Loc,
)
from engine.domain.model import MilestoneKind, Role
from engine.domain.workflow import Offset

# ---------------------------------------------------------------------------------------------
# Stage 4: semantics within one file
# ---------------------------------------------------------------------------------------------


def _check_workflow(workflow: WorkflowTable, problems: Problems) -> None:
    at: Loc = ("workflow",)
    seen: set[str] = set()
    for i, required in enumerate(workflow.requires):
        if required == workflow.key:
            problems.add((*at, "requires", i), "a workflow cannot require itself")
        elif required in seen:
            problems.add((*at, "requires", i), f"{required!r} is listed twice")
        seen.add(required)
    if workflow.extends and workflow.extends.workflow == workflow.key:
        problems.add((*at, "extends", "workflow"), "a workflow cannot extend itself")
    if workflow.budget:
        _check_budget(workflow.budget, problems)


def _check_participants(parsed: Parsed, problems: Problems) -> None:
    """Kinds are unique (by key and by label), there is at least one, and some meeting
    invites the participants; the reminder comes before the headcount."""
    workflow = parsed.workflow
    table: ParticipantsTable | None = workflow.participants if workflow else None
    invited = any(
        m.kind is MilestoneKind.MEETING and Role.PARTICIPANTS in (m.attendees or ())
        for _, m in parsed.milestones
    )
    if table is None:
        return
    at: Loc = ("workflow", "participants")
    if not table.kinds:
        problems.add((*at, "kinds"), "list at least one kind of participant")
    keys: set[str] = set()
    labels: set[str] = set()
    for i, kind in enumerate(table.kinds):
        if kind.key in keys:
            problems.add((*at, "kinds", i, "key"), f"kind {kind.key!r} is listed twice")
        if kind.label.casefold() in labels:
            problems.add((*at, "kinds", i, "label"), f"label {kind.label!r} is used twice")
        keys.add(kind.key)
        labels.add(kind.label.casefold())
    if not invited and parsed.milestones:
        problems.add(at, "no meeting has 'participants' among its attendees")
    if (
        table.reminder
        and table.headcount
        and _rough_minutes(table.reminder) <= _rough_minutes(table.headcount)
    ):
        problems.add(
            (*at, "reminder"),
            f"the reminder ({table.reminder} before) must come before the headcount "
            f"({table.headcount} before)",
        )


def _rough_minutes(offset: Offset) -> float:
    return offset.weeks * 7 * 1440 + offset.workdays * 1440 * 7 / 5 + offset.minutes


def _check_budget(budget: BudgetTable, problems: Problems) -> None:
    at: Loc = ("workflow", "budget")
    _check_person(budget.role, (*at, "role"), problems)
    low = budget.min.to_hours(COMPARE_HOURS_PER_WORKDAY)
    high = budget.max.to_hours(COMPARE_HOURS_PER_WORKDAY)
    if high <= 0:
        problems.add((*at, "max"), "must be more than 0")
    elif low > high:
        problems.add(
            (*at, "min"),
            f"min {budget.min} is more than max {budget.max} "
            f"(compared at {COMPARE_HOURS_PER_WORKDAY:g} hours per working day)",
        )


def _check_person(role: Role, loc: Loc, problems: Problems) -> None:
    if role is Role.PARTICIPANTS:
        allowed = ", ".join(r.value for r in PERSON_ROLES)
        problems.add(loc, f"fbh has no address for 'participants'; use a person ({allowed})")


def _check_roles_unique(roles: Sequence[Role], loc: Loc, problems: Problems) -> None:
    seen: set[Role] = set()
    for i, role in enumerate(roles):
        if role in seen:
            problems.add((*loc, i), f"{role.value!r} is listed twice")
        seen.add(role)


def _check_window(m: MilestoneTable, loc: Loc, weeks: int | None, problems: Problems) -> None:
    first, last = m.weeks
    at = (*loc, "weeks")
    if first < 0 or last < 0:
        problems.add(at, f"weeks cannot be negative, got {list(m.weeks)}")
    elif first > last:
        problems.add(at, f"the first week ({first}) is after the last ({last})")
    elif weeks is not None and last > weeks:
        problems.add(at, f"week {last} is after the programme's last week ({weeks})")


def _check_kind_keys(m: MilestoneTable, loc: Loc, problems: Problems) -> None:
    given = m.model_fields_set
    if m.kind is MilestoneKind.MEETING:
        wrong, other = [k for k in TASK_ONLY if k in given], "tasks"
        needs = {
            "time": "a meeting needs a start time 'HH:MM' (Europe/Copenhagen)",
            "duration": "a meeting needs a duration, e.g. '2h'",
            "attendees": "a meeting needs attendees, e.g. ['consultant', 'tovholder']",
        }
    else:
        wrong, other = [k for k in MEETING_ONLY if k in given], "meetings"
        needs = {"owner": "a task needs an owner, e.g. 'tovholder'"}
    for key in wrong:
        problems.add((*loc, key), f"only {other} have {key!r}; this milestone is a {m.kind.value}")
    for key, message in needs.items():
        if key not in given:
            problems.add((*loc, key), message)


def _check_meeting(m: MilestoneTable, loc: Loc, problems: Problems) -> None:
    if m.attendees is not None:
        if not m.attendees:
            problems.add((*loc, "attendees"), "a meeting needs at least one attendee")
        _check_roles_unique(m.attendees, (*loc, "attendees"), problems)
    if m.time is not None and m.duration is not None:
        start = timedelta(hours=m.time.hour, minutes=m.time.minute)
        if start + m.duration > timedelta(days=1):
            problems.add((*loc, "duration"), "the meeting would end after midnight")


def _check_reminders(m: MilestoneTable, loc: Loc, problems: Problems) -> None:
    for i, reminder in enumerate(m.reminders):
        at = (*loc, "reminders", i, "to")
        if not reminder.to:
            problems.add(at, "a reminder needs at least one recipient")
        for j, role in enumerate(reminder.to):
            _check_person(role, (*at, j), problems)
        _check_roles_unique(reminder.to, at, problems)


def _check_milestone(m: MilestoneTable, loc: Loc, weeks: int | None, problems: Problems) -> None:
    _check_window(m, loc, weeks, problems)
    _check_kind_keys(m, loc, problems)
    if m.kind is MilestoneKind.MEETING:
        _check_meeting(m, loc, problems)
    elif m.owner is not None:
        _check_person(m.owner, (*loc, "owner"), problems)
    _check_reminders(m, loc, problems)


def _check_unique_keys(parsed: Parsed, problems: Problems) -> None:
    first_index: dict[str, int] = {}
    for index, key in parsed.milestone_keys:
        if key in first_index:
            problems.add(
                ("milestones", index, "key"),
                f"duplicate milestone key {key!r} (also milestones[{first_index[key]}])",
            )
        else:
            first_index[key] = index


def _check_after(parsed: Parsed, problems: Problems) -> None:
    known = {key for _, key in parsed.milestone_keys}
    valid = {m.key: m for _, m in parsed.milestones}
    for index, m in parsed.milestones:
        seen: set[str] = set()
        for j, dep in enumerate(m.after):
            at: Loc = ("milestones", index, "after", j)
            if dep == m.key:
                problems.add(at, "a milestone cannot come after itself")
            elif dep in seen:
                problems.add(at, f"{dep!r} is listed twice")
            elif dep not in known:
                choices = ", ".join(sorted(known - {m.key})) or "none"
                problems.add(at, f"unknown milestone {dep!r} (milestones: {choices})")
            elif dep in valid and valid[dep].weeks[0] > m.weeks[1]:
                problems.add(
                    at,
                    f"impossible order: {dep!r} starts in week {valid[dep].weeks[0]}, after this "
                    f"milestone's window ends (week {m.weeks[1]})",
                )
            seen.add(dep)


def find_cycles(graph: dict[str, Sequence[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search, each once, as ``[a, b, a]``.

    Nodes are visited in ``graph`` order; a cycle is rotated to start at its earliest node.
    Edges to nodes outside ``graph`` and self-loops are ignored.
    """
    order = {node: i for i, node in enumerate(graph)}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []
    cycles: dict[tuple[str, ...], list[str]] = {}

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                ring = stack[stack.index(nxt) :]
                start = min(range(len(ring)), key=lambda i: order[ring[i]])
                ring = ring[start:] + ring[:start]
                cycles.setdefault(tuple(ring), [*ring, ring[0]])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return list(cycles.values())


def _check_cycles(parsed: Parsed, problems: Problems) -> None:
    graph: dict[str, Sequence[str]] = {}
    index_of: dict[str, int] = {}
    for index, m in parsed.milestones:
        graph.setdefault(m.key, m.after)
        index_of.setdefault(m.key, index)
    for cycle in find_cycles(graph):
        problems.add(
            ("milestones", index_of[cycle[0]], "after"), f"dependency cycle: {' -> '.join(cycle)}"
        )


def check_semantics(parsed: Parsed, problems: Problems) -> None:
    if parsed.workflow is not None:
        _check_workflow(parsed.workflow, problems)
    if parsed.milestone_count == 0 and not any(
        p.path.startswith("milestones") for p in problems.items
    ):
        problems.add("milestones", "a workflow needs at least one [[milestones]] table")
    weeks = parsed.workflow.weeks if parsed.workflow else None
    for index, milestone in parsed.milestones:
        _check_milestone(milestone, ("milestones", index), weeks, problems)
    _check_unique_keys(parsed, problems)
    _check_after(parsed, problems)
    _check_cycles(parsed, problems)
    _check_participants(parsed, problems)
