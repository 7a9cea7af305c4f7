"""The base of every configuration section: unknown keys are refused, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """One table of config.toml. Subclasses list the keys; anything else is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
