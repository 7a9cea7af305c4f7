"""Finding a milestone of a programme by what the user typed: its key, ``workflow.key``, or its
title, case-insensitively, as long as exactly one milestone matches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from engine.domain.errors import InvalidInputError, NotFoundError
from engine.domain.i18n import _


class Named(Protocol):
    @property
    def workflow(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def title(self) -> str: ...


M = TypeVar("M", bound=Named)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def find_milestone(milestones: Sequence[M], text: str, programme_id: int) -> M:
    """The one milestone ``text`` names: by key first, then by title."""
    wanted = _fold(text)
    workflow, _dot, name = wanted.rpartition(".")
    by_key = [
        m
        for m in milestones
        if m.key.casefold() == name and workflow in ("", m.workflow.casefold())
    ]
    candidates = by_key or [m for m in milestones if _fold(m.title) == wanted]
    if not candidates:
        keys = ", ".join(dict.fromkeys(m.key for m in milestones))
        error = NotFoundError("milestone", f"{programme_id}/{text}")
        error.args = (
            _("milestone {name!r} not found in programme {id}; the milestones are: {keys}").format(
                name=text, id=programme_id, keys=keys
            ),
        )
        raise error
    if len(candidates) > 1:
        names = _(" or ").join(f"{m.workflow}.{m.key}" for m in candidates)
        raise InvalidInputError(
            _("milestone {name!r} is ambiguous in programme {id}: use {names}").format(
                name=text, id=programme_id, names=names
            )
        )
    return candidates[0]
