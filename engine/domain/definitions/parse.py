"""Stages 1-3: text → TOML document → schema-checked (frozen) tables, table by table."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from engine.domain.definitions.schema import (
    DocumentShape,
    MilestoneTable,
    Problems,
    WorkflowTable,
    validate_table,
)
from engine.domain.definitions.values import LONG_NUMBER, MILESTONE_KEY, TOML_WHERE, WORKFLOW_KEY

# ---------------------------------------------------------------------------------------------
# Stages 1-2: text and syntax
# ---------------------------------------------------------------------------------------------


def _syntax_location(text: str, exc: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``("line 3, column 5", "Invalid value")`` from tomllib's message."""
    raw = str(exc)
    match = TOML_WHERE.match(raw)
    if not match:
        return "", raw
    if match["line"]:
        return f"line {match['line']}, column {match['col']}", match["msg"]
    lines = text.split("\n")
    return f"line {len(lines)}, column {len(lines[-1]) + 1}", match["msg"] + " at end of file"


# Definitions nest two or three levels. tomllib recurses per level, so whether a deeper value
# parses or raises RecursionError would depend on how deep the caller's stack already is (the
# CLI and a test runner would disagree); a fixed limit, checked first, gives one answer.
MAX_NESTING = 32
_NESTING_TOKEN = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]',
    re.DOTALL,
)


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays, inline tables and headers, outside strings and comments."""
    depth = deepest = 0
    for token in _NESTING_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth = max(depth - 1, 0)
    return deepest


def parse_toml(text: str, problems: Problems) -> dict[str, Any] | None:
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
    if nesting_depth(text) > MAX_NESTING:
        problems.add("", f"TOML syntax error: values are nested more than {MAX_NESTING} deep")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where, message = _syntax_location(text, exc)
        problems.add(where, f"TOML syntax error: {message}")
    except RecursionError:
        problems.add("", "TOML syntax error: values are nested too deeply")
    except ValueError:  # int() refuses a decimal number of more than 4300 digits
        digits = LONG_NUMBER.search(text)
        where = f"line {text.count(chr(10), 0, digits.start()) + 1}" if digits else ""
        problems.add(where, "TOML syntax error: a number with more than 4300 digits")
    return None


# ---------------------------------------------------------------------------------------------
# Stage 3: schema, table by table, so that one bad table does not hide problems in others
# ---------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """The tables that passed the schema, plus what could be read from the ones that did not."""

    workflow: WorkflowTable | None
    milestones: list[tuple[int, MilestoneTable]]  # (index, table) of the valid ones
    milestone_keys: list[tuple[int, str]]  # (index, key) of every milestone with a string key
    milestone_count: int
    workflow_key: str | None  # even when the rest of the [workflow] table is invalid


def _raw_key(table: object, pattern: re.Pattern[str]) -> str | None:
    key = table.get("key") if isinstance(table, dict) else None
    return key if isinstance(key, str) and pattern.match(key) else None


def check_schema(document: dict[str, Any], problems: Problems) -> Parsed:
    validate_table(DocumentShape, document, (), problems)
    raw_workflow = document.get("workflow")
    raw_milestones = document.get("milestones")
    items = raw_milestones if isinstance(raw_milestones, list) else []
    workflow = None
    if isinstance(raw_workflow, dict):
        workflow = validate_table(WorkflowTable, raw_workflow, ("workflow",), problems)
    milestones: list[tuple[int, MilestoneTable]] = []
    keys: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        key = _raw_key(item, MILESTONE_KEY)
        if key is not None:
            keys.append((index, key))
        if isinstance(item, dict):
            table = validate_table(MilestoneTable, item, ("milestones", index), problems)
            if table is not None:
                milestones.append((index, table))
    return Parsed(workflow, milestones, keys, len(items), _raw_key(raw_workflow, WORKFLOW_KEY))
