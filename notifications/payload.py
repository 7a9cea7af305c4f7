"""A stored payload made ready for the templates again (:func:`revive`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from notifications.render import Context

__all__ = ["revive"]

_DATETIME_KEYS = frozenset({"start", "end"})
_DATE_KEYS = frozenset(
    {"window_start", "window_end", "received", "deadline", "wished_start", "start_date", "end_date"}
)


def revive(value: Any, key: str | None = None) -> Any:
    """Turn the ISO strings of a stored payload back into dates and datetimes; dicts become
    :class:`~notifications.render.Context` (a dict whose keys templates read as attributes
    without a failed attribute lookup first). A digest's context has thousands of values, so
    only dicts and lists are walked into."""
    if isinstance(value, dict):
        return _revive_dict(value)
    if isinstance(value, list):
        return _revive_list(value)
    if isinstance(value, str) and key in _DATETIME_KEYS:
        return datetime.fromisoformat(value)
    if isinstance(value, str) and key in _DATE_KEYS:
        return date.fromisoformat(value)
    return value


def _revive_dict(value: dict[str, Any]) -> Context:
    revived = Context()
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if key in _DATETIME_KEYS:
                item = datetime.fromisoformat(item)
            elif key in _DATE_KEYS:
                item = date.fromisoformat(item)
        elif kind is dict or kind is list:
            item = revive(item, key)
        revived[key] = item
    return revived


def _revive_list(value: list[Any]) -> list[Any]:
    return [revive(item) if type(item) in (dict, list) else item for item in value]
