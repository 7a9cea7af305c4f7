"""Load workflow definitions: TOML text → validated, frozen ``WorkflowDefinition``.

Loading goes in stages, and every stage collects *all* of its problems before giving up:

1. **text**: the bytes must be UTF-8 and the text must not be empty;
2. **syntax**: ``tomllib`` parses the text (a syntax error names its line and column);
3. **schema**: strict pydantic models check every table: unknown keys, missing keys, types
   and the small value syntaxes (keys, roles, times, offsets, amounts);
4. **semantics**: rules that span keys and milestones: windows inside the programme, the keys
   that only meetings or only tasks may have, ``after`` references, cycles and order;
5. **build**: the frozen ``engine.domain.workflow`` model, versioned by the text's sha256.

Cross-file rules (duplicate keys, ``requires``/``extends`` naming a known workflow, the week an
extension attaches at) run over a set of files: a directory (``load_registry``) or the paths
given to ``check_paths``. Each problem is a ``DefinitionProblem`` that prints as
``file: key.path: message``. The format is documented in ``docs/workflows.md``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from engine.domain.errors import DefinitionError, DefinitionProblem, NotFoundError
from engine.domain.model import MilestoneKind, Placement, Role
from engine.domain.workflow import (
    Amount,
    BudgetDef,
    ExtensionDef,
    MilestoneDef,
    Offset,
    ReminderDef,
    WorkflowDefinition,
)

__all__ = [
    "WorkflowRegistry",
    "check_paths",
    "load_file",
    "load_registry",
    "parse_definition",
]

logger = logging.getLogger(__name__)

Loc = tuple[str | int, ...]

MAX_PROGRAMME_WEEKS = 260  # five years; keeps every later date computation in range
MAX_ANSWER_DAYS = 365
MAX_REMINDER_DAYS = 366  # a reminder at most about a year before
MAX_KEY_LENGTH = 64
MAX_AMOUNT_DAYS = 365
# Budget bounds mix days and hours; they are compared at the default length of a working day.
COMPARE_HOURS_PER_WORKDAY = 7.4

_WORKFLOW_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_MILESTONE_KEY = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_VERSION = re.compile(r"^[0-9A-Za-z]+(?:[.-][0-9A-Za-z]+)*$")
_TIME = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)$")
_TOML_WHERE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)
_LONG_NUMBER = re.compile(r"[0-9_]{4300,}")
_PERSON_ROLES = tuple(r for r in Role if r is not Role.PARTICIPANTS)  # roles fbh has addresses for
_MEETING_ONLY = ("attendees", "time", "duration", "location", "placement")
_TASK_ONLY = ("owner",)


# ---------------------------------------------------------------------------------------------
# Value types for the schema, with our own single-line error messages
# ---------------------------------------------------------------------------------------------

_VALUE_ERROR = "fbh_value"
_TYPE_ERROR = "fbh_type"


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError(_VALUE_ERROR, "{message}", {"message": message})


def _toml_type(value: object) -> str:
    """The TOML name of a parsed value's type."""
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "date-time"),
        (date, "date"),
        (time, "time"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _describe(value: object) -> str:
    """``string 'nine'``, ``integer 5``, ``table``: the value for a message, kept short."""
    name = _toml_type(value)
    if isinstance(value, list | dict):
        return name
    if isinstance(value, int) and value.bit_length() > 128:
        return f"{name} {_number(value)}"
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} {text}"


def _number(value: int) -> str:
    """An integer for a message; a huge one (TOML allows any length, e.g. 0xfff…) is not
    spelled out, since ``str()`` refuses more than 4300 digits."""
    if value.bit_length() <= 128:
        return str(value)
    sign = "negative " if value < 0 else ""
    return f"a {sign}number of about {round(value.bit_length() * math.log10(2))} digits"


def _wrong_type(expected: str, value: object) -> PydanticCustomError:
    return PydanticCustomError(
        _TYPE_ERROR, "{message}", {"message": f"expected {expected}, got {_describe(value)}"}
    )


def _need_str(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("a string", value)
    return value


def _need_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type("an integer", value)
    return value


def _key_parser(pattern: re.Pattern[str], what: str, hint: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _need_str(value)
        if len(text) > MAX_KEY_LENGTH or not pattern.match(text):
            raise _invalid(f"invalid {what} {text!r}: {hint}")
        return text

    return parse


def _int_parser(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        number = _need_int(value)
        if not low <= number <= high:
            raise _invalid(f"must be between {low} and {high}, got {_number(number)}")
        return number

    return parse


_E = TypeVar("_E", bound=StrEnum)


def _enum_parser(enum: type[_E], what: str) -> Callable[[object], _E]:
    allowed = ", ".join(sorted(member.value for member in enum))

    def parse(value: object) -> _E:
        text = _need_str(value)
        try:
            return enum(text)
        except ValueError:
            raise _invalid(f"unknown {what} {text!r} (allowed: {allowed})") from None

    return parse


def _parse_line(value: object) -> str:
    """A non-empty, single-line text (titles end up in mail subjects)."""
    text = _need_str(value)
    if not text.strip():
        raise _invalid("must not be empty")
    if any(ch in text for ch in "\r\n"):
        raise _invalid("must be a single line")
    return text.strip()


def _parse_single_line(value: object) -> str:
    text = _need_str(value)
    if any(ch in text for ch in "\r\n"):
        raise _invalid("must be a single line")
    return text.strip()


def _parse_text(value: object) -> str:
    return _need_str(value).strip()


def _parse_version(value: object) -> str:
    text = _need_str(value)
    if len(text) > 32 or not _VERSION.match(text):
        raise _invalid(
            f"invalid version {text!r}: use digits and letters separated by '.', e.g. '1.0'"
        )
    return text


def _parse_time(value: object) -> time:
    """``"09:00"`` (or a TOML local time ``09:00:00``): Europe/Copenhagen wall-clock time."""
    if isinstance(value, time) and not isinstance(value, datetime):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise _invalid(f"invalid time {value}: use 'HH:MM' local time, e.g. '09:00'")
        return value
    text = _need_str(value)
    match = _TIME.match(text.strip())
    if not match:
        raise _invalid(f"invalid time {text!r}: use 'HH:MM' from 00:00 to 23:59, e.g. '09:00'")
    return time(int(match["h"]), int(match["m"]))


def _parse_offset(value: object) -> Offset:
    text = _need_str(value)
    try:
        offset = Offset.parse(text)
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    if _offset_days(offset) > MAX_REMINDER_DAYS:
        raise _invalid(f"offset {text!r} is longer than a year")
    return offset


def _offset_days(offset: Offset) -> float:
    """Roughly how many calendar days an offset spans (for sanity bounds only)."""
    return offset.weeks * 7 + offset.workdays * 7 / 5 + offset.minutes / (24 * 60)


def _parse_duration(value: object) -> timedelta:
    text = _need_str(value)
    try:
        offset = Offset.parse(text)
    except ValueError:
        offset = None
    if offset is None or offset.weeks or offset.workdays or not offset.minutes:
        raise _invalid(f"invalid duration {text!r}: use hours and minutes, e.g. '6h' or '1h30m'")
    if offset.minutes > 24 * 60:
        raise _invalid(f"duration {text!r} is longer than 24 hours")
    return timedelta(minutes=offset.minutes)


def _parse_amount(value: object) -> Amount:
    text = _need_str(value)
    try:
        amount = Amount.parse(text)
    except ValueError as exc:
        raise _invalid(f"{exc} (combine as '1d4h'; decimals allowed, e.g. '2.5d')") from None
    days = amount.to_hours(COMPARE_HOURS_PER_WORKDAY) / COMPARE_HOURS_PER_WORKDAY
    if not days <= MAX_AMOUNT_DAYS:  # also catches inf from absurdly long digit strings
        raise _invalid(f"amount {text!r} is more than {MAX_AMOUNT_DAYS} working days")
    return amount


def _parse_window(value: object) -> tuple[int, int]:
    """``4`` → (4, 4); ``[9, 11]`` → (9, 11). Ranges are checked against the workflow later."""
    expected = "a week number or [first, last]"
    if isinstance(value, list):
        if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise _wrong_type(expected + " (two integers)", value)
        first, last = value
    elif isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(expected, value)
    else:
        first = last = value
    for week in (first, last):
        if abs(week) > 10 * MAX_PROGRAMME_WEEKS:  # huge numbers never reach the later messages
            raise _invalid(
                f"week {_number(week)} is outside 0…{MAX_PROGRAMME_WEEKS}, the longest programme"
            )
    return (first, last)


def _field(parser: Callable[[object], Any]) -> PlainValidator:
    return PlainValidator(parser)


WorkflowKey = Annotated[
    str,
    _field(
        _key_parser(_WORKFLOW_KEY, "workflow key", "use a-z, 0-9 and '-', e.g. 'socialt-beredskab'")
    ),
]
MilestoneKey = Annotated[
    str,
    _field(_key_parser(_MILESTONE_KEY, "milestone key", "use a-z, 0-9 and '_', e.g. 'workshop'")),
]
Line = Annotated[str, _field(_parse_line)]
SingleLine = Annotated[str, _field(_parse_single_line)]
Text = Annotated[str, _field(_parse_text)]
Version = Annotated[str, _field(_parse_version)]
ProgrammeWeeks = Annotated[int, _field(_int_parser(0, MAX_PROGRAMME_WEEKS))]
AtWeek = Annotated[int, _field(_int_parser(0, MAX_PROGRAMME_WEEKS))]
AnswerDays = Annotated[int, _field(_int_parser(1, MAX_ANSWER_DAYS))]
RoleValue = Annotated[Role, _field(_enum_parser(Role, "role"))]
KindValue = Annotated[MilestoneKind, _field(_enum_parser(MilestoneKind, "kind"))]
PlacementValue = Annotated[Placement, _field(_enum_parser(Placement, "placement"))]
TimeValue = Annotated[time, _field(_parse_time)]
DurationValue = Annotated[timedelta, _field(_parse_duration)]
OffsetValue = Annotated[Offset, _field(_parse_offset)]
AmountValue = Annotated[Amount, _field(_parse_amount)]
Window = Annotated[tuple[int, int], _field(_parse_window)]


# ---------------------------------------------------------------------------------------------
# The schema. Field names are the TOML keys.
# ---------------------------------------------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExtendsTable(_Table):
    workflow: WorkflowKey
    at_week: AtWeek


class BudgetTable(_Table):
    role: RoleValue
    min: AmountValue
    max: AmountValue


class WorkflowTable(_Table):
    key: WorkflowKey
    version: Version
    title: Line
    description: Text = ""
    weeks: ProgrammeWeeks
    request_answer_days: AnswerDays | None = None
    requires: list[WorkflowKey] = []
    extends: ExtendsTable | None = None
    budget: BudgetTable | None = None


class ReminderTable(_Table):
    before: OffsetValue
    to: list[RoleValue]


class MilestoneTable(_Table):
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


class DocumentShape(_Table):
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
class _Problems:
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
    if kind in (_VALUE_ERROR, _TYPE_ERROR):
        return loc, str((error.get("ctx") or {}).get("message", error["msg"]))
    if kind in _TYPE_NOUNS:
        message = f"expected {_TYPE_NOUNS[kind]}, got {_describe(error['input'])}"
        if loc == ("milestones",):
            message += "; write each milestone as a [[milestones]] table"
        return loc, message
    return loc, error["msg"]


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: object, prefix: Loc, problems: _Problems) -> _M | None:
    """Validate ``data`` against ``model``; on failure record every error under ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc, message = _message(error, model)
            problems.add(prefix + loc, message)
        return None


# ---------------------------------------------------------------------------------------------
# Stages 1-2: text and syntax
# ---------------------------------------------------------------------------------------------


def _syntax_location(text: str, exc: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``("line 3, column 5", "Invalid value")`` from tomllib's message."""
    raw = str(exc)
    match = _TOML_WHERE.match(raw)
    if not match:
        return "", raw
    if match["line"]:
        return f"line {match['line']}, column {match['col']}", match["msg"]
    lines = text.split("\n")
    return f"line {len(lines)}, column {len(lines[-1]) + 1}", match["msg"] + " at end of file"


def _parse_toml(text: str, problems: _Problems) -> dict[str, Any] | None:
    if not text.strip():
        problems.add(
            "", "the file is empty; a workflow needs a [workflow] table and [[milestones]]"
        )
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        problems.add(f"line {line}", "the text contains an invalid character (lone surrogate)")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where, message = _syntax_location(text, exc)
        problems.add(where, f"TOML syntax error: {message}")
    except RecursionError:
        problems.add("", "TOML syntax error: values are nested too deeply")
    except ValueError:  # int() refuses a decimal number of more than 4300 digits
        digits = _LONG_NUMBER.search(text)
        where = f"line {text.count(chr(10), 0, digits.start()) + 1}" if digits else ""
        problems.add(where, "TOML syntax error: a number with more than 4300 digits")
    return None


# ---------------------------------------------------------------------------------------------
# Stage 3: schema, table by table, so that one bad table does not hide problems in others
# ---------------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    """The tables that passed the schema, plus what could be read from the ones that did not."""

    workflow: WorkflowTable | None
    milestones: list[tuple[int, MilestoneTable]]  # (index, table) of the valid ones
    milestone_keys: list[tuple[int, str]]  # (index, key) of every milestone with a string key
    milestone_count: int
    workflow_key: str | None  # even when the rest of the [workflow] table is invalid


def _raw_key(table: object, pattern: re.Pattern[str]) -> str | None:
    key = table.get("key") if isinstance(table, dict) else None
    return key if isinstance(key, str) and pattern.match(key) else None


def _check_schema(document: dict[str, Any], problems: _Problems) -> _Parsed:
    _validate(DocumentShape, document, (), problems)
    raw_workflow = document.get("workflow")
    raw_milestones = document.get("milestones")
    items = raw_milestones if isinstance(raw_milestones, list) else []
    workflow = None
    if isinstance(raw_workflow, dict):
        workflow = _validate(WorkflowTable, raw_workflow, ("workflow",), problems)
    milestones: list[tuple[int, MilestoneTable]] = []
    keys: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        key = _raw_key(item, _MILESTONE_KEY)
        if key is not None:
            keys.append((index, key))
        if isinstance(item, dict):
            table = _validate(MilestoneTable, item, ("milestones", index), problems)
            if table is not None:
                milestones.append((index, table))
    return _Parsed(workflow, milestones, keys, len(items), _raw_key(raw_workflow, _WORKFLOW_KEY))


# ---------------------------------------------------------------------------------------------
# Stage 4: semantics within one file
# ---------------------------------------------------------------------------------------------


def _check_workflow(workflow: WorkflowTable, problems: _Problems) -> None:
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


def _check_budget(budget: BudgetTable, problems: _Problems) -> None:
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


def _check_person(role: Role, loc: Loc, problems: _Problems) -> None:
    if role is Role.PARTICIPANTS:
        allowed = ", ".join(r.value for r in _PERSON_ROLES)
        problems.add(loc, f"fbh has no address for 'participants'; use a person ({allowed})")


def _check_roles_unique(roles: Sequence[Role], loc: Loc, problems: _Problems) -> None:
    seen: set[Role] = set()
    for i, role in enumerate(roles):
        if role in seen:
            problems.add((*loc, i), f"{role.value!r} is listed twice")
        seen.add(role)


def _check_window(m: MilestoneTable, loc: Loc, weeks: int | None, problems: _Problems) -> None:
    first, last = m.weeks
    at = (*loc, "weeks")
    if first < 0 or last < 0:
        problems.add(at, f"weeks cannot be negative, got {list(m.weeks)}")
    elif first > last:
        problems.add(at, f"the first week ({first}) is after the last ({last})")
    elif weeks is not None and last > weeks:
        problems.add(at, f"week {last} is after the programme's last week ({weeks})")


def _check_kind_keys(m: MilestoneTable, loc: Loc, problems: _Problems) -> None:
    given = m.model_fields_set
    if m.kind is MilestoneKind.MEETING:
        wrong, other = [k for k in _TASK_ONLY if k in given], "tasks"
        needs = {
            "time": "a meeting needs a start time 'HH:MM' (Europe/Copenhagen)",
            "duration": "a meeting needs a duration, e.g. '2h'",
            "attendees": "a meeting needs attendees, e.g. ['consultant', 'tovholder']",
        }
    else:
        wrong, other = [k for k in _MEETING_ONLY if k in given], "meetings"
        needs = {"owner": "a task needs an owner, e.g. 'tovholder'"}
    for key in wrong:
        problems.add((*loc, key), f"only {other} have {key!r}; this milestone is a {m.kind.value}")
    for key, message in needs.items():
        if key not in given:
            problems.add((*loc, key), message)


def _check_meeting(m: MilestoneTable, loc: Loc, problems: _Problems) -> None:
    if m.attendees is not None:
        if not m.attendees:
            problems.add((*loc, "attendees"), "a meeting needs at least one attendee")
        _check_roles_unique(m.attendees, (*loc, "attendees"), problems)
    if m.time is not None and m.duration is not None:
        start = timedelta(hours=m.time.hour, minutes=m.time.minute)
        if start + m.duration > timedelta(days=1):
            problems.add((*loc, "duration"), "the meeting would end after midnight")


def _check_reminders(m: MilestoneTable, loc: Loc, problems: _Problems) -> None:
    for i, reminder in enumerate(m.reminders):
        at = (*loc, "reminders", i, "to")
        if not reminder.to:
            problems.add(at, "a reminder needs at least one recipient")
        for j, role in enumerate(reminder.to):
            _check_person(role, (*at, j), problems)
        _check_roles_unique(reminder.to, at, problems)


def _check_milestone(m: MilestoneTable, loc: Loc, weeks: int | None, problems: _Problems) -> None:
    _check_window(m, loc, weeks, problems)
    _check_kind_keys(m, loc, problems)
    if m.kind is MilestoneKind.MEETING:
        _check_meeting(m, loc, problems)
    elif m.owner is not None:
        _check_person(m.owner, (*loc, "owner"), problems)
    _check_reminders(m, loc, problems)


def _check_unique_keys(parsed: _Parsed, problems: _Problems) -> None:
    first_index: dict[str, int] = {}
    for index, key in parsed.milestone_keys:
        if key in first_index:
            problems.add(
                ("milestones", index, "key"),
                f"duplicate milestone key {key!r} (also milestones[{first_index[key]}])",
            )
        else:
            first_index[key] = index


def _check_after(parsed: _Parsed, problems: _Problems) -> None:
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


def _check_cycles(parsed: _Parsed, problems: _Problems) -> None:
    graph: dict[str, Sequence[str]] = {}
    index_of: dict[str, int] = {}
    for index, m in parsed.milestones:
        graph.setdefault(m.key, m.after)
        index_of.setdefault(m.key, index)
    for cycle in find_cycles(graph):
        problems.add(
            ("milestones", index_of[cycle[0]], "after"), f"dependency cycle: {' -> '.join(cycle)}"
        )


def _check_semantics(parsed: _Parsed, problems: _Problems) -> None:
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


def _build(
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
        source_path=source,
        source_text=text,
    )


# ---------------------------------------------------------------------------------------------
# One file, all stages
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    """What the cross-file rules need to know about one workflow."""

    source: str
    key: str
    weeks: int | None = None
    requires: tuple[str, ...] = ()
    extends: ExtensionDef | None = None


@dataclass
class _Analysis:
    source: str
    problems: list[DefinitionProblem]
    definition: WorkflowDefinition | None = None
    header: _Header | None = None


def _header_of(source: str, parsed: _Parsed) -> _Header | None:
    workflow = parsed.workflow
    if workflow is None:
        return _Header(source, parsed.workflow_key) if parsed.workflow_key else None
    extends = workflow.extends
    return _Header(
        source=source,
        key=workflow.key,
        weeks=workflow.weeks,
        requires=tuple(workflow.requires),
        extends=ExtensionDef(extends.workflow, extends.at_week) if extends else None,
    )


def _analyse(text: str, source: str) -> _Analysis:
    problems = _Problems(source)
    document = _parse_toml(text, problems)
    if document is None:
        return _Analysis(source, problems.items)
    parsed = _check_schema(document, problems)
    _check_semantics(parsed, problems)
    header = _header_of(source, parsed)
    if problems.items or parsed.workflow is None:
        return _Analysis(source, sorted(problems.items, key=_path_rank), header=header)
    definition = _build(parsed.workflow, [m for _, m in parsed.milestones], text, source)
    return _Analysis(source, [], definition=definition, header=header)


_MILESTONE_PATH = re.compile(r"^milestones\[(\d+)\]")


def _path_rank(problem: DefinitionProblem) -> tuple[int, int]:
    """Order a file's problems top-down: the file, [workflow], then milestone by milestone."""
    if problem.path.startswith("workflow"):
        return (1, 0)
    match = _MILESTONE_PATH.match(problem.path)
    if match:
        return (2, int(match[1]))
    return (2, -1) if problem.path.startswith("milestones") else (0, 0)


def _read(path: Path) -> _Analysis:
    source = str(path)
    problems = _Problems(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.add("", "no such file or directory")
        return _Analysis(source, problems.items)
    except OSError as exc:
        problems.add("", f"cannot read the file: {exc.strerror or exc}")
        return _Analysis(source, problems.items)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.add(f"line {line}", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})")
        return _Analysis(source, problems.items)
    return _analyse(text, source)


# ---------------------------------------------------------------------------------------------
# Cross-file rules
# ---------------------------------------------------------------------------------------------


def _cross_file(headers: Sequence[_Header]) -> list[DefinitionProblem]:
    """Duplicate keys, unknown ``requires``/``extends`` targets, ``at_week`` and cycles."""
    out: list[DefinitionProblem] = []
    by_key: dict[str, _Header] = {}
    for header in headers:
        if header.key in by_key:
            first = by_key[header.key].source
            out.append(
                DefinitionProblem(
                    header.source,
                    "workflow.key",
                    f"duplicate workflow key {header.key!r} (also in {first})",
                )
            )
        else:
            by_key[header.key] = header
    for header in headers:
        out.extend(_check_references(header, by_key))
    out.extend(_reference_cycles(by_key))
    return out


def _check_references(header: _Header, by_key: dict[str, _Header]) -> list[DefinitionProblem]:
    known = ", ".join(sorted(by_key)) or "none"
    out = [
        DefinitionProblem(
            header.source, f"workflow.requires[{i}]", f"unknown workflow {key!r} (known: {known})"
        )
        for i, key in enumerate(header.requires)
        if key not in by_key
    ]
    extends = header.extends
    if extends is None:
        return out
    base = by_key.get(extends.workflow)
    if base is None:
        msg = f"unknown workflow {extends.workflow!r} (known: {known})"
        out.append(DefinitionProblem(header.source, "workflow.extends.workflow", msg))
    elif base.weeks is not None and extends.at_week > base.weeks:
        msg = f"week {extends.at_week} is after {base.key!r}'s last week ({base.weeks})"
        out.append(DefinitionProblem(header.source, "workflow.extends.at_week", msg))
    return out


def _reference_cycles(by_key: dict[str, _Header]) -> list[DefinitionProblem]:
    """A ``requires`` or ``extends`` cycle makes every workflow in it impossible to start."""
    out: list[DefinitionProblem] = []
    graphs: dict[str, dict[str, Sequence[str]]] = {
        "requires": {h.key: h.requires for h in by_key.values()},
        "extends": {h.key: (h.extends.workflow,) if h.extends else () for h in by_key.values()},
    }
    for relation, graph in graphs.items():
        for cycle in find_cycles(graph):
            path = "workflow.requires" if relation == "requires" else "workflow.extends.workflow"
            msg = f"{relation} cycle: {' -> '.join(cycle)}"
            out.append(DefinitionProblem(by_key[cycle[0]].source, path, msg))
    return out


def _run(analyses: Sequence[_Analysis]) -> tuple[list[DefinitionProblem], list[WorkflowDefinition]]:
    problems = [p for a in analyses for p in a.problems]
    problems += _cross_file([a.header for a in analyses if a.header is not None])
    order = {a.source: i for i, a in enumerate(analyses)}
    problems.sort(key=lambda p: order.get(p.file, len(order)))  # stable: by file, then as found
    definitions = [a.definition for a in analyses if a.definition is not None]
    return problems, definitions


# ---------------------------------------------------------------------------------------------
# The registry and the public functions
# ---------------------------------------------------------------------------------------------


class WorkflowRegistry:
    """A read-only set of workflow definitions, by key.

    Iterating yields the definitions in key order; ``in`` and ``get`` take a key. The
    constructor applies the cross-file rules and raises ``DefinitionError`` if they fail.
    """

    __slots__ = ("_definitions",)

    def __init__(self, definitions: Iterable[WorkflowDefinition] = ()) -> None:
        items = list(definitions)
        problems = _cross_file([_header_of_definition(d) for d in items])
        if problems:
            raise DefinitionError(problems)
        ordered = sorted(items, key=lambda d: d.key)
        self._definitions = MappingProxyType({d.key: d for d in ordered})

    def get(self, key: str) -> WorkflowDefinition:
        try:
            return self._definitions[key]
        except KeyError:
            raise NotFoundError("workflow", key) from None

    def keys(self) -> list[str]:
        return list(self._definitions)

    def extensions_of(self, base_key: str) -> list[WorkflowDefinition]:
        """The workflows that can extend ``base_key``, in key order."""
        return [d for d in self if d.extends is not None and d.extends.workflow == base_key]

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        return iter(self._definitions.values())

    def __contains__(self, key: object) -> bool:
        return key in self._definitions

    def __len__(self) -> int:
        return len(self._definitions)

    def __repr__(self) -> str:
        return f"WorkflowRegistry({', '.join(self._definitions)})"


def _header_of_definition(definition: WorkflowDefinition) -> _Header:
    return _Header(
        source=definition.source_path or definition.key,
        key=definition.key,
        weeks=definition.weeks,
        requires=definition.requires,
        extends=definition.extends,
    )


def parse_definition(text: str, source: str) -> WorkflowDefinition:
    """Parse and validate one definition. ``source`` names it in problems (a path, or e.g.
    ``snapshot:socialt-beredskab``). Cross-file rules are not applied.

    Raises ``DefinitionError`` with every problem found.
    """
    analysis = _analyse(text, source)
    if analysis.definition is None:
        raise DefinitionError(analysis.problems)
    return analysis.definition


def load_file(path: Path) -> WorkflowDefinition:
    """Read and parse one file (UTF-8). Raises ``DefinitionError``, also if it cannot be read."""
    analysis = _read(Path(path))
    if analysis.definition is None:
        raise DefinitionError(analysis.problems)
    logger.debug("loaded workflow %s from %s", analysis.definition.version, path)
    return analysis.definition


def _expand(paths: Sequence[Path]) -> tuple[list[Path], list[DefinitionProblem]]:
    """Files to check: each file as given, and each directory's ``*.toml`` (sorted)."""
    files: list[Path] = []
    problems: list[DefinitionProblem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                problems.append(
                    DefinitionProblem(
                        str(path), "", "no workflow definitions (*.toml) in this directory"
                    )
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(DefinitionProblem(str(path), "", "no such file or directory"))
    unique: dict[Path, Path] = {}  # resolved → as given, so each file is read once
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), problems


def check_paths(paths: Sequence[Path]) -> list[DefinitionProblem]:
    """Check files and directories together; return every problem (never raises for them)."""
    files, problems = _expand(paths)
    found, _ = _run([_read(f) for f in files])
    return problems + found


def load_registry(directory: Path) -> WorkflowRegistry:
    """Load every ``*.toml`` in ``directory``. Raises ``DefinitionError`` with every problem
    across every file, cross-file rules included."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DefinitionError([DefinitionProblem(str(directory), "", "not a directory")])
    files, problems = _expand([directory])
    found, definitions = _run([_read(f) for f in files])
    if problems or found:
        raise DefinitionError(problems + found)
    logger.info("loaded %d workflow(s) from %s", len(definitions), directory)
    return WorkflowRegistry(definitions)
