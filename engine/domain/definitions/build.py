"""Stage 5: the frozen ``WorkflowDefinition``; and one file through all the stages."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.domain.definitions.parse import Parsed, check_schema, parse_toml
from engine.domain.definitions.schema import MilestoneTable, Problems, WorkflowTable
from engine.domain.definitions.validate import check_semantics
from engine.domain.errors import DefinitionProblem
from engine.domain.model import Placement
from engine.domain.workflow import (
    BudgetDef,
    ExtensionDef,
    MilestoneDef,
    ParticipantKind,
    ParticipantsDef,
    ReminderDef,
    WorkflowDefinition,
)

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Stage 5: build the frozen model
# ---------------------------------------------------------------------------------------------


def _build_milestone(m: MilestoneTable) -> MilestoneDef:
    return MilestoneDef(
        key=m.key,
        title=m.title,
        kind=m.kind,
        first_week=m.weeks[0],
        last_week=m.weeks[1],
        description=m.description,
        owner=m.owner,
        attendees=tuple(m.attendees or ()),
        local_time=m.time,
        duration=m.duration,
        location=m.location or "",
        placement=m.placement or Placement.EARLIEST,
        after=tuple(m.after),
        reminders=tuple(ReminderDef(before=r.before, to=tuple(r.to)) for r in m.reminders),
    )


def build_definition(
    workflow: WorkflowTable, milestones: Sequence[MilestoneTable], text: str, source: str
) -> WorkflowDefinition:
    budget = workflow.budget
    extends = workflow.extends
    return WorkflowDefinition(
        key=workflow.key,
        declared_version=workflow.version,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        title=workflow.title,
        weeks=workflow.weeks,
        milestones=tuple(_build_milestone(m) for m in milestones),
        description=workflow.description,
        budget=BudgetDef(role=budget.role, minimum=budget.min, maximum=budget.max)
        if budget
        else None,
        request_answer_days=workflow.request_answer_days,
        requires=tuple(workflow.requires),
        extends=ExtensionDef(workflow=extends.workflow, at_week=extends.at_week)
        if extends
        else None,
        participants=_build_participants(workflow),
        source_path=source,
        source_text=text,
    )


def _build_participants(workflow: WorkflowTable) -> ParticipantsDef | None:
    table = workflow.participants
    if table is None:
        return None
    return ParticipantsDef(
        kinds=tuple(ParticipantKind(k.key, k.label) for k in table.kinds),
        attendee_role=table.attendee_role,
        reminder=table.reminder,
        headcount=table.headcount,
    )


# ---------------------------------------------------------------------------------------------
# One file, all stages
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What the cross-file rules need to know about one workflow."""

    source: str
    key: str
    weeks: int | None = None
    requires: tuple[str, ...] = ()
    extends: ExtensionDef | None = None


@dataclass
class Analysis:
    source: str
    problems: list[DefinitionProblem]
    definition: WorkflowDefinition | None = None
    header: Header | None = None


def _header_of(source: str, parsed: Parsed) -> Header | None:
    workflow = parsed.workflow
    if workflow is None:
        return Header(source, parsed.workflow_key) if parsed.workflow_key else None
    extends = workflow.extends
    return Header(
        source=source,
        key=workflow.key,
        weeks=workflow.weeks,
        requires=tuple(workflow.requires),
        extends=ExtensionDef(extends.workflow, extends.at_week) if extends else None,
    )


def analyse(text: str, source: str) -> Analysis:
    problems = Problems(source)
    document = parse_toml(text, problems)
    if document is None:
        return Analysis(source, problems.items)
    parsed = check_schema(document, problems)
    check_semantics(parsed, problems)
    header = _header_of(source, parsed)
    if problems.items or parsed.workflow is None:
        return Analysis(source, sorted(problems.items, key=_path_rank), header=header)
    definition = build_definition(parsed.workflow, [m for _, m in parsed.milestones], text, source)
    return Analysis(source, [], definition=definition, header=header)


_MILESTONE_PATH = re.compile(r"^milestones\[(\d+)\]")


def _path_rank(problem: DefinitionProblem) -> tuple[int, int]:
    """Order a file's problems top-down: the file, [workflow], then milestone by milestone."""
    if problem.path.startswith("workflow"):
        return (1, 0)
    match = _MILESTONE_PATH.match(problem.path)
    if match:
        return (2, int(match[1]))
    return (2, -1) if problem.path.startswith("milestones") else (0, 0)


def read_source(path: Path) -> Analysis:
    source = str(path)
    problems = Problems(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.add("", "no such file or directory")
        return Analysis(source, problems.items)
    except OSError as exc:
        problems.add("", f"cannot read the file: {exc.strerror or exc}")
        return Analysis(source, problems.items)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.add(f"line {line}", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})")
        return Analysis(source, problems.items)
    return analyse(text, source)
