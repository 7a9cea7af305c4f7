"""Configuration of the BASIS course calendar (``[course]``). Part of ``Settings``.

Every key is optional; see docs/courses.md.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated

from pydantic import Field, field_validator

from engine.config.base import Between, Section, parse_clock
from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact


class CourseSection(Section):
    """``lead``: who decides whether a course under its minimum is held (default: the
    ``[mail] lead``). The other keys are working days before a date."""

    lead: str | None = None  # "Name <email>"
    reminder_workdays: list[int] = Field(default_factory=lambda: [5, 1])
    roster_workdays: Annotated[int, Between(0, 60)] = 2
    decision_workdays: Annotated[int, Between(0, 60)] = 3
    send_time: str = "09:00"  # local time of day the reminders, roster and question go out

    @field_validator("lead")
    @classmethod
    def _valid_contact(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Contact.parse(value)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("reminder_workdays")
    @classmethod
    def _reminders(cls, value: list[int]) -> list[int]:
        if any(not 0 <= days <= 60 for days in value):
            raise ValueError("each reminder is 0–60 working days before the course")
        return sorted(set(value), reverse=True)

    @field_validator("send_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        return parse_clock(value, "09:00").strftime("%H:%M")

    @property
    def at(self) -> time:
        """``send_time`` as a time of day."""
        return time.fromisoformat(self.send_time)
