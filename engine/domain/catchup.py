"""Catch-up after downtime: which late messages are still sent, and which are recorded missed.

A pure decision (:func:`decide`) over one late outbox row, the configured policy
(``[daemon.catch_up]``) and ``now``. The daemon runs it before every delivery pass over the
rows that are due (normally a second or so late; after downtime, hours), and marks the
``miss`` ones with :meth:`engine.store.outbox.Outbox.mark_missed`, which also writes a ``missed``
event.

The policy, per kind of message:

* ``send``: a late message is still sent, as long as it means something (an invite for a
  meeting that has not ended yet, a task notice while the task's window is open).
* ``miss``: a message more than its grace late is not sent but recorded as missed (the
  default for ``reminder``: "in 2 hours" is wrong 5 hours later).

Whatever the mode, a message whose moment has passed is recorded as missed: an invite for a
meeting that has ended, a reminder of a meeting that has begun or of a task whose window has
closed, a request reminder after the request's deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

CatchUpMode = Literal["send", "miss"]
DEFAULT_MODES: Mapping[str, CatchUpMode] = MappingProxyType({"reminder": "miss"})


@dataclass(frozen=True)
class CatchUpPolicy:
    """The catch-up policy: a mode and a grace per kind of message, and the defaults for the
    kinds not named. Configuration (``[daemon.catch_up]``) builds it."""

    default: CatchUpMode = "send"
    grace_default: timedelta = timedelta(minutes=60)
    modes: Mapping[str, CatchUpMode] = field(default_factory=lambda: MappingProxyType({}))
    graces: Mapping[str, timedelta] = field(default_factory=lambda: MappingProxyType({}))

    def mode(self, kind: str) -> CatchUpMode:
        return self.modes.get(kind) or DEFAULT_MODES.get(kind) or self.default

    def grace(self, kind: str) -> timedelta:
        return self.graces.get(kind, self.grace_default)


class Verdict(StrEnum):
    SEND = "send"
    MISS = "miss"


@dataclass(frozen=True)
class LateMessage:
    """What the decision needs to know about one late outbox row."""

    kind: str
    due_at: datetime
    expires_at: datetime | None  # after this the message is pointless


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(message: LateMessage, now: datetime, policy: CatchUpPolicy) -> Decision:
    """Send the late ``message`` now, or record it as missed."""
    late = now - message.due_at
    if message.expires_at is not None and now >= message.expires_at:
        return Decision(Verdict.MISS, f"its moment passed at {message.expires_at.isoformat()}")
    grace = policy.grace(message.kind)
    if policy.mode(message.kind) == "miss" and late > grace:
        return Decision(Verdict.MISS, f"{_span(late)} late (grace {_span(grace)})")
    return Decision(Verdict.SEND, f"{_span(late)} late, still relevant")


# The parts of a payload :func:`expiry` reads (the daemon has the database extract only these).
EXPIRY_PATHS: tuple[tuple[str, ...], ...] = (
    ("context", "meeting", "end"),
    ("context", "meeting", "start"),
    ("context", "milestone", "kind"),
    ("context", "milestone", "start"),
    ("context", "milestone", "window_end"),
    ("context", "request", "deadline"),
)


def expiry(kind: str, payload: Mapping[str, Any], tz: ZoneInfo) -> datetime | None:
    """When a message of ``kind`` with ``payload`` stops making sense (None: never)."""
    context = payload.get("context") or {}
    if kind == "invite":
        return _datetime(context.get("meeting", {}).get("end"))
    if kind in ("participant_reminder", "headcount"):
        return _datetime((context.get("meeting") or {}).get("start"))
    if kind in ("reminder", "task_due"):
        milestone = context.get("milestone") or {}
        if milestone.get("kind") == "meeting":
            return _datetime(milestone.get("start"))
        return _day_after(milestone.get("window_end"), tz)
    if kind == "request_reminder":
        return _day_after((context.get("request") or {}).get("deadline"), tz)
    return None


def _datetime(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _day_after(value: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.combine(date.fromisoformat(value) + timedelta(days=1), time(0), tzinfo=tz)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds} s" if abs(seconds) < 120 else f"{seconds // 60} min"
