"""Read models: immutable snapshots of programmes for output, and their contract JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.checkins import CheckinView
from engine.domain.model import Contact
from engine.domain.planning import PlannedMilestone, milestone_to_json


@dataclass(frozen=True)
class AttendeeView:
    """An invited person and their standing answer to the meeting."""

    name: str
    email: str
    role: str
    partstat: str  # needs-action | accepted | declined | tentative

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "partstat": self.partstat,
        }


@dataclass(frozen=True)
class MilestoneView:
    id: int
    planned: PlannedMilestone
    state: str
    sequence: int
    attendees: tuple[AttendeeView, ...] = ()

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        data = milestone_to_json(self.planned, tz) | {"state": self.state}
        if self.planned.kind.value == "meeting":
            data["attendees"] = [a.to_json() for a in self.attendees]
        return data


@dataclass(frozen=True)
class ProgrammeView:
    id: int
    workflow: str
    workflow_title: str
    version: str
    extensions: tuple[str, ...]
    organisation: str
    municipality: str
    consultant: Contact
    tovholder: Contact
    start: date
    end: date
    state: str
    milestones: tuple[MilestoneView, ...]
    checkins: tuple[CheckinView, ...] = ()  # maintenance check-ins after the end (tasks)

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "extensions": list(self.extensions),
            "organisation": self.organisation,
            "municipality": self.municipality,
            "consultant": str(self.consultant),
            "tovholder": str(self.tovholder),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "state": self.state,
            "milestones": [m.to_json(tz) for m in self.milestones],
            "checkins": [c.to_json(tz) for c in self.checkins],
        }


@dataclass(frozen=True)
class DateChange:
    """One milestone whose dates a move changes."""

    workflow: str
    key: str
    title: str
    field: str  # window_start | window_end | start
    before: str
    after: str

    def to_json(self) -> dict[str, str]:
        return {
            "workflow": self.workflow,
            "key": self.key,
            "title": self.title,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class RequestView:
    id: int
    workflow: str
    organisation: str
    contact: Contact
    wished_start: date
    received: date
    deadline: date
    state: str
    days_left: int  # calendar days from today to the deadline; negative when breached
    programme_id: int | None

    @property
    def open(self) -> bool:
        return self.state == "received"

    @property
    def breached(self) -> bool:
        return self.open and self.days_left < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "organisation": self.organisation,
            "contact": str(self.contact),
            "wished_start": self.wished_start.isoformat(),
            "received": self.received.isoformat(),
            "deadline": self.deadline.isoformat(),
            "days_left": self.days_left,
            "breached": self.breached,
            "state": self.state,
            "programme_id": self.programme_id,
        }
