"""The schema: strict, frozen pydantic tables whose field names are the TOML keys, and the
translation of pydantic errors into ``file: key.path: message`` problems."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from engine.domain.definitions.values import (
    TYPE_ERROR,
    VALUE_ERROR,
    AmountValue,
    AnswerDays,
    AttendeeRole,
    AtWeek,
    DurationValue,
    KindKey,
    KindValue,
    Line,
    Loc,
    MilestoneKey,
    OffsetValue,
    PlacementValue,
    ProgrammeWeeks,
    RoleValue,
    SingleLine,
    Text,
    TimeValue,
    Version,
    Window,
    WorkflowKey,
    describe,
)
from engine.domain.errors import DefinitionProblem

# ---------------------------------------------------------------------------------------------
# The schema. Field names are the TOML keys.
# ---------------------------------------------------------------------------------------------


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExtendsTable(Table):
    workflow: WorkflowKey
    at_week: AtWeek


class BudgetTable(Table):
    role: RoleValue
    min: AmountValue
    max: AmountValue


class ParticipantKindTable(Table):
    key: KindKey
    label: Line


class ParticipantsTable(Table):
    """``[workflow.participants]``: the people the tovholder invites to the meetings whose
    ``attendees`` name ``participants``."""

    kinds: list[ParticipantKindTable]
    attendee_role: AttendeeRole = "REQ-PARTICIPANT"
    reminder: OffsetValue | None = None  # before the meeting: to those who have not answered
    headcount: OffsetValue | None = None  # before the meeting: the count, to the tovholder


class WorkflowTable(Table):
    key: WorkflowKey
    version: Version
    title: Line
    description: Text = ""
    weeks: ProgrammeWeeks
    request_answer_days: AnswerDays | None = None
    requires: list[WorkflowKey] = []
    extends: ExtendsTable | None = None
    budget: BudgetTable | None = None
    participants: ParticipantsTable | None = None


class ReminderTable(Table):
    before: OffsetValue
    to: list[RoleValue]


class MilestoneTable(Table):
    key: MilestoneKey
    title: Line
    description: Text = ""
    kind: KindValue
    weeks: Window
    attendees: list[RoleValue] | None = None
    owner: RoleValue | None = None
    time: TimeValue | None = None
    duration: DurationValue | None = None
    location: SingleLine | None = None
    placement: PlacementValue | None = None
    after: list[MilestoneKey] = []
    reminders: list[ReminderTable] = []


class DocumentShape(Table):
    """The top level: only the shape; each table is validated on its own."""

    workflow: dict[str, Any]
    milestones: list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# Problems and paths
# ---------------------------------------------------------------------------------------------


def format_path(loc: Loc) -> str:
    """``("milestones", 3, "reminders", 0, "before")`` → ``milestones[3].reminders[0].before``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Problems:
    """Collects the problems of one file."""

    source: str
    items: list[DefinitionProblem] = field(default_factory=list)

    def add(self, loc: Loc | str, message: str) -> None:
        path = loc if isinstance(loc, str) else format_path(loc)
        self.items.append(DefinitionProblem(file=self.source, path=path, message=message))


def _submodel(annotation: object) -> type[BaseModel] | None:
    """The model class inside an annotation such as ``list[Model]`` or ``Model | None``."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed in the table at ``loc`` (relative to ``model``)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        info = current.model_fields.get(part)
        current = _submodel(info.annotation) if info else None
    return sorted(current.model_fields) if current else []


_TYPE_NOUNS = {
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "an integer",
}


def _message(error: ErrorDetails, model: type[BaseModel]) -> tuple[Loc, str]:
    """Translate one pydantic error into a (location, message) pair."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(model, loc[:-1]))
        return loc[:-1], f"unknown key {str(loc[-1])!r} (allowed: {allowed})"
    if kind in (VALUE_ERROR, TYPE_ERROR):
        return loc, str((error.get("ctx") or {}).get("message", error["msg"]))
    if kind in _TYPE_NOUNS:
        message = f"expected {_TYPE_NOUNS[kind]}, got {describe(error['input'])}"
        if loc == ("milestones",):
            message += "; write each milestone as a [[milestones]] table"
        return loc, message
    return loc, error["msg"]


_M = TypeVar("_M", bound=BaseModel)


def validate_table(model: type[_M], data: object, prefix: Loc, problems: Problems) -> _M | None:
    """Validate ``data`` against ``model``; on failure record every error under ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc, message = _message(error, model)
            problems.add(prefix + loc, message)
        return None
