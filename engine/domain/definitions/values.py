"""Stage 0: the value types of the schema (keys, roles, times, offsets, amounts), each with
its own single-line error message, and the bounds that keep later date arithmetic in range."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from engine.domain.model import MilestoneKind, Placement, Role
from engine.domain.workflow import (
    Amount,
    Offset,
)

Loc = tuple[str | int, ...]

MAX_PROGRAMME_WEEKS = 260  # five years; keeps every later date computation in range
MAX_ANSWER_DAYS = 365
MAX_REMINDER_DAYS = 366  # a reminder at most about a year before
MAX_KEY_LENGTH = 64
MAX_AMOUNT_DAYS = 365
# Budget bounds mix days and hours; they are compared at the default length of a working day.
COMPARE_HOURS_PER_WORKDAY = 7.4

WORKFLOW_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MILESTONE_KEY = re.compile(r"^[a-z0-9][a-z0-9_]*$")
KIND_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ATTENDEE_ROLES = ("REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT", "CHAIR")
_VERSION = re.compile(r"^[0-9A-Za-z]+(?:[.-][0-9A-Za-z]+)*$")
_TIME = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)$")
TOML_WHERE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)
LONG_NUMBER = re.compile(r"[0-9_]{4300,}")
PERSON_ROLES = tuple(r for r in Role if r is not Role.PARTICIPANTS)  # roles fbh has addresses for
MEETING_ONLY = ("attendees", "time", "duration", "location", "placement")
TASK_ONLY = ("owner",)


# ---------------------------------------------------------------------------------------------
# Value types for the schema, with our own single-line error messages
# ---------------------------------------------------------------------------------------------

VALUE_ERROR = "fbh_value"
TYPE_ERROR = "fbh_type"


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError(VALUE_ERROR, "{message}", {"message": message})


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


def describe(value: object) -> str:
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
        TYPE_ERROR, "{message}", {"message": f"expected {expected}, got {describe(value)}"}
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
        _key_parser(WORKFLOW_KEY, "workflow key", "use a-z, 0-9 and '-', e.g. 'socialt-beredskab'")
    ),
]
MilestoneKey = Annotated[
    str,
    _field(_key_parser(MILESTONE_KEY, "milestone key", "use a-z, 0-9 and '_', e.g. 'workshop'")),
]
KindKey = Annotated[
    str,
    _field(_key_parser(KIND_KEY, "participant kind", "use a-z, 0-9 and '-', e.g. 'municipality'")),
]


def _parse_attendee_role(value: object) -> str:
    text = _need_str(value)
    if text not in ATTENDEE_ROLES:
        allowed = ", ".join(ATTENDEE_ROLES)
        raise _invalid(f"unknown attendee role {text!r} (allowed: {allowed})")
    return text


AttendeeRole = Annotated[str, _field(_parse_attendee_role)]
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
