"""The base of every configuration section: unknown keys are refused, values are frozen, and
every number has a range (``Between``), declared next to its key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import core_schema

from engine.domain.i18n import _


class Section(BaseModel):
    """One table of config.toml. Subclasses list the keys; anything else is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Between:
    """The sane range of a number in the config, both ends included:
    ``batch_size: Annotated[int, Between(1, 10_000)] = 100``. Anything else (``inf``, ``nan``,
    ``1e308``, ``10**30``, ``1e-9`` for an interval) is refused when the file is loaded."""

    low: float
    high: float

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def check(self, value: Any) -> Any:
        if not self.low <= value <= self.high:  # nan compares false both ways
            raise ValueError(self.message())
        return value

    def message(self) -> str:
        return _("must be between {low} and {high}").format(
            low=number(self.low), high=number(self.high)
        )


def number(value: float) -> str:
    """``10000`` and ``0.1``, not ``10000.0`` or ``1e+04``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_clock(value: Any, example: str = "08:00") -> time:
    """A config time of day, ``HH:MM``; a ``ValueError`` naming the value and an example."""
    hour, _sep, minute = str(value).strip().partition(":")
    try:
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise ValueError(f"invalid time {value!r}: expected HH:MM, e.g. {example}") from exc
