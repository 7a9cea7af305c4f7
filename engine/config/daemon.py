"""Configuration of the daemon (``[daemon]``, ``[daemon.catch_up]``) and of the request SLA
(``[requests]``). Part of ``Settings``; see docs/operations.md for every key.
"""

from __future__ import annotations

from datetime import time, timedelta
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import ConfigDict, field_validator, model_validator

from engine.config.base import Between, Section, number, parse_clock
from engine.domain.catchup import DEFAULT_MODES, CatchUpMode, CatchUpPolicy
from engine.domain.model import MAIL_KINDS

# Every kind of outbox message the catch-up policy may name, plus the weekly digest job.
CATCH_UP_KINDS = frozenset({*MAIL_KINDS, "digest"})
GRACE_MINUTES = Between(0, 525_600)  # up to a year


class CatchUpSection(Section):
    """What happens to a message that fell due while no daemon was running.

    ``<kind> = "send" | "miss"`` per kind of message, ``<kind>_grace_minutes = N`` per kind,
    and ``default`` / ``grace_minutes`` for the kinds not named. ``miss`` means: a message more
    than its grace late is not sent but recorded as ``missed`` (outbox state and event log).
    Whatever the mode, a message whose moment has passed (an invite for a meeting that has
    ended, a reminder of a meeting that has begun) is recorded as missed.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    default: CatchUpMode = "send"
    grace_minutes: Annotated[float, GRACE_MINUTES] = 60.0

    @model_validator(mode="after")
    def _known_keys(self) -> CatchUpSection:
        for key, value in (self.model_extra or {}).items():
            kind, suffix = _split_grace(key)
            if kind not in CATCH_UP_KINDS:
                known = ", ".join(sorted(CATCH_UP_KINDS))
                raise ValueError(f"unknown kind {kind!r} in daemon.catch_up (known: {known})")
            if suffix and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise ValueError(f"{key} must be a number of minutes")
            if suffix:
                try:
                    GRACE_MINUTES.check(value)
                except ValueError:
                    low, high = number(GRACE_MINUTES.low), number(GRACE_MINUTES.high)
                    raise ValueError(
                        f"{key} must be a number of minutes between {low} and {high}"
                    ) from None
            if not suffix and value not in ("send", "miss"):
                raise ValueError(f'{key} must be "send" or "miss", not {value!r}')
        return self

    def mode(self, kind: str) -> CatchUpMode:
        extra = self.model_extra or {}
        mode: CatchUpMode = extra.get(kind) or DEFAULT_MODES.get(kind) or self.default
        return mode

    def grace(self, kind: str) -> timedelta:
        extra = self.model_extra or {}
        minutes = extra.get(f"{kind}_grace_minutes", self.grace_minutes)
        return timedelta(minutes=float(minutes))

    def policy(self) -> CatchUpPolicy:
        """The domain's policy object for these settings."""
        modes: dict[str, CatchUpMode] = {}
        graces: dict[str, timedelta] = {}
        for key, value in (self.model_extra or {}).items():
            kind, suffix = _split_grace(key)
            if suffix:
                graces[kind] = timedelta(minutes=float(value))
            else:
                modes[kind] = value
        return CatchUpPolicy(
            default=self.default,
            grace_default=timedelta(minutes=self.grace_minutes),
            modes=MappingProxyType(modes),
            graces=MappingProxyType(graces),
        )


def _split_grace(key: str) -> tuple[str, bool]:
    suffix = "_grace_minutes"
    return (key[: -len(suffix)], True) if key.endswith(suffix) else (key, False)


class DaemonSection(Section):
    """``fbh serve``: timers, heartbeats, leadership and delivery."""

    name: str | None = None  # default: host:pid
    heartbeat_seconds: Annotated[float, Between(0.1, 300)] = 2.0
    # unseen this long: dead
    heartbeat_timeout_seconds: Annotated[float, Between(0.2, 3600)] = 10.0
    leader_check_seconds: Annotated[float, Between(0.1, 300)] = 1.0
    poll_seconds: Annotated[float, Between(0.1, 86_400)] = 60.0  # safety poll over the database
    watch_seconds: Annotated[float, Between(0.05, 60)] = 1.0  # SQLite: change counter poll
    batch_size: Annotated[int, Between(1, 10_000)] = 20  # bounds duplicates after a crash
    # Rows one claim takes (at least batch_size), sent batch_size at a time; a crash re-sends
    # at most the batch in flight, rows claimed and not sent are given back.
    claim_ahead: Annotated[int, Between(1, 10_000)] = 200
    # grace for in-flight sends on SIGTERM
    shutdown_seconds: Annotated[float, Between(0, 3600)] = 6.0
    deliver: Literal["all", "leader"] = "all"  # which daemons deliver the outbox
    # Render pending mail due within this many seconds ahead of time (0: render at send).
    render_ahead_seconds: Annotated[float, Between(0, 604_800)] = 3600.0
    sla_cron: str = "*/15 * * * *"  # the request SLA check, in [engine] timezone
    budget_cron: str = "30 6 * * *"  # programmes that ended under their time budget
    catch_up: CatchUpSection = CatchUpSection()

    @field_validator("sla_cron", "budget_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"invalid crontab {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _timeout_after_beats(self) -> DaemonSection:
        if self.heartbeat_timeout_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("heartbeat_timeout_seconds must be at least 2 × heartbeat_seconds")
        return self


class RequestsSection(Section):
    """The 14-day answer to a request: reminders before the deadline, escalation after."""

    reminder_days: tuple[Annotated[int, Between(1, 365)], ...] = (10, 13)  # days after receipt
    notice_time: str = "08:00"  # local time of reminders and the escalation

    @field_validator("reminder_days")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day <= 0 for day in value):
            raise ValueError("reminder days must be positive")
        return tuple(sorted(set(value)))

    @field_validator("notice_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        return parse_clock(value).strftime("%H:%M")

    @property
    def at(self) -> time:
        return parse_clock(self.notice_time)
