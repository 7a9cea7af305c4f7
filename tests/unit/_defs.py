"""Workflow definitions built in Python for unit tests (mirrors the shipped workflows/*.toml).

Used until ``workflows/*.toml`` and ``engine.domain.definitions`` can be relied on; also gives small
builders for ad-hoc definitions in tests.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from engine.domain.model import MilestoneKind, Role
from engine.domain.workflow import (
    ExtensionDef,
    MilestoneDef,
    Offset,
    ReminderDef,
    WorkflowDefinition,
)

MEETING = MilestoneKind.MEETING
TASK = MilestoneKind.TASK
BOTH = (Role.CONSULTANT, Role.TOVHOLDER)


def meeting(key: str, weeks: tuple[int, int], at: time, hours: float, **extra: Any) -> MilestoneDef:
    return MilestoneDef(
        key=key,
        title=key.capitalize(),
        kind=MEETING,
        first_week=weeks[0],
        last_week=weeks[1],
        attendees=BOTH,
        local_time=at,
        duration=timedelta(hours=hours),
        **extra,
    )


def task(key: str, weeks: tuple[int, int], **extra: Any) -> MilestoneDef:
    return MilestoneDef(
        key=key,
        title=key.capitalize(),
        kind=TASK,
        first_week=weeks[0],
        last_week=weeks[1],
        owner=Role.TOVHOLDER,
        **extra,
    )


def workflow(
    key: str, weeks: int, milestones: tuple[MilestoneDef, ...], **extra: Any
) -> WorkflowDefinition:
    return WorkflowDefinition(
        key=key,
        declared_version="1",
        content_hash="0" * 64,
        title=key,
        weeks=weeks,
        milestones=milestones,
        **extra,
    )


def socialt_beredskab() -> WorkflowDefinition:
    remind = (ReminderDef(Offset(weeks=1), BOTH), ReminderDef(Offset(workdays=2), BOTH))
    return workflow(
        "socialt-beredskab",
        12,
        (
            meeting("afsaet", (0, 0), time(10, 0), 1),
            meeting("opstart", (1, 1), time(10, 0), 2, after=("afsaet",)),
            task("kortlaegning", (1, 3), reminders=(ReminderDef(Offset(workdays=2), BOTH),)),
            task("invitationer", (4, 4), after=("kortlaegning",)),
            meeting("workshop", (9, 11), time(9, 0), 6, reminders=remind),
            meeting("opfoelgning", (12, 12), time(10, 0), 1.5, after=("workshop",)),
        ),
        request_answer_days=14,
    )


def tilpasset() -> WorkflowDefinition:
    return workflow(
        "tilpasset",
        12,
        (
            meeting("afsaet", (0, 0), time(10, 0), 1),
            task("aftaler", (1, 1)),
            task("undervisning", (2, 2)),
            task("materialer", (3, 3)),
            task("program", (4, 4)),
            meeting("afvikling", (6, 12), time(9, 0), 6, after=("afsaet",)),
        ),
        requires=("socialt-beredskab",),
        extends=ExtensionDef("socialt-beredskab", 6),
    )
