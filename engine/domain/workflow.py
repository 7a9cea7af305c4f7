"""The built, validated and immutable form of a workflow definition.

``engine.domain.definitions`` turns TOML into these objects; everything downstream (planning, the
store's snapshots, notifications) reads only these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta

from engine.domain.model import MilestoneKind, Placement, Role

_OFFSET = re.compile(
    r"^\s*(?:(?P<w>\d+)\s*w)?\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*$"
)
_AMOUNT = re.compile(r"^\s*(?:(?P<d>\d+(?:\.\d+)?)\s*d)?\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*$")


@dataclass(frozen=True)
class Offset:
    """A distance in time: whole weeks, working days, and hours and minutes.

    Written as ``"1w"``, ``"2d"`` (working days), ``"2h"``, ``"1h30m"`` or combinations in
    that order (``"1w2d"``). Used for reminders ("2 working days before").
    """

    weeks: int = 0
    workdays: int = 0
    minutes: int = 0

    @classmethod
    def parse(cls, text: str) -> Offset:
        match = _OFFSET.match(text) if isinstance(text, str) else None
        if not match or not any(match.groupdict().values()):
            raise ValueError(
                f"invalid offset {text!r}: use weeks, working days, hours and minutes, "
                "e.g. '1w', '2d', '2h' or '1h30m'"
            )
        w, d, h, m = (int(match[g] or 0) for g in "wdhm")
        return cls(weeks=w, workdays=d, minutes=h * 60 + m)

    def __str__(self) -> str:
        hours, minutes = divmod(self.minutes, 60)
        parts = [(self.weeks, "w"), (self.workdays, "d"), (hours, "h"), (minutes, "m")]
        return "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"

    @property
    def is_zero(self) -> bool:
        return not (self.weeks or self.workdays or self.minutes)


@dataclass(frozen=True)
class Amount:
    """An amount of work: working days and/or hours, e.g. ``"2d"``, ``"5h"``, ``"2.5d"``.

    Days become hours at ``hours_per_workday`` (config, default 7.4).
    """

    workdays: float = 0.0
    hours: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Amount:
        match = _AMOUNT.match(text) if isinstance(text, str) else None
        if not match or not any(match.groupdict().values()):
            raise ValueError(
                f"invalid amount {text!r}: use working days or hours, e.g. '2d' or '5h'"
            )
        return cls(workdays=float(match["d"] or 0), hours=float(match["h"] or 0))

    def to_hours(self, hours_per_workday: float) -> float:
        return round(self.workdays * hours_per_workday + self.hours, 4)

    def __str__(self) -> str:
        parts = [
            f"{self.workdays:g}d" if self.workdays else "",
            f"{self.hours:g}h" if self.hours else "",
        ]
        return "".join(parts) or "0h"


@dataclass(frozen=True)
class ReminderDef:
    """A reminder ``before`` a meeting starts, or before a task window closes."""

    before: Offset
    to: tuple[Role, ...]


@dataclass(frozen=True)
class MilestoneDef:
    """One step of a workflow's timeline."""

    key: str
    title: str
    kind: MilestoneKind
    first_week: int
    last_week: int
    description: str = ""
    owner: Role | None = None  # who must do a task (tasks only)
    attendees: tuple[Role, ...] = ()  # who is invited (meetings only)
    local_time: time | None = None  # Europe/Copenhagen wall-clock start (meetings only)
    duration: timedelta | None = None  # meetings only
    location: str = ""
    placement: Placement = Placement.EARLIEST
    after: tuple[str, ...] = ()  # keys of milestones that must come first
    reminders: tuple[ReminderDef, ...] = ()

    @property
    def weeks(self) -> tuple[int, int]:
        return (self.first_week, self.last_week)

    @property
    def is_meeting(self) -> bool:
        return self.kind is MilestoneKind.MEETING


@dataclass(frozen=True)
class BudgetDef:
    """The time a role sets aside for the workflow, as a range."""

    role: Role
    minimum: Amount
    maximum: Amount


@dataclass(frozen=True)
class ExtensionDef:
    """This workflow can extend ``workflow``; its week 0 is that programme's week ``at_week``."""

    workflow: str
    at_week: int


@dataclass(frozen=True)
class ParticipantKind:
    """A kind of participant (``municipality``) and its Danish label (``Kommune``)."""

    key: str
    label: str


@dataclass(frozen=True)
class ParticipantsDef:
    """Who may take part in the workflow's meetings with ``participants`` among their
    attendees: the kinds, the iCalendar ROLE of their ATTENDEE line, and when the
    non-answerers are reminded and the tovholder gets the headcount (before the meeting)."""

    kinds: tuple[ParticipantKind, ...]
    attendee_role: str = "REQ-PARTICIPANT"
    reminder: Offset | None = None
    headcount: Offset | None = None

    def kind(self, text: str) -> ParticipantKind | None:
        """The kind ``text`` names, by key or by label, case-insensitively."""
        wanted = " ".join(text.split()).casefold()
        for kind in self.kinds:
            if wanted in (kind.key.casefold(), kind.label.casefold()):
                return kind
        return None


@dataclass(frozen=True)
class WorkflowDefinition:
    """A validated workflow. ``version`` is the declared version plus the content hash."""

    key: str
    declared_version: str
    content_hash: str  # sha256 of the TOML source, hex
    title: str
    weeks: int  # the programme's last week; it ends on that week's Friday
    milestones: tuple[MilestoneDef, ...]
    description: str = ""
    budget: BudgetDef | None = None
    request_answer_days: int | None = None  # the SLA for answering a request, in calendar days
    requires: tuple[str, ...] = ()  # workflows the organisation must have (active or completed)
    extends: ExtensionDef | None = None
    participants: ParticipantsDef | None = None
    source_path: str = ""
    source_text: str = field(default="", repr=False, compare=False)  # kept as the snapshot

    @property
    def version(self) -> str:
        return f"{self.declared_version}+{self.content_hash[:12]}"

    @property
    def participant_meetings(self) -> tuple[MilestoneDef, ...]:
        """The meetings participants are invited to."""
        return tuple(
            m for m in self.milestones if m.is_meeting and Role.PARTICIPANTS in m.attendees
        )

    def milestone(self, key: str) -> MilestoneDef:
        for milestone in self.milestones:
            if milestone.key == key:
                return milestone
        raise KeyError(key)
